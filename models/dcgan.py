"""DCGAN-style image generator and discriminator: the posts' anime models (64 × 64, 96 × 96) and 32 × 32.

G (LSGAN post's shape, Radford et al. 2016): z → Linear → ch × s × s → BN → ReLU → (n − 1) × [Deconv 4×4 stride 2
  → BN → ReLU] halving the channels → Deconv 4×4 stride 2 → 3 (or 1) channels → tanh.
D (Improved-GAN post): x + N(0, σ²) (training only) → Conv 4×4 stride 2 (ch) → act → (n − 1) × [Conv 4×4
  stride 2 → BN → act] doubling the channels → (minibatch discrimination, B = 50, C = 5) → Linear 1.  The post
  used ch = 32 (32, 64, 128, 256), ELU, σ = 0.3 and Normal(0.001) weights; ``train_anime.py``'s presets hold
  both posts' choices.
n = 4 stride-2 layers from s = size / 16 at 64 × 64 and above (the posts); n = 3 from s = size / 8 below, i.e.
  4 × 4 → 32 × 32 (DCGAN's own 32 × 32 layout).  The four-layer net shrunk to 32 × 32 starts from 2 × 2 and
  collapses to one image within ~100 iterations on MNIST even in stock Chainer (``results/lsgan_mnist.md``).
``self_attention=True`` puts SAGAN's block (``models.self_attention``) where G's and D's feature maps are
size / 4.
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.links as L

from models.fast_batch_normalization import BatchNormalization
from models.fast_convolution import Convolution2D, Deconvolution2D
from models.fast_elu import elu
from models.initializers import make_initializer
from models.mlp import _activation, minibatch_head, sample_z
from models.self_attention import SelfAttention
from models.ssl_mnist import GaussianNoise

ACTIVATIONS = ('elu', 'leaky_relu', 'relu')


def _check_size(size):
    if size % 16 or size < 16:
        raise ValueError('image size must be a multiple of 16 (32, 64 or 96), got {}'.format(size))


def layout(size):
    """(n, s): the number of stride-2 layers and the side of G's first feature map (module docstring)."""
    _check_size(size)
    n = 4 if size >= 64 else 3
    return n, size >> n


def _norm(layer, h):
    """``layer(h)``, or ``h`` where the network has no normalisation layer there."""
    return h if layer is None else layer(h)


def _image_activation(name):
    if name == 'elu':
        return elu  # F.elu with a one-pass CPU forward (models.fast_elu); the same bytes
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
        self.n_layers, self.bottom = layout(size)
        w = lambda: make_initializer(init, rng)  # noqa: E731
        bn = lambda n: BatchNormalization(n) if normalization == 'batch' else None  # noqa: E731
        n = self.n_layers
        with self.init_scope():
            self.l0 = L.Linear(z_dim, ch * self.bottom ** 2, initialW=w())
            self.bn0 = bn(ch * self.bottom ** 2)
            for i in range(1, n + 1):  # dc1 … dc(n), bn1 … bn(n − 1); created in this order (the init draws)
                last = i == n
                setattr(self, 'dc{}'.format(i), Deconvolution2D(ch >> (i - 1), channels if last else ch >> i, 4, 2,
                                                                1, initialW=w()))
                if not last:
                    setattr(self, 'bn{}'.format(i), bn(ch >> i))
                if i == n - 2:  # maps of size / 4
                    self.attention = SelfAttention(ch >> i, initialW=w()) if self_attention else None

    def make_hidden(self, n, rng, truncation=None):
        return sample_z(n, self.z_dim, self.z_distribution, rng, self.xp, next(self.params()).dtype,
                        truncation=truncation)

    def forward(self, z):
        h = F.relu(_norm(self.bn0, self.l0(z)))
        h = F.reshape(h, (len(z), self.ch, self.bottom, self.bottom))
        n = self.n_layers
        for i in range(1, n):
            h = F.relu(_norm(getattr(self, 'bn{}'.format(i)), getattr(self, 'dc{}'.format(i))(h)))
            if i == n - 2 and self.attention is not None:  # maps of size / 4
                h = self.attention(h)
        return F.tanh(getattr(self, 'dc{}'.format(n))(h))


NORMALIZATIONS = ('batch', 'layer', 'none')
FM_LAYERS = ('conv', 'md')  # the features DCGANDiscriminator gives feature matching


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
        return BatchNormalization(channels)
    if kind == 'layer':
        return LayerNorm2D(channels, spatial)
    return None


class DCGANDiscriminator(chainer.Chain):
    """Logits y ∈ R^(N/pack); ``forward(x, return_features=True)`` also returns the features feature matching
    uses (``fm_layer``).  ``normalization``: batch norm (the
    posts), layer norm or none after the inner convolutions (a gradient penalty needs a per-example critic).
    ``pack`` = m: PacGAN (Lin et al. 2018, §3; their PacDCGAN): images i·m … i·m + m − 1 of x are stacked along
    the channel axis into one input of m · channels, so a batch of N images gives N/m decisions.
    ``fm_layer``: the features ``return_features`` gives — ``conv`` (default) the last conv features; ``md`` the
    input of the last linear layer, i.e. those features with the minibatch features o(x) appended (Salimans et al.
    §3.2), so that feature matching (§3.1) also matches the batch statistics minibatch discrimination sees."""

    def __init__(self, size=64, ch=32, activation='elu', input_noise=0.3, init='normal:0.02',
                 minibatch_discrimination=None, self_attention=False, seed=0, rng=None, normalization='batch',
                 channels=3, pack=1, fm_layer='conv'):
        super().__init__()
        _check_size(size)
        if fm_layer not in FM_LAYERS:
            raise ValueError('unknown feature-matching layer {!r} (choose {})'.format(fm_layer, ', '.join(FM_LAYERS)))
        if fm_layer == 'md' and not minibatch_discrimination:
            raise ValueError('the feature-matching layer md needs minibatch discrimination')
        self.fm_layer = fm_layer
        if int(pack) != pack or pack < 1:
            raise ValueError('pack must be an integer >= 1, got {}'.format(pack))
        self.pack = int(pack)
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
        n, bottom = layout(size)
        self.n_layers = n
        width = (ch << (n - 1)) * bottom ** 2
        with self.init_scope():
            self.c0 = Convolution2D(channels * self.pack, ch, 4, 2, 1, initialW=w())
            for i in range(1, n):  # c1 … c(n − 1) with bn1 … bn(n − 1); created in this order (the init draws)
                setattr(self, 'c{}'.format(i), Convolution2D(ch << (i - 1), ch << i, 4, 2, 1, initialW=w()))
                setattr(self, 'bn{}'.format(i), _normalization(normalization, ch << i, size >> (i + 1)))
                if i == 1:  # maps of size / 4
                    self.attention = SelfAttention(2 * ch, initialW=w()) if self_attention else None
            self.md, out_width = minibatch_head(width, minibatch_discrimination, init, rng)
            self.out = L.Linear(out_width, 1, initialW=w())

    def serialize(self, serializer):
        super().serialize(serializer)
        self.noise.serialize(serializer['noise_rng'])

    def forward(self, x, return_features=False):
        h = self.noise(x, self.input_noise)
        if self.pack > 1:
            if len(h) % self.pack:
                raise ValueError('a packed D (pack {}) needs a batch divisible by it, got {}'.format(
                    self.pack, len(h)))
            h = F.reshape(h, (len(h) // self.pack, self.pack * h.shape[1]) + h.shape[2:])
        h = self.act(self.c0(h))
        for i in range(1, self.n_layers):
            h = self.act(_norm(getattr(self, 'bn{}'.format(i)), getattr(self, 'c{}'.format(i))(h)))
            if i == 1 and self.attention is not None:
                h = self.attention(h)
        features = F.reshape(h, (len(h), -1))
        h = features
        if self.md is not None:
            h = self.md(h)
            if self.fm_layer == 'md':
                features = h
        y = F.reshape(self.out(h), (-1,))
        return (y, features) if return_features else y
