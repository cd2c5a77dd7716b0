"""models.fast_convolution equals Chainer's own F.convolution_2d / F.deconvolution_2d (values and gradients,
first and second order) over strides, pads, odd sizes, batch 1 and non-contiguous inputs."""
import chainer
import chainer.functions as F
import numpy
import pytest
from chainer import gradient_check

from models.fast_convolution import Convolution2D, Deconvolution2D, convolution_2d, deconvolution_2d

CASES = [  # n, c, h, w, out, k, stride, pad
    (2, 3, 7, 6, 4, 3, 1, 1),
    (1, 2, 9, 9, 3, 4, 2, 1),   # batch 1, odd size with stride 2 (the last row is not covered)
    (2, 3, 8, 8, 5, 4, 2, 1),   # DCGAN's 4x4 stride-2 pad-1
    (3, 2, 5, 7, 2, 2, 3, 0),   # stride 3, no pad, non-square
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
