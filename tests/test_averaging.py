"""Polyak averaging of D's parameters for evaluation (ganlib/averaging.py)."""
import chainer
import chainer.links as L
import numpy
import pytest

from ganlib.averaging import ParameterAverage


def test_running_mean_then_exponential_average():
    rng = numpy.random.RandomState(0)
    link = L.Linear(3, 2, initialW=rng.randn(2, 3).astype(numpy.float32))
    ext = ParameterAverage(link, rate=0.25)
    history = [link.W.array.astype(numpy.float64).copy()]
    expected = history[0].copy()
    for t in range(1, 8):
        link.W.array[...] = rng.randn(2, 3)
        history.append(link.W.array.astype(numpy.float64).copy())
        ext()
        r = max(0.25, 1.0 / (t + 1))
        expected = expected + r * (history[-1] - expected)
        if t <= 3:  # r = 1/(t+1): the plain mean of θ_0 … θ_t
            numpy.testing.assert_allclose(expected, numpy.mean(history, axis=0), rtol=1e-12)
        numpy.testing.assert_allclose(ext.average.W.array, expected, rtol=1e-5, atol=1e-6)
    assert ext.average.W is not link.W and ext.t == 7


def test_persistents_are_copied_not_averaged():
    link = chainer.Sequential(L.Linear(2, 2), L.BatchNormalization(2))
    ext = ParameterAverage(link, rate=0.5)
    link[1].avg_mean[...] = [3.0, -1.0]
    link[1].N = 7
    ext()
    numpy.testing.assert_array_equal(ext.average[1].avg_mean, [3.0, -1.0])
    assert ext.average[1].N == 7


def test_rate_must_be_a_fraction():
    with pytest.raises(ValueError, match='rate'):
        ParameterAverage(L.Linear(2, 2), 0)


def test_noisy_discriminators_can_be_copied_with_their_noise_state():
    import copy
    from models import PaperSSLDiscriminator, SSLDiscriminator
    x = numpy.random.RandomState(1).uniform(-1, 1, (4, 784)).astype(numpy.float32)
    for dis in (SSLDiscriminator(hidden=(8, 4), rng=numpy.random.RandomState(0)),
                PaperSSLDiscriminator(hidden=(8, 4), rng=numpy.random.RandomState(0))):
        dis(x)  # advance the noise generator
        twin = copy.deepcopy(dis)
        numpy.testing.assert_array_equal(dis(x).array, twin(x).array)  # same parameters, same noise draws
