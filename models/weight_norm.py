"""Weight-normalised fully connected link (Salimans & Kingma 2016, "Weight Normalization", Eq. 2 and §3).

y = (g / ‖v‖) ⊙ (v x) + b, one scale g per output unit and ‖v‖ the L2 norm of that unit's row of v.
Data-dependent initialisation (§3): on one batch, with t = (v x)/‖v‖, set g ← g / σ[t] and b ← −μ[t] / σ[t],
so the initial pre-activations have zero mean and unit variance over that batch.

The Improved-GAN MNIST code (``nn.DenseLayer``) keeps g fixed after that initialisation for its hidden layers
(``train_scale=False``) and trains it for the last one; ``train_scale`` does the same here: a fixed g is a
persistent (saved in snapshots, never updated), a trained g a parameter.
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import numpy
from chainer import initializers


class WeightNormLinear(chainer.Link):
    """Linear link with the weight-norm reparameterisation W = diag(g / ‖v‖) v."""

    def __init__(self, in_size, out_size, train_scale=False, init_std=0.1, rng=None):
        super().__init__()
        self.in_size, self.out_size = in_size, out_size
        self.train_scale = train_scale
        rng = rng if rng is not None else numpy.random
        v = (init_std * rng.standard_normal((out_size, in_size))).astype(numpy.float32)
        with self.init_scope():
            self.v = chainer.Parameter(v)
            self.b = chainer.Parameter(initializers.Zero(), (out_size,))
            if train_scale:
                self.g = chainer.Parameter(initializers.One(), (out_size,))
        if not train_scale:
            self.add_persistent('g', numpy.ones(out_size, dtype=numpy.float32))

    def weight(self):
        """The effective weight matrix W = diag(g / ‖v‖) v (a Variable)."""
        norm = F.sqrt(F.sum(self.v * self.v, axis=1))
        scale = self.g / norm
        return self.v * F.broadcast_to(F.expand_dims(scale, 1), self.v.shape)

    def forward(self, x):
        return F.linear(x, self.weight(), self.b)

    def data_init(self, x):
        """§3: rescale g and set b from one batch ``x`` (arrays or Variables); returns the normalised output."""
        with chainer.no_backprop_mode():
            a = F.linear(x, self.weight()).array
        xp = chainer.backend.get_array_module(a)
        mean = a.mean(axis=0)
        std = xp.sqrt(((a - mean) ** 2).mean(axis=0))
        g = self.g.array if isinstance(self.g, chainer.Variable) else self.g
        g[...] = g / std
        self.b.array[...] = -mean / std
        return (a - mean) / std
