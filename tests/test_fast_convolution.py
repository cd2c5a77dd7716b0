"""models.fast_convolution equals Chainer's own F.convolution_2d / F.deconvolution_2d (values and gradients,
first and second order) over strides, pads, odd sizes, batch 1 and non-contiguous inputs."""
import chainer
import chainer.functions as F
import numpy
import pytest
from chainer import gradient_check

import models.fast_convolution as fast
from models.fast_convolution import Convolution2D, Deconvolution2D, convolution_2d, deconvolution_2d

CASES = [  # n, c, h, w, out, k, stride, pad
    (2, 3, 7, 6, 4, 3, 1, 1),
    (1, 2, 9, 9, 3, 4, 2, 1),   # batch 1, odd size with stride 2 (the last row is not covered)
    (2, 3, 8, 8, 5, 4, 2, 1),   # DCGAN's 4x4 stride-2 pad-1
    (3, 2, 5, 7, 2, 2, 3, 0),   # stride 3, no pad, non-square
    (2, 3, 4, 3, 6, 4, 2, 1),   # more output channels than columns: the deconvolution's channels-last scatter
    (2, 5, 3, 5, 8, 3, 1, 2),   # stride 1, pad wider than the kernel's reach
    (2, 9, 16, 32, 10, 4, 2, 1),  # 9 and 10 channels 4 KiB apart (float64 16 x 32): the skewed channels-last copy
    (2, 3, 3, 2, 5, 3, 2, 1),   # a kernel not a multiple of the stride, Co >= W: the plain channels-last scatter
]


def _grads(fn, *arrays):
    vs = [chainer.Variable(a) for a in arrays]
    y = fn(*vs)
    gy = numpy.random.RandomState(9).standard_normal(y.shape)
    y.grad = gy
    y.backward()
    return y.array, [v.grad for v in vs]


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('contiguous', [True, False])
def test_convolution_equals_chainer(case, contiguous):
    n, c, h, w, o, k, s, p = case
    rng = numpy.random.RandomState(sum(case))
    x = rng.standard_normal((n, c, h, w))
    if not contiguous:  # a transposed view: the same values, other strides
        x = numpy.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
        assert not x.flags.c_contiguous
    W, b = rng.standard_normal((o, c, k, k)), rng.standard_normal(o)
    mine = _grads(lambda *a: convolution_2d(*a, stride=s, pad=p), x, W, b)
    ref = _grads(lambda *a: F.convolution_2d(*a, stride=s, pad=p), x, W, b)
    numpy.testing.assert_allclose(mine[0], ref[0], rtol=1e-12, atol=1e-12)
    for got, want in zip(mine[1], ref[1]):
        numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('case', CASES)
def test_deconvolution_equals_chainer(case):
    n, c, h, w, o, k, s, p = case
    rng = numpy.random.RandomState(sum(case) + 1)
    x, W, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((c, o, k, k)), rng.standard_normal(o)
    mine = _grads(lambda *a: deconvolution_2d(*a, stride=s, pad=p), x, W, b)
    ref = _grads(lambda *a: F.deconvolution_2d(*a, stride=s, pad=p), x, W, b)
    numpy.testing.assert_allclose(mine[0], ref[0], rtol=1e-12, atol=1e-12)
    for got, want in zip(mine[1], ref[1]):
        numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('case', CASES[:2] + CASES[3:])
def test_gradient_check_first_and_second_order(case):
    n, c, h, w, o, k, s, p = case
    rng = numpy.random.RandomState(3)
    x, W, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, k, k)), rng.standard_normal(o)
    conv = lambda x, W, b: convolution_2d(x, W, b, s, p)  # noqa: E731
    y = conv(x, W, b).array
    gy, ggx, ggW, ggb = (rng.standard_normal(a.shape) for a in (y, x, W, b))
    gradient_check.check_backward(conv, (x, W, b), gy, eps=1e-6, atol=1e-6, rtol=1e-6)
    gradient_check.check_double_backward(conv, (x, W, b), gy, (ggx, ggW, ggb), eps=1e-6, atol=1e-5, rtol=1e-5)
    Wd = rng.standard_normal((c, o, k, k))
    deconv = lambda x, W, b: deconvolution_2d(x, W, b, s, p)  # noqa: E731
    yd = deconv(x, Wd, b).array
    gyd = rng.standard_normal(yd.shape)
    gradient_check.check_backward(deconv, (x, Wd, b), gyd, eps=1e-6, atol=1e-6, rtol=1e-6)
    gradient_check.check_double_backward(deconv, (x, Wd, b), gyd, (ggx, rng.standard_normal(Wd.shape), ggb),
                                         eps=1e-6, atol=1e-5, rtol=1e-5)


def test_links_use_the_fast_path_on_numpy_and_match_chainer_links():
    rng = numpy.random.RandomState(5)
    x = rng.standard_normal((2, 3, 8, 8)).astype(numpy.float32)
    fast, stock = Convolution2D(3, 4, 4, 2, 1), chainer.links.Convolution2D(3, 4, 4, 2, 1)
    stock.W.array[...] = fast.W.array
    y = fast(x)
    assert y.creator.__class__.__name__ == '_Conv'
    numpy.testing.assert_allclose(y.array, stock(x).array, rtol=1e-5, atol=1e-5)
    up, stock_up = Deconvolution2D(3, 2, 4, 2, 1), chainer.links.Deconvolution2D(3, 2, 4, 2, 1)
    stock_up.W.array[...] = up.W.array
    z = up(x)
    assert z.creator.__class__.__name__ == '_Deconv' and z.shape == (2, 2, 16, 16)
    numpy.testing.assert_allclose(z.array, stock_up(x).array, rtol=1e-5, atol=1e-5)


def test_input_gradient_penalty_through_the_fast_path_equals_chainer():
    """WGAN-GP differentiates ‖∂D/∂x‖ w.r.t. W: the double backprop of a conv critic, fast vs stock."""
    rng = numpy.random.RandomState(8)
    x = rng.standard_normal((3, 2, 6, 6))
    W = rng.standard_normal((3, 2, 4, 4))

    def penalty(conv):
        xv, Wv = chainer.Variable(x), chainer.Variable(W)
        y = F.sum(F.tanh(conv(xv, Wv, None, 2, 1)))
        gx, = chainer.grad([y], [xv], enable_double_backprop=True)
        p = F.sum(gx ** 2)
        p.backward()
        return p.array, Wv.grad
    mine, ref = penalty(convolution_2d), penalty(F.convolution_2d)
    numpy.testing.assert_allclose(mine[0], ref[0], rtol=1e-10)
    numpy.testing.assert_allclose(mine[1], ref[1], rtol=1e-9, atol=1e-12)


SCATTERS = [  # n, h, w, kh, kw, co, stride, pad, outsize (None: the default)
    (2, 5, 6, 4, 4, 3, (2, 2), (1, 1), None),   # DCGAN's layer
    (1, 4, 4, 4, 4, 1, (2, 2), (1, 1), (9, 9)),  # an outsize one larger than the taps reach (conv backward)
    (3, 3, 5, 3, 2, 2, (3, 1), (0, 1), None),   # stride 3 x 1, no pad in y, non-square kernel
    (2, 4, 3, 2, 2, 5, (3, 3), (0, 0), None),   # stride above the kernel: phases with no tap
    (2, 6, 6, 5, 5, 4, (2, 2), (2, 2), None),
    (2, 3, 4, 3, 3, 2, (1, 1), (1, 1), None),
    (3, 4, 3, 4, 4, 6, (2, 2), (1, 1), None),   # DCGAN's layer with Co >= W
    (3, 3, 5, 6, 4, 5, (3, 2), (2, 0), (10, 12)),  # kernels 2 and 2 strides long, an outsize past the taps' reach
]
# the other scatters, with the image groups of _scatter_tap_blocks: one group, one image each, groups of 2 (+ 1)
ALTERNATIVES = [('_scatter_by_phase', None)] + [('_scatter_tap_blocks', images) for images in (None, 1, 2)]


def _tap_blocks_apply(case):
    n, h, w, kh, kw, co, stride, pad, outsize = case
    return kh % stride[0] == 0 and kw % stride[1] == 0


@pytest.mark.parametrize('case, scatter, images', [
    (case, scatter, images) for case in SCATTERS for scatter, images in ALTERNATIVES
    if scatter == '_scatter_by_phase' or _tap_blocks_apply(case)])
def test_deconvolution_scatters_add_the_same_terms_in_the_same_order(case, scatter, images, monkeypatch):
    """The phase-grid scatter (few output channels) and the tap-block scatter (kernels a multiple of the stride),
    in any image groups, are the channels-last one bit for bit, -0.0 included, on columns whose sums depend on the
    order of their terms (reversing the taps changes some of them)."""
    n, h, w, kh, kw, co, stride, pad, outsize = case
    if outsize is None:
        outsize = (stride[0] * (h - 1) + kh - 2 * pad[0], stride[1] * (w - 1) + kw - 2 * pad[1])
    rng = numpy.random.RandomState(sum(map(int, case[:6])))
    cols = (rng.standard_normal((n, h, w, kh, kw, co)) * 10.0 ** rng.randint(-4, 5, (n, h, w, kh, kw, co)))
    cols = cols.astype(numpy.float32)
    cols[0, 0, 0] = -0.0  # a pixel whose taps are all -0.0: 0 + (-0.0) is +0.0, as in the channels-last scatter
    want = fast._scatter_channels_last(cols, stride, pad, outsize)
    if images is not None:  # the bytes of that many images' padded output
        hp, wp = fast._padded_size(cols, stride, pad, outsize)
        image = -(-hp // stride[0]) * stride[0] * -(-wp // stride[1]) * stride[1] * co * cols.itemsize
        monkeypatch.setattr(fast, '_SCATTER_CHUNK_BYTES', images * image)
    got = getattr(fast, scatter)(cols, stride, pad, outsize)
    assert got.shape == want.shape == (n, co) + outsize and got.flags.c_contiguous
    assert got.tobytes() == want.tobytes()
    if max(kh // stride[0], 1) * max(kw // stride[1], 1) > 1:  # several taps per pixel: the order is visible
        reversed_taps = fast._scatter_channels_last(cols[:, :, :, ::-1, ::-1], stride, pad, outsize)
        assert reversed_taps.tobytes() != want.tobytes()


@pytest.mark.parametrize('x_shape, w_shape, picked', [
    ((2, 4, 3, 3), (4, 6, 4, 4), '_scatter_tap_blocks'),     # Co 6 >= W 3, a 4 x 4 kernel is 2 x 2 strides
    ((2, 4, 8, 8), (4, 3, 4, 4), '_scatter_by_phase'),       # Co 3 < W 8 (a generator's RGB layer)
    ((2, 4, 3, 2), (4, 5, 3, 3), '_scatter_channels_last'),  # Co >= W, a 3 x 3 kernel is not whole strides
    ((2, 4, 3, 2), (4, 5, 4, 3), '_scatter_channels_last'),  # 4 rows are 2 strides, 3 columns are not
])
def test_a_deconvolution_picks_its_scatter(x_shape, w_shape, picked, monkeypatch):
    calls = []
    for name in ('_scatter_tap_blocks', '_scatter_by_phase', '_scatter_channels_last'):
        monkeypatch.setattr(fast, name, lambda *a, name=name, real=getattr(fast, name): calls.append(name) or real(*a))
    rng = numpy.random.RandomState(5)
    x, W = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    y = deconvolution_2d(x, W, None, 2, 1)
    assert calls == [picked]
    numpy.testing.assert_allclose(y.array, F.deconvolution_2d(x, W, None, 2, 1).array, rtol=1e-12, atol=1e-12)


def test_a_deconvolution_backward_builds_the_patches_of_gy_once(monkeypatch):
    """A deconvolution's backward pass builds the patch matrix of gy once, for both gx = conv(gy, W) and gW (twice
    before session 39); a convolution builds x's in its forward pass and again for gW (nothing held in between)."""
    calls = []
    real = fast._patches
    monkeypatch.setattr(fast, '_patches', lambda *a: calls.append(a[0].shape) or real(*a))
    rng = numpy.random.RandomState(4)
    x = chainer.Variable(rng.standard_normal((2, 3, 8, 8)))
    W = chainer.Variable(rng.standard_normal((4, 3, 4, 4)))
    y = convolution_2d(x, W, None, 2, 1)
    assert y.creator.patches is None
    F.sum(y ** 2).backward()
    assert calls == [(2, 3, 8, 8), (2, 3, 8, 8)]
    Wd = chainer.Variable(rng.standard_normal((3, 4, 4, 4)))
    del calls[:]
    F.sum(deconvolution_2d(x, Wd, None, 2, 1) ** 2).backward()
    assert calls == [(2, 4, 16, 16)]
    for v in (x, W, Wd):
        assert v.grad is not None


def _random_bits(shape, dtype, seed):
    """Arrays of ``dtype`` whose bytes are random: NaNs with payloads, infinities, −0.0 and subnormals included."""
    raw = numpy.random.RandomState(seed).randint(0, 256, size=int(numpy.prod(shape)) * numpy.dtype(dtype).itemsize)
    return raw.astype(numpy.uint8).view(dtype).reshape(shape)


@pytest.mark.parametrize('shape, dtype, aliases', [
    ((3, 16, 32, 32), numpy.float32, True),    # channels 4 KiB apart
    ((2, 9, 64, 64), numpy.float32, True),     # 16 KiB apart, the fewest channels that alias
    ((2, 8, 32, 32), numpy.float32, False),    # 8 channels fit the 8 ways of an L1 set
    ((2, 3, 64, 64), numpy.float32, False),    # an RGB image
    ((2, 32, 16, 16), numpy.float32, False),   # 1 KiB apart
    ((2, 12, 16, 32), numpy.float64, True),
    ((2, 12, 32, 32), numpy.float16, False),   # 2 KiB apart
])
@pytest.mark.parametrize('layout', ['contiguous', 'sliced', 'padded out'])
def test_channels_last_copies_every_byte(shape, dtype, aliases, layout):
    """fast._channels_last is x.transpose(0, 2, 3, 1) byte for byte on either of its two paths, from a sliced x
    (channel stride kept, rows shorter) and into the interior of a zero-padded buffer (as ``_patches`` uses it)."""
    x = _random_bits(shape, dtype, seed=sum(shape))
    if layout == 'sliced':
        x = x[:, :, 1:, :-1]
    assert fast._aliases(x) is aliases
    want = numpy.ascontiguousarray(x.transpose(0, 2, 3, 1))
    n, c, h, w = x.shape
    if layout == 'padded out':
        padded = numpy.zeros((n, h + 2, w + 3, c), dtype=dtype)
        got = fast._channels_last(x, padded[:, 1:h + 1, 2:w + 2, :])
        assert got.base is padded or numpy.shares_memory(got, padded)
        rim = numpy.ones(padded.shape, bool)
        rim[:, 1:h + 1, 2:w + 2, :] = False
        assert not padded.view(numpy.uint8).reshape(padded.shape + (-1,))[rim].any()
        got = padded[:, 1:h + 1, 2:w + 2, :]
    else:
        got = fast._channels_last(x, numpy.empty((n, h, w, c), dtype=dtype))
    assert got.shape == want.shape
    assert numpy.ascontiguousarray(got).tobytes() == want.tobytes()
