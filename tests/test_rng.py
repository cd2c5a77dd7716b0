"""ganlib.rng.RandomStream: one counter-based stream for numpy and cupy, float32, saved in snapshots."""
import chainer
import numpy
import pytest

from ganlib.rng import RandomStream, as_stream


def _cupy_works():
    try:
        import cupy
        cupy.zeros(1)
        return True
    except Exception:
        return False


def _round_trip(stream):
    saved = {}
    stream.serialize(chainer.serializers.DictionarySerializer(saved))
    path_free = {k: numpy.asarray(v) for k, v in saved.items()}
    fresh = RandomStream(123)
    fresh.serialize(chainer.serializers.NpzDeserializer(path_free))
    return fresh


def test_same_state_same_numbers_and_the_counter_advances():
    a, b = RandomStream(7), RandomStream(7)
    x = a.normal((3, 4))
    assert x.dtype == numpy.float32 and x.shape == (3, 4) and a.counter == 1
    numpy.testing.assert_array_equal(x, b.normal((3, 4)))
    assert not numpy.array_equal(a.normal((3, 4)), x)  # draw 2 differs from draw 1
    assert not numpy.array_equal(RandomStream(8).normal((3, 4)), x)  # another key differs


def test_draws_are_philox_keyed_by_seed_and_counter():
    """The definition, checked against numpy's Philox directly: draw c of key k is Philox(key=(k, c))."""
    s = RandomStream(42)
    s.normal((5,))
    got = s.uniform(-1.0, 1.0, (6,))
    ref = numpy.random.Generator(numpy.random.Philox(key=numpy.array([42, 2], numpy.uint64))).random(
        (6,), dtype=numpy.float32) * 2.0 - 1.0
    numpy.testing.assert_array_equal(got, ref.astype(numpy.float32))


def test_distributions():
    s = RandomStream(0)
    z = s.normal((200000,))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    u = s.uniform(-1.0, 1.0, (200000,))
    assert u.dtype == numpy.float32 and u.min() >= -1.0 and u.max() < 1.0 and abs(u.mean()) < 0.01
    k = s.integers(8, (100000,))
    assert k.min() == 0 and k.max() == 7 and numpy.all(numpy.bincount(k) > 12000)


def test_serialized_stream_continues_exactly():
    s = RandomStream(5)
    s.normal((2,))
    s.normal((2,))
    restored = _round_trip(s)
    assert restored.state() == s.state()
    numpy.testing.assert_array_equal(restored.normal((10,)), s.normal((10,)))


def test_forks_are_independent_and_seeds_validated():
    base = RandomStream(3)
    f0, f1 = base.fork(0), base.fork(1)
    assert len({f0.key, f1.key, base.key}) == 3
    assert not numpy.array_equal(f0.normal((8,)), f1.normal((8,)))
    assert base.fork(1).key == f1.key  # deterministic
    with pytest.raises(ValueError, match='>= 0'):
        RandomStream(-5)
    assert as_stream(base) is base and as_stream(9).key == 9


@pytest.mark.skipif(not _cupy_works(), reason='needs CuPy and a GPU')
def test_cupy_draws_on_the_device_and_resume_exactly():
    import cupy
    s = RandomStream(11)
    x = s.normal((1000,), cupy)
    assert isinstance(x, cupy.ndarray) and x.dtype == numpy.float32
    assert abs(float(x.mean())) < 0.15
    u = s.uniform(0.0, 1.0, (1001,), cupy)  # odd size
    assert isinstance(u, cupy.ndarray) and float(u.min()) >= 0 and float(u.max()) < 1
    restored = _round_trip(s)
    cupy.testing.assert_array_equal(restored.normal((7,), cupy), s.normal((7,), cupy))
    again = RandomStream(11)
    cupy.testing.assert_array_equal(again.normal((1000,), cupy), x)
