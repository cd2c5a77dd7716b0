"""Sample-quality numbers: Fréchet distance, Inception-style score, class-mode histograms and mode KL.

All functions take plain numpy arrays (features or class probabilities computed elsewhere), so they are
the same for the MNIST classifier's features and for a user-supplied face feature extractor.
"""
import warnings

import numpy
import scipy.linalg


def feature_statistics(features):
    """Mean and covariance (rows = samples, unbiased as numpy.cov) of a (N, D) feature matrix."""
    f = numpy.asarray(features, dtype=numpy.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError('need a (N, D) feature matrix with N >= 2, got shape {}'.format(f.shape))
    return f.mean(axis=0), numpy.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂) (Heusel et al. 2017, Eq. 6; Dowson & Landau 1982):

        d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2})

    ``scipy.linalg.sqrtm`` of Σ₁Σ₂; if the product is singular (non-finite root), ε·I is added to both
    covariances, as in the TTUR reference code; a small imaginary part from round-off is dropped.  Where the
    root still has a large imaginary part (rank-deficient covariances: fewer samples than feature
    dimensions), the trace is taken in the symmetric form Tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}, which has the same
    value for positive semi-definite Σ's and only real, non-negative eigenvalues.
    """
    mu1, mu2 = numpy.atleast_1d(mu1).astype(numpy.float64), numpy.atleast_1d(mu2).astype(numpy.float64)
    sigma1, sigma2 = numpy.atleast_2d(sigma1).astype(numpy.float64), numpy.atleast_2d(sigma2).astype(numpy.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError('mean/covariance shapes do not match: {} {} {} {}'.format(
            mu1.shape, sigma1.shape, mu2.shape, sigma2.shape))
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1.dot(sigma2))
    if not numpy.isfinite(covmean).all():
        offset = numpy.eye(len(mu1)) * eps
        covmean = _sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if numpy.iscomplexobj(covmean):
        imag = numpy.abs(covmean.imag).max()
        if imag > 1e-3 * max(1.0, numpy.abs(covmean.real).max()):
            return float(diff.dot(diff) + numpy.trace(sigma1) + numpy.trace(sigma2) -
                         2 * symmetric_sqrt_trace(sigma1, sigma2))
        covmean = covmean.real
    return float(diff.dot(diff) + numpy.trace(sigma1) + numpy.trace(sigma2) - 2 * numpy.trace(covmean))


def _psd_sqrt(m):
    w, v = numpy.linalg.eigh((m + m.T) / 2)
    return (v * numpy.sqrt(numpy.clip(w, 0, None))).dot(v.T)


def symmetric_sqrt_trace(sigma1, sigma2):
    """Tr (Σ₁Σ₂)^{1/2} = Tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2} for positive semi-definite Σ₁, Σ₂ (by eigh)."""
    s1 = _psd_sqrt(sigma1)
    m = s1.dot(sigma2).dot(s1)
    return float(numpy.sqrt(numpy.clip(numpy.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())


def _sqrtm(m):
    with warnings.catch_warnings():  # singular products are handled by the caller (ε·I offset)
        warnings.simplefilter('ignore')
        out = scipy.linalg.sqrtm(m)
    return out[0] if isinstance(out, tuple) else out


def frechet_distance_of_features(features1, features2):
    """Fréchet distance between the Gaussian fits of two feature sets (FID when the features are Inception's)."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))


def inception_score(probs, splits=10, eps=1e-12):
    """Salimans et al. 2016, §4: IS = exp(E_x KL(p(y|x) ‖ p(y))), p(y) the mean of p(y|x) over the split;
    returns (mean, std) over ``splits`` equal splits (the reference code's protocol).
    1 for a constant prediction; the number of classes for confident predictions spread uniformly."""
    p = numpy.asarray(probs, dtype=numpy.float64)
    if p.ndim != 2 or len(p) < splits:
        raise ValueError('need (N, classes) probabilities with N >= splits, got shape {}'.format(p.shape))
    scores = []
    for part in numpy.array_split(p, splits):
        py = part.mean(axis=0, keepdims=True)
        kl = (part * (numpy.log(part + eps) - numpy.log(py + eps))).sum(axis=1)
        scores.append(numpy.exp(kl.mean()))
    return float(numpy.mean(scores)), float(numpy.std(scores))


def mode_histogram(predictions, n_modes):
    """Counts of each predicted class/mode 0..n_modes−1."""
    pred = numpy.asarray(predictions).astype(numpy.int64).ravel()
    if pred.size and (pred.min() < 0 or pred.max() >= n_modes):
        raise ValueError('predictions must lie in [0, {})'.format(n_modes))
    return numpy.bincount(pred, minlength=n_modes)


def modes_and_kl(predictions, n_modes):
    """VEEGAN / PacGAN protocol: (modes captured = modes predicted at least once,
    KL(q ‖ uniform) with q the histogram of predicted modes; 0 for a perfectly even histogram)."""
    counts = mode_histogram(predictions, n_modes)
    q = counts / max(1, counts.sum())
    nz = q > 0
    kl = float((q[nz] * numpy.log(q[nz] * n_modes)).sum())
    return int(nz.sum()), kl
