"""Mixture data sets and their iterator."""
import chainer
import numpy
import pytest

from ganlib.mog import MixtureIterator, double_ring, grid, make_mixture, ring
from ganlib.rng import RandomStream


def test_ring_has_eight_distinct_modes_at_radius_two():
    mix = ring()
    assert mix.n_modes == 8
    numpy.testing.assert_allclose(numpy.linalg.norm(mix.means, axis=1), 2.0)
    assert len(numpy.unique(mix.means.round(6), axis=0)) == 8
    # same set as (r cos 2πi/8, r sin 2πi/8)
    a = 2 * numpy.pi * numpy.arange(8) / 8
    other = numpy.stack([2 * numpy.cos(a), 2 * numpy.sin(a)], 1)
    assert numpy.abs(mix.means[:, None] - other[None]).sum(2).min(1).max() < 1e-9
    numpy.testing.assert_allclose(mix.means[0], [0.0, -2.0], atol=1e-12)  # angle −π/2 first


def test_double_ring_and_grid():
    dr = double_ring()
    r = numpy.linalg.norm(dr.means, axis=1)
    numpy.testing.assert_allclose(r, [1, 2] * 5)
    g = grid()
    assert g.n_modes == 25
    assert sorted(set(g.means[:, 0])) == [-4, -2, 0, 2, 4]


def test_std_default_and_original_bug():
    assert make_mixture('ring').std == 0.2
    assert make_mixture('ring', original_std_bug=True).std == pytest.approx(0.04)
    assert make_mixture('grid').std == 0.05
    with pytest.raises(ValueError):
        make_mixture('spiral')
    with pytest.raises(ValueError):
        make_mixture('ring', std=-1)


def test_samples_have_the_right_spread_and_all_modes():
    mix = ring(std=0.1)
    x, modes = mix.sample(20000, RandomStream(0), return_modes=True)
    assert x.dtype == numpy.float32 and x.shape == (20000, 2)
    assert len(numpy.unique(modes)) == 8
    resid = x - mix.means[modes]
    assert resid.std() == pytest.approx(0.1, rel=0.03)


def test_iterator_epochs_and_exact_resume():
    it = MixtureIterator(ring(), 10, batches_per_epoch=4, seed=3)
    for _ in range(6):
        it.next()
    assert it.epoch == 1 and it.epoch_detail == pytest.approx(1.5) and not it.is_new_epoch
    saved = {}
    s = chainer.serializers.DictionarySerializer(saved)
    it.serialize(s)
    expected = [it.next() for _ in range(3)]
    other = MixtureIterator(ring(), 10, batches_per_epoch=4, seed=99)
    other.serialize(chainer.serializers.NpzDeserializer(saved))
    assert other.count == 6
    for e in expected:
        numpy.testing.assert_array_equal(other.next(), e)
