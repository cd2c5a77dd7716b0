"""Weight initialisers named by short strings (``he:0.8``, ``normal:0.01``, ``lecun``) with their own RNG."""
import ganlib.compat  # noqa: F401

from chainer import initializers


def make_initializer(spec, rng=None):
    """Return a Chainer initializer for ``spec``.

    ``he[:scale]`` → HeNormal(scale) (the unrolled post: he:0.8),
    ``normal[:std]`` → Normal(std) (the LSGAN post: normal:0.01),
    ``lecun`` → LeCunNormal, ``orthogonal[:scale]`` → Orthogonal, ``glorot[:scale]`` → GlorotUniform
    (Lasagne's default, used by the Improved-GAN code).
    ``rng`` (a numpy/cupy RandomState) makes the draw reproducible without global state.
    """
    name, _, arg = str(spec).partition(':')
    try:
        scale = float(arg) if arg else None
    except ValueError:
        raise ValueError('bad initializer spec {!r}: scale must be a number'.format(spec))
    if scale is not None and not scale > 0:
        raise ValueError('bad initializer spec {!r}: scale must be > 0'.format(spec))
    kw = {'rng': rng} if rng is not None else {}
    if name == 'he':
        return initializers.HeNormal(scale=scale or 1.0, **kw)
    if name == 'normal':
        return initializers.Normal(scale=scale or 0.05, **kw)
    if name == 'lecun':
        return initializers.LeCunNormal(scale=scale or 1.0, **kw)
    if name == 'orthogonal':
        return initializers.Orthogonal(scale=scale or 1.0, **kw)
    if name == 'glorot':
        return initializers.GlorotUniform(scale=scale or 1.0, **kw)
    raise ValueError('unknown initializer {!r} (choose he, normal, lecun, orthogonal, glorot)'.format(spec))
