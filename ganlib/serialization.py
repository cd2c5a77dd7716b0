"""Serialisation helpers: RNG states travel inside Chainer snapshots so that ``--resume`` is exact."""
import ganlib.compat  # noqa: F401

import chainer
import numpy


def serialize_random_state(serializer, rng):
    """(De)serialise a ``numpy.random.RandomState`` with a Chainer serializer, in place."""
    name, keys, pos, has_gauss, cached = rng.get_state()
    keys = numpy.array(keys, dtype=numpy.uint32)
    keys = serializer('keys', keys)
    pos = serializer('pos', int(pos))
    has_gauss = serializer('has_gauss', int(has_gauss))
    cached = serializer('cached_gaussian', float(cached))
    if isinstance(serializer, chainer.serializer.Deserializer):
        rng.set_state((name, numpy.asarray(keys, dtype=numpy.uint32), int(pos), int(has_gauss), float(cached)))
