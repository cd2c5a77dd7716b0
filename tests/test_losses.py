"""Losses vs hand computation."""
import chainer
import numpy
import pytest

from ganlib.losses import LSGANLoss, StandardGANLoss, feature_matching_loss, get_loss, parse_abc


def softplus(x):
    return numpy.log1p(numpy.exp(x))


Y_REAL = numpy.array([2.0, -1.0, 0.5, 0.0])
Y_FAKE = numpy.array([-3.0, 1.5, 0.2, -0.7])


def test_standard_gan_loss_is_binary_cross_entropy():
    loss = StandardGANLoss()
    sig = lambda x: 1 / (1 + numpy.exp(-x))  # noqa: E731
    d = -numpy.mean(numpy.log(sig(Y_REAL))) - numpy.mean(numpy.log(1 - sig(Y_FAKE)))
    g = -numpy.mean(numpy.log(sig(Y_FAKE)))
    assert float(loss.d_loss(Y_REAL, Y_FAKE).array) == pytest.approx(d, rel=1e-12)
    assert float(loss.g_loss(Y_FAKE).array) == pytest.approx(g, rel=1e-12)


def test_standard_gan_loss_is_stable_for_large_logits():
    big = numpy.array([1000.0, -1000.0], numpy.float32)
    v = float(StandardGANLoss().d_loss(big, -big).array)
    assert numpy.isfinite(v) and v == pytest.approx(1000.0, rel=1e-5)  # mean 500 + mean 500


@pytest.mark.parametrize('abc', [(0, 1, 1), (-1, 1, 0)])
def test_lsgan_loss(abc):
    a, b, c = abc
    loss = LSGANLoss(a, b, c)
    d = 0.5 * numpy.mean((Y_REAL - b) ** 2) + 0.5 * numpy.mean((Y_FAKE - a) ** 2)
    g = 0.5 * numpy.mean((Y_FAKE - c) ** 2)
    assert float(loss.d_loss(Y_REAL, Y_FAKE).array) == pytest.approx(d, rel=1e-12)
    assert float(loss.g_loss(Y_FAKE).array) == pytest.approx(g, rel=1e-12)


def test_feature_matching_loss_and_gradient_flow():
    rng = numpy.random.RandomState(0)
    h_real = chainer.Variable(rng.randn(5, 3))
    h_fake = chainer.Variable(rng.randn(4, 3))
    loss = feature_matching_loss(h_real, h_fake)
    expected = numpy.sum((h_real.array.mean(0) - h_fake.array.mean(0)) ** 2)
    assert float(loss.array) == pytest.approx(expected, rel=1e-12)
    loss.backward()
    assert h_real.grad is None  # real statistics are a target, not trained through
    numpy.testing.assert_allclose(h_fake.grad,
                                  numpy.tile(-2 * (h_real.array.mean(0) - h_fake.array.mean(0)) / 4, (4, 1)))


def test_get_loss_and_parse_abc():
    assert isinstance(get_loss('gan'), StandardGANLoss)
    ls = get_loss('lsgan', (-1.0, 1.0, 0.0))
    assert (ls.a, ls.b, ls.c) == (-1.0, 1.0, 0.0)
    assert parse_abc('-1,1,0') == (-1.0, 1.0, 0.0)
    with pytest.raises(ValueError):
        get_loss('wgan-xyz')
    for bad in ('1,2', 'a,b,c', ''):
        with pytest.raises(ValueError):
            parse_abc(bad)
