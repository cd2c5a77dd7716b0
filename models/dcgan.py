"""DCGAN-style image generator and discriminator for 64 × 64 and 96 × 96 faces (the three posts' anime models).

G (LSGAN post's shape, Radford et al. 2016): z → Linear → ch × s × s (s = size / 16) → BN → ReLU →
  3 × [Deconv 4×4 stride 2 → BN → ReLU] halving the channels → Deconv 4×4 stride 2 → 3 channels → tanh.
D (Improved-GAN post): x + N(0, σ²) (training only) → Conv 4×4 stride 2 (ch) → act →
  3 × [Conv 4×4 stride 2 → BN → act] doubling the channels (ch … 8·ch) → (minibatch discrimination,
  B = 50, C = 5) → Linear 1.  The post used ch = 32 (32, 64, 128, 256), ELU, σ = 0.3 and Normal(0.001)
  weights; ``train_anime.py``'s presets hold both posts' choices.
``self_attention=True`` puts SAGAN's block (``models.self_attention``) after G's second deconvolution and
D's second convolution (feature maps of size / 4).
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.links as L

from models.fast_convolution import Convolution2D, Deconvolution2D
from models.initializers import make_initializer
from models.mlp import _activation, minibatch_head, sample_z
from models.self_attention import SelfAttention
from models.ssl_mnist import GaussianNoise

ACTIVATIONS = ('elu', 'leaky_relu', 'relu')


def _check_size(size):
    if size % 16 or size < 16:
        raise ValueError('image size must be a multiple of 16 (64 or 96), got {}'.format(size))


def _norm(layer, h):
    """``layer(h)``, or ``h`` where the network has no normalisation layer there."""
    return h if layer is None else layer(h)


def _image_activation(name):
    if name == 'elu':
        return F.elu
    return _activation(name)


class DCGANGenerator(chainer.Chain):
    """``normalization='none'`` drops G's batch norm (the LSGAN post's MNIST generator, which failed to train);
    ``channels``: 3 (RGB) or 1 (MNIST)."""

    def __init__(self, z_dim=50, size=64, ch=512, z_distribution='uniform', init='normal:0.02',
                 self_attention=False, rng=None, normalization='batch', channels=3):
        super().__init__()
        _check_size(size)
        if z_dim <= 0 or ch < 8 or ch % 8:
            raise ValueError('need z_dim > 0 and a channel count that is a multiple of 8 (got {}, {})'.format(
                z_dim, ch))
        self.z_dim, self.size, self.ch, self.z_distribution = z_dim, size, ch, z_distribution
        if normalization not in ('batch', 'none'):
            raise ValueError('G normalization must be batch or none, got {!r}'.format(normalization))
        self.bottom = size // 16
        w = lambda: make_initializer(init, rng)  # noqa: E731
        bn = lambda n: L.BatchNormalization(n) if normalization == 'batch' else None  # noqa: E731
        with self.init_scope():
            self.l0 = L.Linear(z_dim, ch * self.bottom ** 2, initialW=w())
            self.bn0 = bn(ch * self.bottom ** 2)
            self.dc1 = Deconvolution2D(ch, ch // 2, 4, 2, 1, initialW=w())
            self.bn1 = bn(ch // 2)
            self.dc2 = Deconvolution2D(ch // 2, ch // 4, 4, 2, 1, initialW=w())
            self.bn2 = bn(ch // 4)
            self.attention = SelfAttention(ch // 4, initialW=w()) if self_attention else None
            self.dc3 = Deconvolution2D(ch // 4, ch // 8, 4, 2, 1, initialW=w())
            self.bn3 = bn(ch // 8)
            self.dc4 = Deconvolution2D(ch // 8, channels, 4, 2, 1, initialW=w())

    def make_hidden(self, n, rng, truncation=None):
        return sample_z(n, self.z_dim, self.z_distribution, rng, self.xp, next(self.params()).dtype,
                        truncation=truncation)

    def forward(self, z):
        h = F.relu(_norm(self.bn0, self.l0(z)))
        h = F.reshape(h, (len(z), self.ch, self.bottom, self.bottom))
        h = F.relu(_norm(self.bn1, self.dc1(h)))
        h = F.relu(_norm(self.bn2, self.dc2(h)))
        if self.attention is not None:
            h = self.attention(h)
        h = F.relu(_norm(self.bn3, self.dc3(h)))
        return F.tanh(self.dc4(h))


NORMALIZATIONS = ('batch', 'layer', 'none')


class LayerNorm2D(chainer.Chain):
    """Layer normalisation of (N, C, H, W) maps over each example's C·H·W values (Ba et al. 2016), with an
    element-wise gain and bias: the per-example normalisation WGAN-GP's critic may use (Gulrajani et al. §4)."""

    def __init__(self, channels, spatial):
        super().__init__()
        with self.init_scope():
            self.ln = L.LayerNormalization(channels * spatial * spatial)

    def forward(self, h):
        return F.reshape(self.ln(F.reshape(h, (len(h), -1))), h.shape)


def _normalization(kind, channels, spatial):
    if kind == 'batch':
        return L.BatchNormalization(channels)
    if kind == 'layer':
        return LayerNorm2D(channels, spatial)
    return None


class DCGANDiscriminator(chainer.Chain):
    """Logits y ∈ R^N; ``forward(x, return_features=True)`` also returns the flattened last conv features
    (before minibatch discrimination) — the layer feature matching uses.  ``normalization``: batch norm (the
    posts), layer norm or none after the inner convolutions (a gradient penalty needs a per-example critic)."""

    def __init__(self, size=64, ch=32, activation='elu', input_noise=0.3, init='normal:0.02',
                 minibatch_discrimination=None, self_attention=False, seed=0, rng=None, normalization='batch',
                 channels=3):
        super().__init__()
        _check_size(size)
        if normalization not in NORMALIZATIONS:
            raise ValueError('unknown normalization {!r} (choose {})'.format(normalization, ', '.join(NORMALIZATIONS)))
        if ch < 1:
            raise ValueError('discriminator channels must be positive, got {}'.format(ch))
        if activation not in ACTIVATIONS:
            raise ValueError('unknown activation {!r} (choose {})'.format(activation, ', '.join(ACTIVATIONS)))
        self.act = _image_activation(activation)
        self.input_noise = float(input_noise)
        self.noise = GaussianNoise(seed)
        w = lambda: make_initializer(init, rng)  # noqa: E731
        width = 8 * ch * (size // 16) ** 2
        with self.init_scope():
            self.c0 = Convolution2D(channels, ch, 4, 2, 1, initialW=w())
            self.c1 = Convolution2D(ch, 2 * ch, 4, 2, 1, initialW=w())
            self.bn1 = _normalization(normalization, 2 * ch, size // 4)
            self.attention = SelfAttention(2 * ch, initialW=w()) if self_attention else None
            self.c2 = Convolution2D(2 * ch, 4 * ch, 4, 2, 1, initialW=w())
            self.bn2 = _normalization(normalization, 4 * ch, size // 8)
            self.c3 = Convolution2D(4 * ch, 8 * ch, 4, 2, 1, initialW=w())
            self.bn3 = _normalization(normalization, 8 * ch, size // 16)
            self.md, out_width = minibatch_head(width, minibatch_discrimination, init, rng)
            self.out = L.Linear(out_width, 1, initialW=w())

    def serialize(self, serializer):
        super().serialize(serializer)
        self.noise.serialize(serializer['noise_rng'])

    def forward(self, x, return_features=False):
        h = self.noise(x, self.input_noise)
        h = self.act(self.c0(h))
        h = self.act(_norm(self.bn1, self.c1(h)))
        if self.attention is not None:
            h = self.attention(h)
        h = self.act(_norm(self.bn2, self.c2(h)))
        h = self.act(_norm(self.bn3, self.c3(h)))
        features = F.reshape(h, (len(x), -1))
        h = features
        if self.md is not None:
            h = self.md(h)
        y = F.reshape(self.out(h), (-1,))
        return (y, features) if return_features else y
