"""Mode metrics on hand-made point sets."""
import numpy
import pytest

from ganlib.metrics import mode_metrics, reverse_kl_uniform
from ganlib.mog import grid, ring


def test_all_modes_exactly_on_the_means():
    mix = ring(std=0.02)
    pts = numpy.repeat(mix.means, 10, axis=0)
    m = mode_metrics(pts, mix.means, mix.std)
    assert m['modes'] == 8 and m['n_modes'] == 8
    assert m['hq'] == 1.0
    assert m['rev_kl'] == pytest.approx(0.0, abs=1e-12)


def test_one_mode_collapse():
    mix = grid()
    pts = numpy.tile(mix.means[7], (100, 1))
    m = mode_metrics(pts, mix.means, mix.std)
    assert m['modes'] == 1 and m['hq'] == 1.0
    assert m['rev_kl'] == pytest.approx(numpy.log(25))


def test_off_mode_points_are_low_quality_but_still_counted_in_kl():
    mix = ring(std=0.02)
    good = mix.means[:4]                       # 4 modes, exactly
    near = mix.means[4:6] + [0.059, 0.0]       # just inside 3σ = 0.06
    far = mix.means[6:8] * 0.5                 # halfway to the centre: nearest mode but far away
    m = mode_metrics(numpy.concatenate([good, near, far]), mix.means, mix.std)
    assert m['modes'] == 6
    assert m['hq'] == pytest.approx(6 / 8)
    assert m['counts'] == [1] * 8 and m['rev_kl'] == pytest.approx(0.0, abs=1e-12)


def test_reverse_kl_hand_computed():
    # q = (1/2, 1/2, 0, 0) against uniform over 4: 2 · ½ log(½ · 4) = log 2
    assert reverse_kl_uniform([5, 5, 0, 0]) == pytest.approx(numpy.log(2))
    with pytest.raises(ValueError):
        reverse_kl_uniform([0, 0])


def test_nan_samples_are_low_quality():
    mix = ring()
    pts = numpy.array([[numpy.nan, 0.0], mix.means[0]])
    m = mode_metrics(pts, mix.means, mix.std)
    assert m['hq'] == 0.5 and m['modes'] == 1


def test_bad_shapes():
    with pytest.raises(ValueError):
        mode_metrics(numpy.zeros((3, 3)), ring().means, 0.1)
    with pytest.raises(ValueError):
        mode_metrics(numpy.zeros((0, 2)), ring().means, 0.1)


def test_the_high_quality_figures_on_a_blob_and_on_a_collapse():
    """A blob spread over the ring's disc is credited with most modes but scores low on ``balanced_hq``;
    ``rev_kl_hq`` is the KL of the high-quality histogram alone (hand-counted here)."""
    mix = ring(std=0.02)
    rng = numpy.random.RandomState(0)
    blob = rng.uniform(-2.0, 2.0, (2500, 2))
    m = mode_metrics(blob, mix.means, mix.std)
    assert m['modes'] >= 5 and m['hq'] < 0.02
    assert m['balanced_hq'] == pytest.approx(numpy.mean(numpy.minimum(1, 8 * numpy.array(m['hq_counts']) / 2500)))
    assert m['balanced_hq'] < 0.02
    # 3 high-quality points at mode 0, 1 at mode 1, 4 far from every mode (nearest mode 2)
    pts = numpy.concatenate([numpy.repeat(mix.means[:1], 3, 0), mix.means[1:2], numpy.repeat(mix.means[2:3] * 0.5, 4, 0)])
    m = mode_metrics(pts, mix.means, mix.std)
    assert m['hq_counts'] == [3, 1, 0, 0, 0, 0, 0, 0] and m['counts'] == [3, 1, 4, 0, 0, 0, 0, 0]
    q = numpy.array([0.75, 0.25])
    assert m['rev_kl_hq'] == pytest.approx(float(numpy.sum(q * numpy.log(q * 8))))
    # balanced: mode 0 holds 3 of the 1 expected (capped at 1), mode 1 holds 1 of 1 → (1 + 1) / 8
    assert m['balanced_hq'] == pytest.approx(2 / 8)
    collapse = mode_metrics(numpy.tile(mix.means[3], (80, 1)), mix.means, mix.std)
    assert collapse['balanced_hq'] == pytest.approx(1 / 8) and collapse['rev_kl_hq'] == pytest.approx(numpy.log(8))
    perfect = mode_metrics(numpy.repeat(mix.means, 10, axis=0), mix.means, mix.std)
    assert perfect['balanced_hq'] == 1.0 and perfect['rev_kl_hq'] == pytest.approx(0.0, abs=1e-12)
