"""Mixtures of 2-D Gaussians (the posts' toy data) and an infinite Chainer iterator over them.

* ``ring``: n modes on a circle, mode k at angle 2πk/n − π/2 (the original code; for n = 8 the same
  set as (r cos 2πk/8, r sin 2πk/8)).  Note ``linspace(0, 2π, 8)`` would give only 7 distinct modes.
* ``double_ring``: 10 modes 36° apart, radius 1 for even k and 2 for odd k (the post's second data set).
* ``grid``: 5 × 5 modes at {−4, −2, 0, 2, 4}² (VEEGAN/PacGAN).

``std`` is the standard deviation σ of every component.  The posts' original sampler passed σ² where
σ was meant (so "std 0.2" drew with σ = 0.04); ``original_std_bug=True`` reproduces that.
"""
import ganlib.compat  # noqa: F401

import chainer
import numpy
from chainer import backend

from ganlib.rng import as_stream

DEFAULT_STD = {'ring': 0.2, 'double_ring': 0.2, 'grid': 0.05}
DATASETS = tuple(DEFAULT_STD)


class GaussianMixture(object):
    """Equal-weight mixture of isotropic Gaussians N(μ_k, σ² I)."""

    def __init__(self, means, std, name='mixture'):
        self.means = numpy.asarray(means, dtype=numpy.float64)
        if self.means.ndim != 2 or len(self.means) == 0:
            raise ValueError('means must be a non-empty (K, D) array')
        if not std > 0:
            raise ValueError('std must be positive, got {}'.format(std))
        self.std = float(std)
        self.name = name

    @property
    def n_modes(self):
        return len(self.means)

    @property
    def scale(self):
        """Largest distance of a mode from the origin (the D input scale of the unrolled post)."""
        return float(numpy.max(numpy.linalg.norm(self.means, axis=1)))

    @property
    def extent(self):
        """Plot limits: [−4, 4] as in the posts, widened to fit all modes."""
        return max(4.0, float(numpy.abs(self.means).max()) + 2.0)

    def sample(self, n, rng, return_modes=False, xp=numpy):
        """``n`` float32 points on ``xp`` (and their mode indices), drawn from ``rng`` (a ``RandomStream``)."""
        modes = rng.integers(self.n_modes, (n,), xp)
        means = self._means_on(xp)
        x = means[modes] + numpy.float32(self.std) * rng.normal((n, self.means.shape[1]), xp)
        return (x, modes) if return_modes else x

    def _means_on(self, xp):
        cached = getattr(self, '_device_means', None)
        if cached is None or backend.get_array_module(cached) is not xp:
            self._device_means = xp.asarray(self.means.astype(numpy.float32))
        return self._device_means

def ring(n_modes=8, radius=2.0, std=0.2):
    k = numpy.arange(n_modes)
    angle = 2 * numpy.pi * k / n_modes - numpy.pi / 2
    means = numpy.stack([radius * numpy.cos(angle), radius * numpy.sin(angle)], axis=1)
    return GaussianMixture(means, std, 'ring')


def double_ring(n_modes=10, radius=2.0, std=0.2):
    k = numpy.arange(n_modes)
    angle = 2 * numpy.pi * k / n_modes - numpy.pi / 2
    r = numpy.where(k % 2 == 0, radius / 2.0, radius)
    means = numpy.stack([r * numpy.cos(angle), r * numpy.sin(angle)], axis=1)
    return GaussianMixture(means, std, 'double_ring')


def grid(side=5, spacing=2.0, std=0.05):
    coords = (numpy.arange(side) - (side - 1) / 2.0) * spacing
    xx, yy = numpy.meshgrid(coords, coords, indexing='ij')
    return GaussianMixture(numpy.stack([xx.ravel(), yy.ravel()], axis=1), std, 'grid')


def make_mixture(name, std=None, radius=None, original_std_bug=False):
    """Build data set ``name`` (one of ``DATASETS``); ``std=None`` takes its documented default."""
    if name not in DEFAULT_STD:
        raise ValueError('unknown data set {!r} (choose {})'.format(name, ', '.join(DATASETS)))
    std = DEFAULT_STD[name] if std is None else float(std)
    if not std > 0:
        raise ValueError('std must be positive, got {}'.format(std))
    if original_std_bug:
        std = std ** 2
    if radius is not None and not radius > 0:
        raise ValueError('radius must be positive, got {}'.format(radius))
    if name == 'ring':
        return ring(8, 2.0 if radius is None else radius, std)
    if name == 'double_ring':
        return double_ring(10, 2.0 if radius is None else radius, std)
    return grid(5, 2.0 if radius is None else radius, std)


class MixtureIterator(chainer.dataset.Iterator):
    """Infinite iterator of fresh (batch_size, 2) float32 batches from a mixture, drawn on ``device``.

    An "epoch" is ``batches_per_epoch`` batches (500 in the posts).  Its RNG state is serialised, so a
    resumed run draws the same batches as an uninterrupted one.
    """

    def __init__(self, mixture, batch_size, batches_per_epoch=500, seed=0, device=None):
        if batch_size <= 0 or batches_per_epoch <= 0:
            raise ValueError('batch_size and batches_per_epoch must be positive')
        self.mixture = mixture
        self.batch_size = batch_size
        self.batches_per_epoch = batches_per_epoch
        self.rng = as_stream(seed)
        self.xp = device.xp if device is not None else numpy
        self.count = 0

    def __next__(self):
        self.count += 1
        return self.mixture.sample(self.batch_size, self.rng, xp=self.xp)

    next = __next__

    @property
    def epoch(self):
        return self.count // self.batches_per_epoch

    @property
    def epoch_detail(self):
        return self.count / self.batches_per_epoch

    @property
    def previous_epoch_detail(self):
        return (self.count - 1) / self.batches_per_epoch if self.count > 0 else None

    @property
    def is_new_epoch(self):
        return self.count > 0 and self.count % self.batches_per_epoch == 0

    def serialize(self, serializer):
        self.count = serializer('count', self.count)
        self.rng.serialize(serializer['rng'])


@chainer.dataset.converter()
def array_converter(batch, device):
    """The iterator already yields one array per batch: just send it to ``device``."""
    return device.send(batch)
