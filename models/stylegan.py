"""The style-based generator (Karras et al. 2019, "A Style-Based Generator Architecture for GANs", CVPR), grown
progressively with PGGAN's discriminator and schedule (the paper's own setup for its first results).

* mapping network f (§2): z (pixel-normalised) → ``n_mapping`` × [EqualizedLinear (learning rate ×
  ``mapping_lr_mul``: 0.01 as App. C; 1, an ablation) → LReLU] → w (``n_mapping`` 0, an ablation: w is the
  pixel-normalised z itself);
* synthesis network g: a learned constant 4 × 4 input; at every layer the noise input (§2: a single-channel
  N(0, 1) image, broadcast to all feature maps with a learned per-channel scale, initialised to 0), the bias,
  LReLU, then AdaIN (Eq. 1): AdaIN(x_i, y) = y_{s,i} (x_i − μ(x_i)) / σ(x_i) + y_{b,i}, the style y = A(w) a
  learned affine map (scales initialised to 1);
* style mixing regularisation (§3.1): in training, with probability ``mixing``, the styles of a random layer
  onwards come from a second latent;
* ``blur`` (App. C, the baseline's "bilinear up/downsampling"): the [1, 2, 1] binomial low-pass after each
  upsampling conv (off by default: nearest upsampling, as PGGAN);
* truncation in W (§3.2): w' = w̄ + ψ (w − w̄), w̄ the running mean of w during training (decay 0.995);
* ``synthesis_input='dense'``: configuration C of the paper's Table 1 instead of D/E/F: the traditional input
  kept, a dense layer from the first layer's w to 4 × 4 features (PGGAN's, gain √2/4, as the paper's code) in
  place of the learned constant;
* ``style_norm='demod'``: an ablation of AdaIN's instance normalisation with StyleGAN2's weight demodulation
  (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", §2.2): each conv layer's style
  scales its input channels and its output is divided by the expected standard deviation instead of each map's
  measured one; the LReLU gets StyleGAN2's gain √2; the 4 × 4 input layer has no conv and no style; toRGB stays
  unmodulated (StyleGAN2 modulates it too).  Everything else (mapping, noise, mixing, growing) is StyleGAN's;
* ``style_norm='none'`` (with ``synthesis_input='dense'`` only): no styles at all, PGGAN's pixel norm after every
  LReLU instead of AdaIN, so z reaches the image only through the mapping network and the dense input: PGGAN's
  generator with StyleGAN's mapping network (and noise inputs) in front, an ablation;
* ``center_w`` (an ablation outside the paper): the synthesis network is fed w − w̄ instead of w, w̄ the same
  running mean as truncation's (a constant to the gradient), so that G sees only the part of w that depends on z;
  truncation then gives ψ (w − w̄).

Layers: two per resolution (the constant's and one 3×3 conv at 4 × 4, two 3×3 convs at every other
resolution), so ``n_styles`` = 2 · (stages).
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import numpy

from ganlib.rng import RandomStream
from models.mlp import sample_z
from models.progressive import (HE_GAIN, EqualizedConv2D, EqualizedLinear, _convolution, _Growing, blur, leaky_relu,
                                pixel_norm, stage_channels, upsample)

SYNTHESIS_INPUTS = ('const', 'dense')
STYLE_NORMS = ('adain', 'demod', 'none')


def adain(x, style_scale, style_bias, eps=1e-8):
    """Eq. 1: each feature map of x (N, C, H, W) normalised to zero mean and unit variance over its pixels, then
    scaled by ``style_scale`` (N, C) and shifted by ``style_bias`` (N, C)."""
    n, c, h, w = x.shape
    mean = F.mean(x, axis=(2, 3), keepdims=True)
    centred = x - F.broadcast_to(mean, x.shape)
    inv_std = F.rsqrt(F.mean(F.square(centred), axis=(2, 3), keepdims=True) + eps)
    normed = centred * F.broadcast_to(inv_std, x.shape)
    return normed * F.broadcast_to(F.reshape(style_scale, (n, c, 1, 1)), x.shape) + \
        F.broadcast_to(F.reshape(style_bias, (n, c, 1, 1)), x.shape)


def modulated_conv(x, conv, style, eps=1e-8):
    """StyleGAN2's modulated convolution with demodulation (Karras et al. 2020, §2.2, Eqs. 1 and 3) for an
    ``EqualizedConv2D`` ``conv`` with effective weights w = c·W: sample n uses w'_{oikl} = s_{n,i} w_{oikl}
    (Eq. 1) divided by σ_{n,o} = √(Σ_{i,k,l} w'_{oikl}² + ε) (Eq. 3).  Computed as the paper's code's non-fused
    form, which gives the same result: the input channels scaled by s (N, C_in), the shared convolution, each
    output map divided by σ; then the conv's bias."""
    n = len(style)
    weight = conv.W * conv.scale
    h = _convolution(x * F.broadcast_to(F.reshape(style, (n, -1, 1, 1)), x.shape), weight, None, conv.pad)
    energy = F.sum(F.square(weight), axis=(2, 3))                                   # (C_out, C_in)
    inv_sigma = F.rsqrt(F.matmul(F.square(style), energy, transb=True) + eps)     # (N, C_out)
    h = h * F.broadcast_to(F.reshape(inv_sigma, (n, -1, 1, 1)), h.shape)
    return h + F.broadcast_to(F.reshape(conv.b, (1, -1, 1, 1)), h.shape)


class NoiseInjection(chainer.Link):
    """x + B ⊙ noise: ``noise`` (N, 1, H, W) broadcast over the channels, B a learned per-channel scale (init 0)."""

    def __init__(self, channels):
        super().__init__()
        with self.init_scope():
            self.weight = chainer.Parameter(chainer.initializers.Zero(), (channels,))

    def forward(self, x, noise):
        return x + F.broadcast_to(F.reshape(self.weight, (1, -1, 1, 1)), x.shape) * F.broadcast_to(noise, x.shape)


class StyleLayer(chainer.Chain):
    """adain: (conv (→ blur) →) noise → bias → LReLU → AdaIN with the style A(w);
    demod: (modulated conv with the style A(w) (→ blur) →) noise → bias → √2 · LReLU;
    none: (conv (→ blur) →) noise → bias → LReLU → pixel norm, no style."""

    def __init__(self, in_ch, out_ch, w_dim, conv=True, rng=None, blur=False, style_norm='adain'):
        super().__init__()
        if style_norm not in STYLE_NORMS:
            raise ValueError('style norm must be one of {}, got {!r}'.format(STYLE_NORMS, style_norm))
        self.out_ch, self.blur, self.style_norm = out_ch, blur, style_norm
        with self.init_scope():
            self.conv = EqualizedConv2D(in_ch, out_ch, 3, rng=rng) if conv else None
            self.noise = NoiseInjection(out_ch)
            self.bias = chainer.Parameter(chainer.initializers.Zero(), (out_ch,))
            if style_norm == 'adain':
                self.affine = EqualizedLinear(w_dim, 2 * out_ch, gain=1.0, rng=rng)  # A: (y_s, y_b)
                self.affine.b.array[:out_ch] = 1.0  # style scales start at 1
            elif conv and style_norm == 'demod':
                self.affine = EqualizedLinear(w_dim, in_ch, gain=1.0, bias_init=1.0, rng=rng)  # A: s, starts at 1
            else:
                self.affine = None

    def style_scale(self, w):
        """The (N, C) scales this layer's style applies: AdaIN's y_s, or the modulation s; None without a style."""
        if self.affine is None:
            return None
        style = self.affine(w)
        return style[:, :self.out_ch] if self.style_norm == 'adain' else style

    def forward(self, h, w, noise):
        if self.conv is not None:
            h = modulated_conv(h, self.conv, self.affine(w)) if self.style_norm == 'demod' else self.conv(h)
        if self.blur:
            h = blur(h)
        h = self.noise(h, noise)
        h = leaky_relu(h + F.broadcast_to(F.reshape(self.bias, (1, -1, 1, 1)), h.shape))
        if self.style_norm == 'demod':
            return h * HE_GAIN  # StyleGAN2's LReLU gain √2: demodulation removes the weights' He constant
        if self.style_norm == 'none':
            return pixel_norm(h)
        style = self.affine(w)
        return adain(h, style[:, :self.out_ch], style[:, self.out_ch:])


class StyleGenerator(_Growing):
    """Mapping network + synthesis network, growing like ``ProgressiveGenerator`` (same stages, α and toRGB)."""

    def __init__(self, z_dim=128, size=32, channels=1, ch=64, n_mapping=8, w_dim=None, mixing=0.9,
                 w_avg_decay=0.995, seed=0, rng=None, blur=False, synthesis_input='const', style_norm='adain',
                 mapping_lr_mul=0.01, center_w=False):
        super().__init__(size)
        if n_mapping < 0 or (n_mapping == 0 and w_dim not in (None, z_dim)):
            raise ValueError('the mapping network needs a depth >= 0 (0: w = the normalised z, w_dim = z_dim), got '
                             '{} layers, w_dim {}'.format(n_mapping, w_dim))
        if not mapping_lr_mul > 0:
            raise ValueError('the mapping learning-rate multiplier must be > 0, got {}'.format(mapping_lr_mul))
        if synthesis_input not in SYNTHESIS_INPUTS:
            raise ValueError('synthesis input must be one of {}, got {!r}'.format(SYNTHESIS_INPUTS, synthesis_input))
        if style_norm not in STYLE_NORMS:
            raise ValueError('style norm must be one of {}, got {!r}'.format(STYLE_NORMS, style_norm))
        if style_norm == 'none' and synthesis_input != 'dense':
            raise ValueError("style norm 'none' needs the dense synthesis input: with the constant and no styles, "
                             "z never reaches the image")
        self.synthesis_input, self.style_norm, self.center_w = synthesis_input, style_norm, bool(center_w)
        self.z_dim, self.channels = z_dim, channels
        self.w_dim = w_dim or z_dim
        self.n_mapping, self.mixing, self.w_avg_decay = n_mapping, float(mixing), float(w_avg_decay)
        self.z_distribution = 'normal'
        self.n_styles = 2 * (self.top + 1)
        self.noise_stream = RandomStream(seed)
        self.mix_stream = RandomStream(seed + 1)
        ch0 = stage_channels(ch, 0)
        with self.init_scope():
            self.mapping = chainer.ChainList(*[
                EqualizedLinear(z_dim if i == 0 else self.w_dim, self.w_dim, lr_mul=mapping_lr_mul, rng=rng)
                for i in range(n_mapping)])
            if synthesis_input == 'const':
                self.const = chainer.Parameter(chainer.initializers.One(), (1, ch0, 4, 4))
            else:
                self.input_dense = EqualizedLinear(self.w_dim, ch0 * 16, gain=HE_GAIN / 4, rng=rng)
            kw = dict(rng=rng, style_norm=style_norm)
            layers = [StyleLayer(ch0, ch0, self.w_dim, conv=False, **kw), StyleLayer(ch0, ch0, self.w_dim, **kw)]
            for s in range(1, self.top + 1):
                layers += [StyleLayer(stage_channels(ch, s - 1), stage_channels(ch, s), self.w_dim, blur=blur, **kw),
                           StyleLayer(stage_channels(ch, s), stage_channels(ch, s), self.w_dim, **kw)]
            self.layers = chainer.ChainList(*layers)
            self.to_rgb = chainer.ChainList(*[EqualizedConv2D(stage_channels(ch, s), channels, 1, gain=1.0, rng=rng)
                                              for s in range(self.top + 1)])
        self.add_persistent('w_avg', numpy.zeros(self.w_dim, numpy.float32))
        self.ch0 = ch0

    @property
    def dtype(self):
        return self.layers[0].bias.dtype

    def serialize(self, serializer):
        super().serialize(serializer)
        self.noise_stream.serialize(serializer['noise_rng'])
        self.mix_stream.serialize(serializer['mix_rng'])

    def make_hidden(self, n, rng, truncation=None):
        return sample_z(n, self.z_dim, 'normal', rng, self.xp, self.dtype, truncation=truncation)

    def map(self, z):
        """w = f(z)."""
        h = pixel_norm(z)
        for layer in self.mapping:
            h = leaky_relu(layer(h))
        return h

    def truncate(self, w, psi):
        """The truncation trick in W: w̄ + ψ (w − w̄)."""
        avg = F.broadcast_to(self.w_avg[None], w.shape)
        return avg + psi * (w - avg)

    def synthesis_w(self, w):
        """What the synthesis network's layers are fed: w, or w − w̄ with ``center_w``."""
        return w - F.broadcast_to(self.w_avg[None], w.shape) if self.center_w else w

    def noise_inputs(self, n, stream):
        """The per-layer noise images, (N, 1, r, r) for the layers up to the current stage."""
        return [stream.normal((n, 1, 4 * 2 ** (i // 2), 4 * 2 ** (i // 2)), self.xp, self.dtype)
                for i in range(2 * (self.stage + 1))]

    def synthesize(self, ws, noise):
        """Images from per-layer styles ``ws`` (a list of (N, w_dim), one per layer) and noise images; with
        ``center_w`` the layers get w − w̄."""
        n = len(ws[0])
        ws = [self.synthesis_w(w) for w in ws]
        if self.synthesis_input == 'const':
            h = F.broadcast_to(self.const, (n,) + self.const.shape[1:])
        else:  # Table 1 (C): 4 × 4 features from the first layer's w
            h = F.reshape(self.input_dense(ws[0]), (n, self.ch0, 4, 4))
        previous = h

        def layer(i, h):
            return self.layers[i](h, ws[i], noise[i])
        h = layer(1, layer(0, h))
        for s in range(1, self.stage + 1):
            previous = h
            h = layer(2 * s + 1, layer(2 * s, upsample(h)))
        images = self.to_rgb[self.stage](h)
        if self.stage > 0 and self.alpha < 1.0:
            images = (1.0 - self.alpha) * upsample(self.to_rgb[self.stage - 1](previous)) + self.alpha * images
        return images

    def forward(self, z, psi=None, noise_seed=0):
        """G(z): in training, w̄ is updated and styles are mixed with probability ``mixing``; in test mode
        (figures, scores) the noise comes from ``RandomStream(noise_seed)`` and ``psi`` truncates in W."""
        w = self.map(z)
        n = len(z)
        ws = [w] * self.n_styles
        if chainer.config.train:
            self.w_avg += (1.0 - self.w_avg_decay) * (w.array.mean(axis=0) - self.w_avg)
            draw = float(self.mix_stream.uniform(0.0, 1.0, (1,), numpy)[0])
            cut = 1 + int(self.mix_stream.integers(2 * self.stage + 1, (1,), numpy)[0])  # in [1, active layers)
            if draw < self.mixing:
                w2 = self.map(self.make_hidden(n, self.mix_stream))
                ws = [w] * cut + [w2] * (self.n_styles - cut)
            noise = self.noise_inputs(n, self.noise_stream)
        else:
            if psi is not None:
                ws = [self.truncate(w, psi)] * self.n_styles
            noise = self.noise_inputs(n, RandomStream(noise_seed))
        return self.synthesize(ws, noise)
