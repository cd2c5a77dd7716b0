"""Convolution and deconvolution for NumPy arrays as ONE matrix product each, on channels-last patches.

Chainer's CPU path builds im2col in (N, C·kh·kw, Ho, Wo) layout and multiplies with ``tensordot``, whose
transposes copy the patch matrix again; its deconvolution scatters back through col2im in the same layout.
Here the zero-padded input is copied once to NHWC, the (N, Ho, Wo, kh, kw, C) patches are a strided view of it
(``numpy.lib.stride_tricks.as_strided``), and that view reshaped to (N·Ho·Wo, kh·kw·C) is multiplied with the
weights reshaped to match: one GEMM per convolution, weight gradient and deconvolution.  The scatter of a
deconvolution (col2im) adds its kh·kw taps onto zeros in (i, j) order, in one of three layouts that give the same
bits: per output phase for few output channels, per block of stride-sized taps for kernels a multiple of the
stride, tap by tap otherwise.

The three operations are FunctionNodes whose backward passes are written with one another, as Chainer's own
are, so gradients of gradients (WGAN-GP's penalty on an image critic) work:

* conv(x, W)      backward: gx = deconv(gy, W),  gW = grad_w(x, gy)
* deconv(x, W)    backward: gx = conv(gy, W),    gW = grad_w(gy, x)
* grad_w(x, gy)   backward: gx = deconv(gy, ggW), ggy = conv(x, ggW)

:class:`Convolution2D` and :class:`Deconvolution2D` are Chainer's links that take this path for NumPy
arrays (no dilation, one group) and Chainer's own functions otherwise (CuPy arrays: the GPU path is unchanged).
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.links as L
import numpy
from chainer import function_node
from numpy.lib.stride_tricks import as_strided


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _patches(x, kh, kw, sy, sx, ph, pw):
    """(N·Ho·Wo, kh·kw·C) patch matrix of the zero-padded x (N, C, H, W), channels last, and (Ho, Wo)."""
    n, c, h, w = x.shape
    padded = numpy.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    _channels_last(x, padded[:, ph:ph + h, pw:pw + w, :])
    ho, wo = (h + 2 * ph - kh) // sy + 1, (w + 2 * pw - kw) // sx + 1
    s0, s1, s2, s3 = padded.strides
    view = as_strided(padded, (n, ho, wo, kh, kw, c), (s0, s1 * sy, s2 * sx, s1, s2, s3), writeable=False)
    return view.reshape(n * ho * wo, kh * kw * c), ho, wo


def _rows(a):
    """(N, C, H, W) → (N·H·W, C) matrix, channels last."""
    n, c, h, w = a.shape
    return _channels_last(a, numpy.empty((n, h, w, c), dtype=a.dtype)).reshape(n * h * w, c)


# One L1 way's span on x86 cores (the 4K-aliasing period): addresses this far apart share a cache set.
_ALIAS_BYTES = 4096


def _aliases(x):
    """True when gathering one pixel's channels of x (N, C, H, W) thrashes one L1 set: more channels than the
    8 ways of an L1 set, at a channel stride that is a multiple of 4 KiB (every 32 × 32 or 64 × 64 float32 map)."""
    stride = abs(x.strides[1])
    return x.shape[1] > 8 and stride >= _ALIAS_BYTES and stride % _ALIAS_BYTES == 0


def _channels_last(x, out):
    """``out[...] = x.transpose(0, 2, 3, 1)`` for x (N, C, H, W) and out (N, H, W, C); returns out.

    A copy, so the bytes are the same whichever way it runs.  When :func:`_aliases`, x is first copied to a buffer
    whose channels are one cache line further apart, then transposed from there: 2× faster on the (64, 64, 32, 32)
    maps of a DCGAN 64 × 64, slower where nothing aliases (results/speed.md, session 46)."""
    if _aliases(x):
        n, c, h, w = x.shape
        item = x.dtype.itemsize
        buf = numpy.empty((n, c, h * w + 64 // item), dtype=x.dtype)
        skewed = as_strided(buf, (n, c, h, w), (buf.strides[0], buf.strides[1], w * item, item))
        skewed[...] = x
        x = skewed
    out[...] = x.transpose(0, 2, 3, 1)
    return out


def _conv(x, W, stride, pad):
    """Convolution of x (N, C, H, W) with W (O, C, kh, kw); also returns the patch matrix and (Ho, Wo)."""
    o, c, kh, kw = W.shape
    cols, ho, wo = _patches(x, kh, kw, stride[0], stride[1], pad[0], pad[1])
    y = cols.dot(W.transpose(0, 2, 3, 1).reshape(o, -1).T)
    return numpy.ascontiguousarray(y.reshape(len(x), ho, wo, o).transpose(0, 3, 1, 2)), (cols, ho, wo)


def _deconv(x, W, stride, pad, outsize):
    """Transposed convolution of x (N, Ci, H, W) with W (Ci, Co, kh, kw) to spatial size ``outsize``."""
    ci, co, kh, kw = W.shape
    n, _, h, w = x.shape
    cols = _rows(x).dot(W.transpose(0, 2, 3, 1).reshape(ci, -1)).reshape(n, h, w, kh, kw, co)
    if co < w:
        scatter = _scatter_by_phase
    elif kh % stride[0] == 0 and kw % stride[1] == 0:
        scatter = _scatter_tap_blocks
    else:
        scatter = _scatter_channels_last
    return scatter(cols, stride, pad, outsize)


def _padded_size(cols, stride, pad, outsize):
    """(hp, wp): the zero-padded output that every tap of the (N, H, W, kh, kw, Co) columns lands in."""
    _, h, w, kh, kw, _ = cols.shape
    return (max(stride[0] * (h - 1) + kh, outsize[0] + 2 * pad[0]),
            max(stride[1] * (w - 1) + kw, outsize[1] + 2 * pad[1]))


def _scatter_channels_last(cols, stride, pad, outsize):
    """col2im of the columns (N, H, W, kh, kw, Co): tap (i, j) of input pixel (y, x) is added at padded pixel
    (i + sy·y, j + sx·x), taps in (i, j) order onto zeros; the padding is cut off; NCHW out."""
    n, h, w, kh, kw, co = cols.shape
    (sy, sx), (ph, pw) = stride, pad
    hp, wp = _padded_size(cols, stride, pad, outsize)
    out = numpy.zeros((n, hp, wp, co), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, i:i + sy * h:sy, j:j + sx * w:sx, :] += cols[:, :, :, i, j, :]
    out = out[:, ph:ph + outsize[0], pw:pw + outsize[1], :]
    return numpy.ascontiguousarray(out.transpose(0, 3, 1, 2))


# Output bytes of the images that :func:`_scatter_tap_blocks` accumulates at a time: one core's L2 here (512 KiB),
# so that their kh·kw/(sy·sx) passes of adds stay in cache (results/speed.md, session 47).
_SCATTER_CHUNK_BYTES = 512 * 1024


def _scatter_tap_blocks(cols, stride, pad, outsize):
    """:func:`_scatter_channels_last`, the same additions in the same order, for kernels a multiple of the stride.

    Tap i = sy·a + py of input row y lands on padded row sy·(y + a) + py.  With the padded output viewed as
    (N, Hp/sy, sy, Wp/sx, sx, Co), the sy·sx taps of one block (a, b), one per phase (py, px), are therefore ONE
    strided add whose innermost run is sx·Co contiguous values instead of Co: kh·kw/(sy·sx) passes instead of kh·kw.
    An output pixel receives only its own phase's taps, in (a, b) order, which is their (i, j) order, onto zeros:
    every value is the same sum in the same order, bit for bit.  Images go in groups whose output fits in one
    L2 (``_SCATTER_CHUNK_BYTES``); each group is summed, then copied to NCHW while it is still in cache.
    """
    n, h, w, kh, kw, co = cols.shape
    (sy, sx), (ph, pw) = stride, pad
    hp, wp = _padded_size(cols, stride, pad, outsize)
    hq, wq = -(-hp // sy), -(-wp // sx)
    # (N, H, sy, W, sx, kh/sy, kw/sx, Co): [n, y, py, x, px, a, b] is tap (sy·a + py, sx·b + px) of pixel (y, x)
    taps = cols.reshape(n, h, w, kh // sy, sy, kw // sx, sx, co).transpose(0, 1, 4, 2, 6, 3, 5, 7)
    out = numpy.empty((n, co) + tuple(outsize), dtype=cols.dtype)
    step = max(1, _SCATTER_CHUNK_BYTES // (hq * sy * wq * sx * co * cols.itemsize))
    for s in range(0, n, step):
        part = taps[s:s + step]
        acc = numpy.zeros((len(part), hq, sy, wq, sx, co), dtype=cols.dtype)
        for a in range(kh // sy):
            for b in range(kw // sx):
                acc[:, a:a + h, :, b:b + w] += part[:, :, :, :, :, a, b]
        acc = acc.reshape(len(part), hq * sy, wq * sx, co)
        out[s:s + step] = acc[:, ph:ph + outsize[0], pw:pw + outsize[1]].transpose(0, 3, 1, 2)
    return out


def _scatter_by_phase(cols, stride, pad, outsize):
    """:func:`_scatter_channels_last`, the same additions in the same order, for few output channels.

    A padded pixel P = i + sy·y is reached only by the taps i ≡ P (mod sy), so each phase (py, px) of the output
    is a dense (N, Co, ·, ·) grid of its own that receives its taps (py + sy·a, px + sx·b) in (i, j) order onto
    zeros, shifted by (a, b); the grids are then interleaved into the NCHW output.  Every output value is the
    same sum in the same order, so the result is identical bit for bit; the adds run along image rows instead of
    along the Co channels, which is 2.6–3.5× faster for the last layer of a generator (Co = 1 or 3) and slower when
    Co is not below the image width (measured on the DCGAN shapes; results/speed.md, session 39).
    """
    n, h, w, kh, kw, co = cols.shape
    (sy, sx), (ph, pw) = stride, pad
    hp, wp = _padded_size(cols, stride, pad, outsize)
    out = numpy.empty((n, co) + tuple(outsize), dtype=cols.dtype)
    for py in range(sy):
        for px in range(sx):
            oy, ox = (py - ph) % sy, (px - pw) % sx  # the first output pixel of this phase
            ny, nx = len(range(oy, outsize[0], sy)), len(range(ox, outsize[1], sx))
            if not ny or not nx:
                continue
            grid = numpy.zeros((n, co, -(-(hp - py) // sy), -(-(wp - px) // sx)), dtype=cols.dtype)
            for i in range(py, kh, sy):
                for j in range(px, kw, sx):
                    a, b = (i - py) // sy, (j - px) // sx
                    grid[:, :, a:a + h, b:b + w] += cols[:, :, :, i, j, :].transpose(0, 3, 1, 2)
            qy, qx = (oy + ph - py) // sy, (ox + pw - px) // sx
            out[:, :, oy::sy, ox::sx] = grid[:, :, qy:qy + ny, qx:qx + nx]
    return out


def _grad_w(x, gy, ksize, stride, pad, patches=None):
    """∂L/∂W (O, C, kh, kw) of a convolution of x (N, C, H, W) whose output gradient is gy (N, O, Ho, Wo);
    ``patches``: x's (patch matrix, Ho, Wo) if the convolution's forward pass already built them."""
    kh, kw = ksize
    cols, ho, wo = patches or _patches(x, kh, kw, stride[0], stride[1], pad[0], pad[1])
    gyr = _rows(gy[:, :, :ho, :wo])
    g = gyr.T.dot(cols).reshape(gy.shape[1], kh, kw, x.shape[1])
    return numpy.ascontiguousarray(g.transpose(0, 3, 1, 2))


class _Biased(function_node.FunctionNode):
    """forward(x, W[, b]) = ``self.compute(x, W)`` + b per channel; x and W are kept for backward."""

    def forward(self, inputs):
        self.retain_inputs((0, 1))
        y = self.compute(*inputs[:2])
        if len(inputs) == 3:
            y += inputs[2].reshape(1, -1, 1, 1)
        return y,


class _Conv(_Biased):
    """``keep_patches``: hold the patch matrix of x in ``self.patches`` for a weight gradient computed right after
    (a deconvolution's backward pass); its own backward builds it again, since holding every layer's patches from
    the forward to the backward pass cost a DCGAN 64 × 64 step 36 % more memory for no measurable time."""

    def __init__(self, stride, pad, keep_patches=False):
        self.stride, self.pad, self.keep_patches = stride, pad, keep_patches
        self.patches = None

    def compute(self, x, W):
        y, patches = _conv(x, W, self.stride, self.pad)
        if self.keep_patches:
            self.patches = patches
        return y

    def backward(self, indexes, grad_outputs):
        x, W = self.get_retained_inputs()
        gy, = grad_outputs
        out = []
        if 0 in indexes:
            out.append(deconvolution_2d(gy, W, None, self.stride, self.pad, x.shape[2:]))
        if 1 in indexes:
            out.append(_GradW(W.shape[2:], self.stride, self.pad).apply((x, gy))[0])
        if 2 in indexes:
            out.append(F.sum(gy, axis=(0, 2, 3)))
        return out


class _Deconv(_Biased):
    def __init__(self, stride, pad, outsize):
        self.stride, self.pad, self.outsize = stride, pad, outsize

    def compute(self, x, W):
        return _deconv(x, W, self.stride, self.pad, self.outsize)

    def backward(self, indexes, grad_outputs):
        x, W = self.get_retained_inputs()
        gy, = grad_outputs
        out, conv = [], _Conv(self.stride, self.pad, keep_patches=True)
        if 0 in indexes:  # gx = conv(gy, W); its patches of gy are those gW needs
            out.append(conv.apply((gy, W))[0])
        if 1 in indexes:
            out.append(_GradW(W.shape[2:], self.stride, self.pad, conv.patches).apply((gy, x))[0])
        conv.patches = None
        if 2 in indexes:
            out.append(F.sum(gy, axis=(0, 2, 3)))
        return out


class _GradW(function_node.FunctionNode):
    """gW = grad_w(x, gy); ``patches``: x's patch matrix, if a convolution's forward pass just built it."""

    def __init__(self, ksize, stride, pad, patches=None):
        self.ksize, self.stride, self.pad, self.patches = tuple(ksize), stride, pad, patches

    def forward(self, inputs):
        self.retain_inputs((0, 1))
        x, gy = inputs
        gw = _grad_w(x, gy, self.ksize, self.stride, self.pad, self.patches)
        self.patches = None  # not needed again: its own backward multiplies by ggW, not by the patches
        return gw,

    def backward(self, indexes, grad_outputs):
        x, gy = self.get_retained_inputs()
        ggw, = grad_outputs
        out = []
        if 0 in indexes:
            out.append(deconvolution_2d(gy, ggw, None, self.stride, self.pad, x.shape[2:]))
        if 1 in indexes:
            y = convolution_2d(x, ggw, None, self.stride, self.pad)
            out.append(y if y.shape == gy.shape else F.pad(y, [(0, 0), (0, 0), (0, gy.shape[2] - y.shape[2]),
                                                                (0, gy.shape[3] - y.shape[3])], 'constant'))
        return out


def convolution_2d(x, W, b=None, stride=1, pad=0):
    """``F.convolution_2d`` (no dilation, one group, cover_all False) as one GEMM on channels-last patches."""
    stride, pad = _pair(stride), _pair(pad)
    args = (x, W) if b is None else (x, W, b)
    return _Conv(stride, pad).apply(args)[0]


def deconvolution_2d(x, W, b=None, stride=1, pad=0, outsize=None):
    """``F.deconvolution_2d`` (W: (in, out, kh, kw)) as one GEMM and kh·kw strided adds."""
    stride, pad = _pair(stride), _pair(pad)
    h, w = x.shape[2:]
    if outsize is None or None in tuple(outsize):  # the links store (None, None)
        outsize = (stride[0] * (h - 1) + W.shape[2] - 2 * pad[0], stride[1] * (w - 1) + W.shape[3] - 2 * pad[1])
    args = (x, W) if b is None else (x, W, b)
    return _Deconv(stride, pad, tuple(int(v) for v in outsize)).apply(args)[0]


def _numpy_only(link, x):
    array = x.array if isinstance(x, chainer.Variable) else x
    return (isinstance(array, numpy.ndarray) and link.W.array is not None and
            _pair(getattr(link, 'dilate', 1)) == (1, 1) and getattr(link, 'groups', 1) == 1)


class Convolution2D(L.Convolution2D):
    """``L.Convolution2D`` that uses :func:`convolution_2d` on NumPy arrays (the GPU path is Chainer's)."""

    def forward(self, x):
        if self.W.array is None:
            self._initialize_params(x.shape[1])
        if not _numpy_only(self, x):
            return super().forward(x)
        return convolution_2d(x, self.W, self.b, self.stride, self.pad)


class Deconvolution2D(L.Deconvolution2D):
    """``L.Deconvolution2D`` that uses :func:`deconvolution_2d` on NumPy arrays (the GPU path is Chainer's)."""

    def forward(self, x):
        if self.W.array is None:
            self._initialize_params(x.shape[1])
        if not _numpy_only(self, x):
            return super().forward(x)
        return deconvolution_2d(x, self.W, self.b, self.stride, self.pad, self.outsize)
