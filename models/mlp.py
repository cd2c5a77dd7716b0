"""Fully connected generator and discriminator for 2-D mixture-of-Gaussians data.

Unrolled post: G z → 128 ReLU → 128 ReLU → 2; D 2 → 128 ReLU → 1 (inputs divided by 2),
HeNormal(0.8).  LSGAN post: D 2 → 128 LeakyReLU(0.2) → 128 LeakyReLU(0.2) → 1, Normal(0.01).
PacGAN (Lin et al. 2018, §5 and their code): G z 2 → 4 × [400 Linear (no bias) → BN → ReLU] → 2;
D 3 × 200 maxout with 5 pieces → 1, seeing ``pack`` samples concatenated; Normal(0.02).
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.links as L
import numpy

from models.fast_batch_normalization import BatchNormalization
from models.fused_mlp import fusable, fused_mlp
from models.initializers import make_initializer
from models.maxout import maxout
from models.minibatch_discrimination import MinibatchDiscrimination

ACTIVATIONS = {
    'relu': F.relu,
    'leaky_relu': lambda h: F.leaky_relu(h, slope=0.2),
    'tanh': F.tanh,
    'softplus': F.softplus,
}


def _activation(name):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError('unknown activation {!r} (choose {})'.format(name, ', '.join(sorted(ACTIVATIONS))))


def linear_stack(sizes, init, rng, nobias=False):
    """ChainList of Linear(sizes[i] → sizes[i+1]) with initialiser ``init`` drawn from ``rng``."""
    return chainer.ChainList(*[L.Linear(a, b, nobias=nobias, initialW=make_initializer(init, rng))
                               for a, b in zip(sizes[:-1], sizes[1:])])


def minibatch_head(width, minibatch_discrimination, init, rng, fused=True):
    """(MinibatchDiscrimination link or None, output width) for features of size ``width``; ``fused``: see
    ``MinibatchDiscrimination``."""
    if not minibatch_discrimination:
        return None, width
    b, c = minibatch_discrimination
    return MinibatchDiscrimination(width, b, c, initialW=make_initializer(init, rng), fused=fused), width + b


def sample_z(n, z_dim, distribution, rng, xp=numpy, dtype=numpy.float32, truncation=None):
    """Latent batch: ``normal`` N(0, I) or ``uniform`` U[−1, 1]^z_dim, float32, drawn on ``xp`` from ``rng``
    (a :class:`ganlib.rng.RandomStream`, or an integer seed for a fresh one).
    ``truncation``: the truncation trick (``ganlib.regularizers.truncate``), normal latents only."""
    from ganlib.rng import as_stream
    rng = as_stream(rng)
    if truncation is not None and distribution != 'normal':
        raise ValueError('the truncation trick needs normal latents, not {}'.format(distribution))
    if distribution == 'normal':
        z = rng.normal((n, z_dim), xp, dtype)
        if truncation is not None:
            from ganlib.regularizers import truncate
            z = truncate(z, truncation, rng)
    elif distribution == 'uniform':
        z = rng.uniform(-1.0, 1.0, (n, z_dim), xp, dtype)
    else:
        raise ValueError('unknown z distribution {!r} (choose normal, uniform)'.format(distribution))
    return z


class MLPGenerator(chainer.Chain):
    """G: z → [Linear → act] × len(hidden) → Linear(out_dim).  ``fused``: without batch norm, on NumPy arrays,
    ReLU / leaky-ReLU layers run as one node (``models.fused_mlp``), bit-exact."""

    # Blocks' BatchNormalization (the PacGAN code): ε 1e-4, population statistics 0.95 · old + 0.05 · batch.
    BN_EPS, BN_DECAY = 1e-4, 0.95

    def __init__(self, z_dim=256, hidden=(128, 128), out_dim=2, activation='relu',
                 init='he:0.8', z_distribution='normal', rng=None, batch_norm=False, fused=True):
        super().__init__()
        if z_dim <= 0:
            raise ValueError('z_dim must be positive, got {}'.format(z_dim))
        self.z_dim = z_dim
        self.z_distribution = z_distribution
        self.activation = activation
        self.act = _activation(activation)
        self.fused = fused and not batch_norm
        sizes = [z_dim] + list(hidden)
        with self.init_scope():
            self.hidden = linear_stack(sizes, init, rng, nobias=batch_norm)  # BN's β is the bias
            self.norms = chainer.ChainList(*[BatchNormalization(n, decay=self.BN_DECAY, eps=self.BN_EPS)
                                             for n in hidden]) if batch_norm else None
            self.out = L.Linear(sizes[-1], out_dim, initialW=make_initializer(init, rng))

    def make_hidden(self, n, rng, truncation=None):
        return sample_z(n, self.z_dim, self.z_distribution, rng, self.xp, next(self.params()).dtype,
                        truncation=truncation)

    def forward(self, z):
        layers = list(self.hidden) + [self.out]
        if self.fused and fusable(z, self.activation, layers):  # one node, bit-exact (models.fused_mlp)
            return fused_mlp(z, layers, self.activation, activate_last=False)
        h = z
        for i, layer in enumerate(self.hidden):
            h = layer(h)
            if self.norms is not None:
                h = self.norms[i](h)
            h = self.act(h)
        return self.out(h)


class MLPDiscriminator(chainer.Chain):
    """D: x / input_scale → [Linear → act] × len(hidden) → (minibatch discrimination) → Linear(1).

    ``forward`` returns the logits y ∈ R^(N/pack); ``forward(x, return_features=True)`` also returns the
    last hidden layer (before minibatch discrimination), the features matched by feature matching.
    ``minibatch_discrimination``: ``None`` or ``(B, C)`` (Salimans et al. §3.2).
    ``activation='maxout'``: each hidden layer is a maxout unit (Goodfellow et al. 2013) — Linear to
    width · ``maxout_pieces``, then the maximum over each unit's pieces (``models.maxout``).
    ``pack`` = m: PacGAN (Lin et al. 2018, §3): D judges m samples at once, rows i·m … i·m + m − 1 of x
    concatenated into one input of m · in_dim (so a batch of N samples gives N/m decisions).
    ``fused``: on NumPy arrays, ReLU / leaky-ReLU layers run as one node (``models.fused_mlp``), and so do the
    minibatch features (``models.minibatch_discrimination``), bit-exact.
    """

    def __init__(self, in_dim=2, hidden=(128,), activation='relu', init='he:0.8',
                 input_scale=1.0, minibatch_discrimination=None, rng=None, maxout_pieces=5, pack=1, fused=True):
        super().__init__()
        self.activation = activation
        self.fused = fused
        if input_scale <= 0:
            raise ValueError('input_scale must be positive')
        if int(pack) != pack or pack < 1:
            raise ValueError('pack must be an integer >= 1, got {}'.format(pack))
        self.input_scale = float(input_scale)
        self.pack = int(pack)
        self.in_dim = in_dim
        self.pieces = int(maxout_pieces) if activation == 'maxout' else 1
        if self.pieces < 1:
            raise ValueError('maxout needs at least 1 piece, got {}'.format(maxout_pieces))
        self.act = (lambda h: maxout(h, self.pieces)) if activation == 'maxout' else _activation(activation)
        sizes = [in_dim * self.pack] + list(hidden)
        with self.init_scope():
            self.hidden = chainer.ChainList(*[L.Linear(a, b * self.pieces, initialW=make_initializer(init, rng))
                                              for a, b in zip(sizes[:-1], sizes[1:])])
            self.md, width = minibatch_head(sizes[-1], minibatch_discrimination, init, rng, fused)
            self.out = L.Linear(width, 1, initialW=make_initializer(init, rng))

    def forward(self, x, return_features=False):
        hidden = list(self.hidden)
        fuse = self.fused and bool(hidden) and fusable(x, self.activation, hidden + [self.out])
        scale = None  # x / s: Chainer multiplies a Variable by the constant 1/s; a fused stack does it in its node
        if self.input_scale != 1.0:
            if fuse and isinstance(x, chainer.Variable):
                scale = 1.0 / self.input_scale
            else:
                x = x / self.input_scale
        h = x
        if self.pack > 1:
            if len(h) % self.pack:
                raise ValueError('a packed D (pack {}) needs a batch divisible by it, got {}'.format(
                    self.pack, len(h)))
            h = F.reshape(h, (len(h) // self.pack, self.pack * self.in_dim))
        if fuse:  # one node (models.fused_mlp)
            if self.md is None and not return_features:
                return fused_mlp(h, hidden + [self.out], self.activation, activate_last=False, scale=scale,
                                 flatten=True)
            h = fused_mlp(h, hidden, self.activation, scale=scale)
        else:
            for layer in hidden:
                h = self.act(layer(h))
        features = h
        if self.md is not None:
            h = self.md(h)
        y = F.reshape(self.out(h), (-1,))
        return (y, features) if return_features else y
