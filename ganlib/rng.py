"""One seeded random stream for numpy and cupy arrays, float32 draws, saved in snapshots.

A :class:`RandomStream` is counter-based (Salmon et al. 2011, "Parallel random numbers: as easy as
1, 2, 3"): draw number ``c`` of the stream with key ``k`` comes from a fresh Philox-4x64 generator
keyed by ``(k, c)`` on the CPU (``numpy.random.Philox``) or a cuRAND Philox-4x32-10 generator seeded
with a hash of ``(k, c)`` on the GPU.  Its whole state is the pair ``(key, counter)``, so

* draws are made on the device the arrays live on (no host draw and copy every step);
* ``serialize`` stores two integers, and ``--resume`` continues the same numbers on the device the
  snapshot was written on (numpy and cupy give different numbers for the same state);
* a stream can be split per data-parallel rank with :meth:`fork` without any overlap.

Every draw of training — latents z, noise layers, the WGAN-GP's ε, mixture-of-Gaussians batches —
goes through one of these.  One-time draws (weight initialisation, data splits, shuffling orders)
keep ``numpy.random.RandomState``.
"""
import numpy

_MASK = (1 << 64) - 1


def _mix(key, counter):
    """A 64-bit seed for cuRAND from (key, counter) (numpy's SeedSequence hash)."""
    return int(numpy.random.SeedSequence([key, counter]).generate_state(1, numpy.uint64)[0])


class RandomStream(object):
    """``RandomStream(seed)``: ``normal``, ``uniform`` and ``integers`` on ``xp`` (numpy or cupy),
    float32 by default; ``counter`` counts the draws made so far."""

    def __init__(self, seed, counter=0):
        seed = int(seed)
        if seed < 0:
            raise ValueError('a random seed must be >= 0, got {}'.format(seed))
        self.key = seed & _MASK
        self.counter = int(counter)
        self._cupy_rng = None

    def fork(self, index):
        """An independent stream for ``index`` (e.g. a data-parallel rank), keyed by (key, index)."""
        return RandomStream(_mix(self.key, (1 << 40) + int(index)))

    def generator(self, xp=numpy):
        """The generator of the next draw (advances the counter)."""
        self.counter += 1
        if xp is numpy:
            return numpy.random.Generator(numpy.random.Philox(
                key=numpy.array([self.key, self.counter], dtype=numpy.uint64)))
        if self._cupy_rng is None:
            from cupy.cuda import curand
            self._cupy_rng = xp.random.RandomState(0, method=curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)
        self._cupy_rng.seed(_mix(self.key, self.counter))  # re-seeding also resets cuRAND's offset
        return self._cupy_rng

    def normal(self, shape, xp=numpy, dtype=numpy.float32):
        """N(0, 1) of ``shape`` on ``xp``."""
        return self.generator(xp).standard_normal(shape, dtype=dtype)

    def uniform(self, low, high, shape, xp=numpy, dtype=numpy.float32):
        """U[low, high) of ``shape`` on ``xp``."""
        g = self.generator(xp)
        u = g.random(shape, dtype=dtype) if xp is numpy else g.random_sample(shape, dtype=dtype)
        return (u * (high - low) + low).astype(dtype, copy=False)

    def integers(self, high, shape, xp=numpy):
        """Integers in [0, high) of ``shape`` on ``xp``."""
        g = self.generator(xp)
        return g.integers(0, high, shape) if xp is numpy else g.randint(0, high, shape)

    def state(self):
        return self.key, self.counter

    def serialize(self, serializer):
        """(De)serialise the stream's (key, counter) with a Chainer serializer, in place."""
        key = serializer('key', numpy.uint64(self.key))
        counter = serializer('counter', numpy.int64(self.counter))
        if key is not None:
            self.key, self.counter = int(key), int(counter)


def as_stream(rng):
    """``rng`` if it is a :class:`RandomStream`, else a stream seeded with the integer ``rng``."""
    return rng if isinstance(rng, RandomStream) else RandomStream(rng)
