"""Progressive growing of GANs (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability,
and Variation", ICLR): the layers of §3–4.2 and the growing generator and discriminator of Appendix A.1.

* ``EqualizedLinear`` / ``EqualizedConv2D`` (§4.1): weights stored as N(0, 1) and multiplied at run time by the
  He constant c = gain / √fan_in, so every weight learns at the same speed under Adam;
* ``pixel_norm`` (§4.2): b = a / √(mean_j a_j² + ε) over the channels of each pixel, ε = 1e-8;
* ``minibatch_stddev`` (§3, App. A.1): the standard deviation of every feature over groups of samples, averaged
  into one value per group, appended to D's last block as an extra feature map;
* ``ProgressiveGenerator`` / ``ProgressiveDiscriminator``: resolution 4 → 8 → … → ``size``; the networks run at
  ``stage`` s (resolution 4 · 2^s) and, while a new block fades in, blend with weight ``alpha`` (§3, Fig. 2):
  G's output is (1 − α) · upsample(toRGB_{s−1}(h_{s−1})) + α · toRGB_s(block_s(h_{s−1})), D's first features
  (1 − α) · fromRGB_{s−1}(avgpool(x)) + α · block_s(fromRGB_s(x)).

Channels: ``ch`` feature maps up to 32 × 32, halved at each resolution above (the paper: 512 up to 32 × 32).
"""
import math

import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import numpy
from chainer import initializers

from models import fast_convolution

HE_GAIN = math.sqrt(2.0)


def leaky_relu(h):
    return F.leaky_relu(h, slope=0.2)


def stage_channels(ch, stage):
    """Feature maps at stage s (resolution 4 · 2^s): ``ch`` up to 32 × 32 (s ≤ 3), then halved per stage (≥ 1)."""
    return max(1, ch >> max(0, stage - 3))


class EqualizedLinear(chainer.Link):
    """y = x (c W)ᵀ + b, W ~ N(0, 1/lr_mul²) stored, c = lr_mul · gain / √in_size (Karras et al. 2018, §4.1;
    ``lr_mul`` is StyleGAN's learning-rate multiplier of the mapping network, 1 here)."""

    def __init__(self, in_size, out_size, gain=HE_GAIN, lr_mul=1.0, bias_init=0.0, rng=None):
        super().__init__()
        self.scale = lr_mul * gain / math.sqrt(in_size)
        self.lr_mul = lr_mul
        kw = {'rng': rng} if rng is not None else {}
        with self.init_scope():
            self.W = chainer.Parameter(initializers.Normal(1.0 / lr_mul, **kw), (out_size, in_size))
            self.b = chainer.Parameter(initializers.Constant(bias_init / lr_mul), (out_size,))

    def forward(self, x):
        b = self.b * self.lr_mul if self.lr_mul != 1.0 else self.b
        return F.linear(x, self.W * self.scale, b)


def _convolution(x, W, b, pad):
    array = x.array if isinstance(x, chainer.Variable) else x
    if isinstance(array, numpy.ndarray):
        return fast_convolution.convolution_2d(x, W, b, 1, pad)
    return F.convolution_2d(x, W, b, 1, pad)


class EqualizedConv2D(chainer.Link):
    """Stride-1 convolution with the equalised learning rate: c = gain / √(in_channels · k²)."""

    def __init__(self, in_channels, out_channels, ksize, gain=HE_GAIN, rng=None):
        super().__init__()
        self.scale = gain / math.sqrt(in_channels * ksize * ksize)
        self.pad = ksize // 2
        kw = {'rng': rng} if rng is not None else {}
        with self.init_scope():
            self.W = chainer.Parameter(initializers.Normal(1.0, **kw), (out_channels, in_channels, ksize, ksize))
            self.b = chainer.Parameter(initializers.Zero(), (out_channels,))

    def forward(self, x):
        return _convolution(x, self.W * self.scale, self.b, self.pad)


def pixel_norm(x, eps=1e-8):
    """b_{x,y} = a_{x,y} / √((1/C) Σ_j (a^j_{x,y})² + ε) over the channel axis 1 (§4.2, Eq. in the text)."""
    return x * F.broadcast_to(F.rsqrt(F.mean(F.square(x), axis=1, keepdims=True) + eps), x.shape)


def minibatch_stddev(x, group_size=4, eps=1e-8):
    """Append one feature map: for each group of ``group_size`` samples (samples n, n + M, n + 2M, … with
    M = N / group_size, as the paper's code groups them), the standard deviation of every feature and pixel
    over the group, averaged over features and pixels (§3).  ``group_size`` is capped at N; N must be a
    multiple of it."""
    n, c, h, w = x.shape
    g = min(group_size, n)
    if n % g:
        raise ValueError('minibatch stddev: batch {} is not a multiple of the group size {}'.format(n, g))
    m = n // g
    y = F.reshape(x, (g, m, c, h, w))
    y = y - F.broadcast_to(F.mean(y, axis=0, keepdims=True), y.shape)
    y = F.sqrt(F.mean(F.square(y), axis=0) + eps)              # (M, C, H, W)
    y = F.mean(F.reshape(y, (m, c * h * w)), axis=1)            # (M,)
    y = F.tile(F.reshape(y, (m, 1, 1, 1)), (g, 1, h, w))       # sample n gets its group's value y[n mod M]
    return F.concat((x, F.cast(y, x.dtype)), axis=1)


def upsample(h):
    """Nearest-neighbour 2× upsampling."""
    n, c, hh, ww = h.shape
    h = F.broadcast_to(F.reshape(h, (n, c, hh, 1, ww, 1)), (n, c, hh, 2, ww, 2))
    return F.reshape(h, (n, c, 2 * hh, 2 * ww))


def downsample(h):
    """2 × 2 average pooling."""
    return F.average_pooling_2d(h, 2, 2)


BINOMIAL_3 = numpy.array([1.0, 2.0, 1.0]) / 4.0


def blur(h):
    """StyleGAN's low-pass filter (Karras et al. 2019, App. C, after Zhang 2019): every feature map convolved with
    the separable 2nd-order binomial kernel [1, 2, 1]ᵀ[1, 2, 1] / 16, zero padded to the same size (their code's
    'SAME' depthwise convolution).  Applied after each upsampling in G and before each downsampling in D, it turns
    nearest / box resampling into bilinear."""
    n, c, hh, ww = h.shape
    xp = chainer.backend.get_array_module(h)
    kernel = xp.asarray(numpy.outer(BINOMIAL_3, BINOMIAL_3)[None, None], dtype=h.dtype)
    return F.reshape(_convolution(F.reshape(h, (n * c, 1, hh, ww)), kernel, None, 1), (n, c, hh, ww))


def resize_to(x, resolution):
    """Average-pool square images ``x`` down to ``resolution`` (a power-of-two fraction of their size)."""
    while x.shape[-1] > resolution:
        x = downsample(x)
    return x


def n_stages(size):
    """Stages of a network growing 4 → ``size`` (a power of two ≥ 4): log2(size) − 1."""
    s = int(round(math.log2(size))) if size > 0 else 0
    if size < 4 or 2 ** s != size:
        raise ValueError('progressive growing needs a power-of-two size >= 4, got {}'.format(size))
    return s - 1


class _Growing(chainer.Chain):
    """What both networks share: the current ``stage`` and fade-in weight ``alpha`` (set by the schedule)."""

    def __init__(self, size):
        super().__init__()
        self.size = size
        self.top = n_stages(size) - 1
        self.stage, self.alpha = self.top, 1.0

    def set_stage(self, stage, alpha):
        if not 0 <= stage <= self.top or not 0.0 <= alpha <= 1.0:
            raise ValueError('stage must lie in [0, {}] and alpha in [0, 1], got {}, {}'.format(self.top, stage, alpha))
        self.stage, self.alpha = int(stage), float(alpha)

    @property
    def resolution(self):
        return 4 * 2 ** self.stage


class GBlock(chainer.Chain):
    """Upsample → [3×3 conv (→ ``blur`` after the first) → LReLU → pixel norm] × 2."""

    def __init__(self, in_ch, out_ch, rng=None, blur=False):
        super().__init__()
        self.blur = blur
        with self.init_scope():
            self.c1 = EqualizedConv2D(in_ch, out_ch, 3, rng=rng)
            self.c2 = EqualizedConv2D(out_ch, out_ch, 3, rng=rng)

    def forward(self, h):
        h = self.c1(upsample(h))
        h = pixel_norm(leaky_relu(blur(h) if self.blur else h))
        return pixel_norm(leaky_relu(self.c2(h)))


class ProgressiveGenerator(_Growing):
    """PGGAN's G (App. A.1, Table 2): z (pixel-normalised) → dense to 4 × 4 → 3×3 conv; one ``GBlock`` per
    doubling (``blur``: low-pass after each upsampling, StyleGAN's resampling); a 1×1 toRGB (gain 1, linear) per
    resolution."""

    def __init__(self, z_dim=128, size=32, channels=1, ch=64, rng=None, blur=False):
        super().__init__(size)
        self.z_dim, self.channels, self.ch0 = z_dim, channels, stage_channels(ch, 0)
        self.z_distribution = 'normal'
        with self.init_scope():
            self.dense = EqualizedLinear(z_dim, self.ch0 * 16, gain=HE_GAIN / 4, rng=rng)  # the paper's code
            self.conv = EqualizedConv2D(self.ch0, self.ch0, 3, rng=rng)
            self.blocks = chainer.ChainList(*[GBlock(stage_channels(ch, s - 1), stage_channels(ch, s), rng=rng, blur=blur)
                                              for s in range(1, self.top + 1)])
            self.to_rgb = chainer.ChainList(*[EqualizedConv2D(stage_channels(ch, s), channels, 1, gain=1.0, rng=rng)
                                              for s in range(self.top + 1)])

    def make_hidden(self, n, rng, truncation=None):
        from models.mlp import sample_z
        return sample_z(n, self.z_dim, 'normal', rng, self.xp, self.dense.W.dtype, truncation=truncation)

    def base(self, z):
        """The 4 × 4 features of z."""
        h = leaky_relu(F.reshape(self.dense(pixel_norm(z)), (len(z), self.ch0, 4, 4)))
        return pixel_norm(leaky_relu(self.conv(pixel_norm(h))))

    def grow(self, h, to_rgb_of):
        """Run the blocks up to the current stage on 4 × 4 features ``h`` and fade in the newest one;
        ``to_rgb_of(s, h)`` makes the image of stage s from its features."""
        previous = h
        for s in range(1, self.stage + 1):
            previous, h = h, self.blocks[s - 1](h)
        out = to_rgb_of(self.stage, h)
        if self.stage > 0 and self.alpha < 1.0:
            out = (1.0 - self.alpha) * upsample(to_rgb_of(self.stage - 1, previous)) + self.alpha * out
        return out

    def forward(self, z):
        return self.grow(self.base(z), lambda s, h: self.to_rgb[s](h))


class DBlock(chainer.Chain):
    """[3×3 conv → LReLU] × 2 → 2×2 average pool; ``blur``: the low-pass before the second conv, as StyleGAN's D
    (blur → conv → downscale)."""

    def __init__(self, in_ch, out_ch, rng=None, blur=False):
        super().__init__()
        self.blur = blur
        with self.init_scope():
            self.c1 = EqualizedConv2D(in_ch, in_ch, 3, rng=rng)
            self.c2 = EqualizedConv2D(in_ch, out_ch, 3, rng=rng)

    def forward(self, h):
        h = leaky_relu(self.c1(h))
        return downsample(leaky_relu(self.c2(blur(h) if self.blur else h)))


class ProgressiveDiscriminator(_Growing):
    """PGGAN's D (App. A.1): a 1×1 fromRGB per resolution, one ``DBlock`` per halving, then minibatch stddev →
    3×3 conv → dense 4·4·ch → ch → dense ch → 1 (linear: a WGAN-GP critic).  ``blur``: see ``DBlock``."""

    def __init__(self, size=32, channels=1, ch=64, group_size=4, rng=None, blur=False):
        super().__init__(size)
        self.group_size = group_size
        ch0 = stage_channels(ch, 0)
        with self.init_scope():
            self.from_rgb = chainer.ChainList(*[EqualizedConv2D(channels, stage_channels(ch, s), 1, rng=rng)
                                                for s in range(self.top + 1)])
            self.blocks = chainer.ChainList(*[DBlock(stage_channels(ch, s), stage_channels(ch, s - 1), rng=rng, blur=blur)
                                              for s in range(1, self.top + 1)])
            self.conv = EqualizedConv2D(ch0 + 1, ch0, 3, rng=rng)
            self.dense = EqualizedLinear(ch0 * 16, ch0, rng=rng)
            self.out = EqualizedLinear(ch0, 1, gain=1.0, rng=rng)

    def forward(self, x):
        h = leaky_relu(self.from_rgb[self.stage](x))
        if self.stage > 0:
            h = self.blocks[self.stage - 1](h)
            if self.alpha < 1.0:
                skip = leaky_relu(self.from_rgb[self.stage - 1](downsample(x)))
                h = (1.0 - self.alpha) * skip + self.alpha * h
            for s in range(self.stage - 1, 0, -1):
                h = self.blocks[s - 1](h)
        h = leaky_relu(self.conv(minibatch_stddev(h, self.group_size)))
        h = leaky_relu(self.dense(F.reshape(h, (len(h), -1))))
        return F.reshape(self.out(h), (-1,))
