"""Semi-supervised MNIST networks of the Improved-GAN post (Salimans et al. 2016, §5; permutation invariant).

D: x + N(0, 0.3²) → [Linear → + N(0, 0.5²) → softplus] for 1000, 500, 250 units → (minibatch
discrimination) → Linear 10 logits.  No batch norm, noise only in training mode.  (The paper's model also
used weight normalisation; the posts' Chainer code did not, and neither does this one.)
G: z ∈ U[−1, 1]^50 → [Linear 500 → BN → ReLU] × 2 → Linear 784 → tanh.
"""
import ganlib.compat  # noqa: F401

import chainer
import numpy
import chainer.functions as F
import chainer.links as L


from ganlib.rng import RandomStream, as_stream
from models.fast_batch_normalization import BatchNormalization
from models.fast_softplus import softplus
from models.initializers import make_initializer
from models.mlp import linear_stack, minibatch_head, sample_z
from models.weight_norm import WeightNormLinear


class GaussianNoise(object):
    """Additive N(0, σ²) noise in training mode, drawn on the activations' device from a
    :class:`ganlib.rng.RandomStream` of its own (saved in snapshots: exact --resume on CPU and GPU)."""

    def __init__(self, seed=0):
        self.seed = seed
        self.stream = RandomStream(seed)

    def __call__(self, h, sigma):
        if not chainer.config.train or sigma == 0:
            return h
        xp = chainer.backend.get_array_module(h)
        noise = self.stream.normal(h.shape, xp, h.dtype)
        noise *= h.dtype.type(sigma)  # in place: the same products as σ · noise, one array fewer
        return h + noise

    def __deepcopy__(self, memo):
        """A copy at the same point of the same stream (the cuRAND handle is not copied)."""
        new = GaussianNoise(self.seed)
        new.stream = RandomStream(0)
        new.stream.key, new.stream.counter = self.stream.state()
        return new

    def serialize(self, serializer):
        self.stream.serialize(serializer)


class SSLDiscriminator(chainer.Chain):
    """10 logits; ``forward(x, return_features=True)`` also returns the 250-unit layer (feature matching)."""

    def __init__(self, hidden=(1000, 500, 250), input_noise=0.3, hidden_noise=0.5,
                 minibatch_discrimination=None, init='lecun', n_classes=10, seed=0, rng=None):
        super().__init__()
        self.input_noise = input_noise
        self.hidden_noise = hidden_noise
        self.noise = GaussianNoise(seed)
        sizes = [784] + list(hidden)
        with self.init_scope():
            self.hidden = linear_stack(sizes, init, rng)
            self.md, width = minibatch_head(sizes[-1], minibatch_discrimination, init, rng)
            self.out = L.Linear(width, n_classes, initialW=make_initializer(init, rng))

    def serialize(self, serializer):
        super().serialize(serializer)
        self.noise.serialize(serializer['noise_rng'])

    def forward(self, x, return_features=False):
        h = self.noise(x, self.input_noise)
        for layer in self.hidden:
            h = softplus(self.noise(layer(h), self.hidden_noise))
        features = h
        if self.md is not None:
            h = self.md(h)
        y = self.out(h)
        return (y, features) if return_features else y


class SSLGenerator(chainer.Chain):
    def __init__(self, z_dim=50, hidden=(500, 500), z_distribution='uniform', init='lecun', rng=None):
        super().__init__()
        if z_dim <= 0:
            raise ValueError('z_dim must be positive, got {}'.format(z_dim))
        self.z_dim = z_dim
        self.z_distribution = z_distribution
        sizes = [z_dim] + list(hidden)
        with self.init_scope():
            self.hidden = linear_stack(sizes, init, rng)
            self.bns = chainer.ChainList(*[BatchNormalization(b) for b in sizes[1:]])
            self.out = L.Linear(sizes[-1], 784, initialW=make_initializer(init, rng))

    def make_hidden(self, n, rng):
        return sample_z(n, self.z_dim, self.z_distribution, rng, self.xp, next(self.params()).dtype)

    def forward(self, z):
        h = z
        for layer, bn in zip(self.hidden, self.bns):
            h = F.relu(bn(layer(h)))
        return F.tanh(self.out(h))




class PaperSSLDiscriminator(chainer.Chain):
    """The Improved-GAN paper's own MNIST discriminator (Salimans et al. 2016, §5; their
    ``train_mnist_feature_matching.py``), rather than the posts' Chainer one.

    x + N(0, σ_in²) → [WeightNormLinear → ReLU → + N(0, 0.5²)] for 1000, 500, 250, 250, 250 units →
    WeightNormLinear 10 logits (trained scale).  Hidden scales g stay as the data-dependent initialisation
    (``data_init``) set them, as in the original.  Feature matching uses the last hidden layer after the ReLU and
    before its noise.  Pixels here are in [−1, 1], so the default σ_in = 0.6 is the paper's 0.3 on [0, 1].
    """

    def __init__(self, hidden=(1000, 500, 250, 250, 250), input_noise=0.6, hidden_noise=0.5,
                 minibatch_discrimination=None, n_classes=10, seed=0, rng=None, in_size=784):
        super().__init__()
        self.input_noise = input_noise
        self.hidden_noise = hidden_noise
        self.noise = GaussianNoise(seed)
        rng = rng if rng is not None else numpy.random.RandomState(seed)
        sizes = [in_size] + list(hidden)
        with self.init_scope():
            self.hidden = chainer.ChainList(*[WeightNormLinear(a, b, rng=rng) for a, b in zip(sizes[:-1], sizes[1:])])
            self.md, width = minibatch_head(sizes[-1], minibatch_discrimination, 'lecun', rng)
            self.out = WeightNormLinear(width, n_classes, train_scale=True, rng=rng)

    def serialize(self, serializer):
        super().serialize(serializer)
        self.noise.serialize(serializer['noise_rng'])

    def forward(self, x, return_features=False, init=False):
        """``init=True``: the data-dependent initialisation of every weight-normalised layer on batch ``x``
        (layer by layer, noise on, as the original's ``init_param``)."""
        h = self.noise(x, self.input_noise)
        features = None
        for layer in self.hidden:
            h = F.relu(layer.data_init(h) if init else layer(h))
            features = h
            h = self.noise(h, self.hidden_noise)
        if self.md is not None:
            h = self.md(h)
        y = self.out.data_init(h) if init else self.out(h)
        return (y, features) if return_features else y

    def data_init(self, x):
        """Salimans & Kingma 2016 §3 on one batch (the original used 500 training digits)."""
        with chainer.using_config('train', True):
            self.forward(self.xp.asarray(x), init=True)


class PaperSSLGenerator(chainer.Chain):
    """The Improved-GAN paper's MNIST generator: z ∈ U[0, 1]^100 → [Linear 500 → BN (no scale) → softplus] × 2
    → WeightNormLinear 784 (trained scale) → sigmoid, here written 2·sigmoid(a) − 1 = tanh(a / 2) so that
    pixels are in [−1, 1] like the data.  (The original drew z from U[0, 1]; so does this.)"""

    def __init__(self, z_dim=100, hidden=(500, 500), rng=None):
        super().__init__()
        if z_dim <= 0:
            raise ValueError('z_dim must be positive, got {}'.format(z_dim))
        self.z_dim = z_dim
        sizes = [z_dim] + list(hidden)
        with self.init_scope():
            self.hidden = chainer.ChainList(*[L.Linear(a, b, nobias=True, initialW=make_initializer('glorot', rng))
                                              for a, b in zip(sizes[:-1], sizes[1:])])
            self.bns = chainer.ChainList(*[BatchNormalization(b, use_gamma=False) for b in sizes[1:]])
            self.out = WeightNormLinear(sizes[-1], 784, train_scale=True, rng=rng)

    def make_hidden(self, n, rng):
        """z ~ U[0, 1]^z_dim (the paper's code), float32 on the model's device; ``rng`` a ``RandomStream``
        or an integer seed."""
        return as_stream(rng).uniform(0.0, 1.0, (n, self.z_dim), self.xp)

    def forward(self, z):
        h = z
        for layer, bn in zip(self.hidden, self.bns):
            h = softplus(bn(layer(h)))
        return F.tanh(self.out(h) * 0.5)
