"""BEGAN (Berthelot et al. 2017, "BEGAN: Boundary Equilibrium GANs") as a ``GANUpdater`` subclass."""
import ganlib.compat  # noqa: F401

import chainer.functions as F
import numpy
from chainer import backend, reporter

from ganlib.updaters import GANUpdater


def began_k_update(k, loss_real, loss_fake, gamma, lambda_k):
    """Eq. 4: k_{t+1} = k_t + λ_k (γ L(x) − L(G(z_G))), kept in [0, 1] (as the paper's code does).
    Floats or 0-d arrays on any device (the updater keeps k on the device: no host sync per step)."""
    xp = backend.get_array_module(k, loss_real, loss_fake)
    return xp.clip(k + lambda_k * (gamma * loss_real - loss_fake), 0.0, 1.0)


def convergence_measure(loss_real, loss_fake, gamma):
    """§3.4.1: M_global = L(x) + |γ L(x) − L(G(z_G))|."""
    return loss_real + abs(gamma * loss_real - loss_fake)


class BEGANUpdater(GANUpdater):
    """BEGAN's objective (Eq. 4) with an autoencoder discriminator (``reconstruction_error(x)`` = L):

        L_D = L(x) − k_t L(G(z_D)),   L_G = L(G(z_G)),   k_{t+1} = clip(k_t + λ_k (γ L(x) − L(G(z_G))), 0, 1)

    One iteration is the usual alternating D step then G step; k is updated after the G step with that
    iteration's L(x) (D step) and L(G(z_G)) (G step, before G moves).  Reports ``dis/k``,
    ``dis/M`` (convergence measure), ``dis/loss_real``, ``gen/loss``.  k_t is saved in snapshots.
    """

    def __init__(self, iterator, gen_optimizer, dis_optimizer, gamma=0.5, lambda_k=1e-3, k0=0.0, **kwargs):
        if not 0.0 < gamma <= 1.0:
            raise ValueError('BEGAN gamma must be in (0, 1], got {}'.format(gamma))
        if not lambda_k > 0:
            raise ValueError('BEGAN lambda_k must be positive, got {}'.format(lambda_k))
        if kwargs.get('unroll_k', 0) >= 2:
            raise ValueError('BEGAN cannot be unrolled here (k_t lives outside the discriminator)')
        if kwargs.get('feature_matching'):
            raise ValueError('BEGAN has no feature-matching generator loss')
        if not getattr(dis_optimizer.target, 'is_autoencoder', False):
            raise ValueError('BEGAN needs an autoencoder discriminator')
        super().__init__(iterator, gen_optimizer, dis_optimizer, loss=None, **kwargs)
        self.gamma, self.lambda_k = float(gamma), float(lambda_k)
        xp = self.device.xp if self.device is not None else numpy
        self.k = xp.asarray(k0, dtype=numpy.float32)  # 0-d, on the device
        self._loss_real = self._loss_fake_g = None

    def d_loss(self, dis, x_real, x_fake):
        loss_real = F.mean(dis.reconstruction_error(x_real))
        loss_fake = F.mean(dis.reconstruction_error(x_fake))
        self._loss_real = loss_real.array
        return loss_real - self.k * loss_fake

    def g_loss(self, dis, x_fake, x_real):
        loss = F.mean(dis.reconstruction_error(x_fake))
        self._loss_fake_g = loss.array
        return loss

    def update_core(self):
        super().update_core()
        self.k = self.xp_k(began_k_update(self.k, self._loss_real, self._loss_fake_g, self.gamma, self.lambda_k))
        dis = self.get_optimizer('dis').target
        reporter.report({'k': self.k, 'loss_real': self._loss_real,
                         'M': convergence_measure(self._loss_real, self._loss_fake_g, self.gamma)}, dis)

    def xp_k(self, value):
        return backend.get_array_module(self.k).asarray(value, dtype=numpy.float32)

    def serialize(self, serializer):
        super().serialize(serializer)
        self.k[...] = serializer('began_k', self.k)
