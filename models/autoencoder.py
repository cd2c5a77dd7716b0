"""BEGAN's autoencoder discriminator for 2-D data (Berthelot et al. 2017, §3.1): D(v) = dec(enc(v)).

The images models build their convolutional autoencoder from the same interface: ``forward(x)`` is the
reconstruction and ``reconstruction_error(x)`` the per-example L(v) = mean |v − D(v)| (η = 1, §3.1).
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.links as L

from models.initializers import make_initializer
from models.mlp import _activation, linear_stack


class MLPAutoencoder(chainer.Chain):
    """x / input_scale → [Linear → act] × len(hidden) → Linear(code) → [Linear → act] × reversed(hidden)
    → Linear(in_dim).  Reconstructions live in the scaled space x / input_scale."""
    is_autoencoder = True

    def __init__(self, in_dim=2, hidden=(128,), code_dim=8, activation='relu', init='he:0.8',
                 input_scale=1.0, rng=None):
        super().__init__()
        if input_scale <= 0:
            raise ValueError('input_scale must be positive')
        self.input_scale = float(input_scale)
        self.act = _activation(activation)
        hidden = list(hidden)
        with self.init_scope():
            self.enc = linear_stack([in_dim] + hidden, init, rng)
            self.code = L.Linear(hidden[-1] if hidden else in_dim, code_dim, initialW=make_initializer(init, rng))
            self.dec = linear_stack([code_dim] + hidden[::-1], init, rng)
            self.out = L.Linear(hidden[0] if hidden else code_dim, in_dim, initialW=make_initializer(init, rng))

    def scaled(self, x):
        return x / self.input_scale if self.input_scale != 1.0 else x

    def forward(self, x):
        h = self.scaled(x)
        for layer in self.enc:
            h = self.act(layer(h))
        h = self.code(h)
        for layer in self.dec:
            h = self.act(layer(h))
        return self.out(h)

    def reconstruction_error(self, x):
        """L(v) = mean over dimensions of |v − D(v)|, one value per example (BEGAN Eq. 1 with η = 1)."""
        v = self.scaled(x)
        diff = F.absolute(v - self.forward(x))
        return F.mean(F.reshape(diff, (diff.shape[0], -1)), axis=1)
