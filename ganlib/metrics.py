"""Mode-coverage metrics for mixtures of Gaussians (VEEGAN, Srivastava et al. 2017 §5.1; PacGAN, Lin et al. 2018 §5).

Of N generated samples (2,500 in those papers):
* a sample is *high quality* if it lies within 3σ of its nearest mode;
* a mode is *captured* if it is the nearest mode of at least one high-quality sample;
* reverse KL: every sample is assigned to its nearest mode, giving a histogram q over the K modes;
  KL(q ‖ p) = Σ_k q_k log(q_k / p_k) with p uniform (1/K) and 0 log 0 = 0.  0 means perfectly balanced,
  log K means everything in one mode.

Two figures that do not credit a blob (issue 14):
* ``rev_kl_hq``: the same KL over the histogram of the *high-quality* samples only — the PacGAN code's
  definition (its ``MetricLogger`` counts a sample only within 3σ of its nearest mode; KL(q ‖ p) = log K − H(q)),
  so PacGAN's Table 1 is compared with this one;
* ``balanced_hq``: (1/K) Σ_k min(1, K · n_k / N), n_k the high-quality samples at mode k — each mode's share of
  the N/K samples it should hold that are high quality.  1 iff every mode holds its full share of
  high-quality samples; a blob that is mostly between the modes scores about its high-quality fraction, a
  collapse onto one perfect mode scores 1/K.
"""
import numpy


def nearest_modes(samples, means):
    """(index of the nearest mode, distance to it) for each sample."""
    samples = numpy.asarray(samples, dtype=numpy.float64)
    d = numpy.linalg.norm(samples[:, None, :] - numpy.asarray(means, dtype=numpy.float64)[None], axis=2)
    idx = d.argmin(axis=1)
    return idx, d[numpy.arange(len(samples)), idx]


def reverse_kl_uniform(counts):
    """KL(q ‖ uniform) for a histogram of counts (0 log 0 = 0)."""
    counts = numpy.asarray(counts, dtype=numpy.float64)
    total = counts.sum()
    if total <= 0:
        raise ValueError('reverse KL needs at least one sample')
    q = counts / total
    nz = q > 0
    return float(numpy.sum(q[nz] * numpy.log(q[nz] * len(q))))


def mode_metrics(samples, means, std, threshold=3.0):
    """Return a dict: ``modes`` captured, ``hq`` fraction of high-quality samples, ``rev_kl``, ``n_modes``,
    ``counts`` (histogram of nearest modes over all samples).  Non-finite samples count as low quality
    and are left out of the histogram."""
    samples = numpy.asarray(samples, dtype=numpy.float64)
    means = numpy.asarray(means, dtype=numpy.float64)
    if samples.ndim != 2 or samples.shape[1] != means.shape[1] or len(samples) == 0:
        raise ValueError('samples must be a non-empty (N, {}) array'.format(means.shape[1]))
    finite = numpy.all(numpy.isfinite(samples), axis=1)
    idx, dist = nearest_modes(samples[finite], means)
    hq = dist <= threshold * std
    k = len(means)
    counts = numpy.bincount(idx, minlength=k)
    hq_counts = numpy.bincount(idx[hq], minlength=k)
    worst = float(numpy.log(k))
    return {
        'modes': int(numpy.count_nonzero(hq_counts)),
        'n_modes': int(k),
        'hq': float(hq.sum()) / len(samples),
        'rev_kl': reverse_kl_uniform(counts) if counts.sum() > 0 else worst,
        'rev_kl_hq': reverse_kl_uniform(hq_counts) if hq_counts.sum() > 0 else worst,
        'balanced_hq': float(numpy.minimum(1.0, k * hq_counts / len(samples)).mean()),
        'counts': counts.tolist(),
        'hq_counts': hq_counts.tolist(),
    }
