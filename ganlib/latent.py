"""Latent-space walks for the analogy figure: linear and spherical interpolation, vector arithmetic."""
import numpy


def lerp(a, b, t):
    """(1 − t) a + t b."""
    return (1.0 - t) * a + t * b


def slerp(a, b, t, eps=1e-7):
    """Spherical linear interpolation (Shoemake 1985; White 2016, "Sampling Generative Networks"):
    sin((1 − t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b, Ω the angle between a and b; linear where Ω ≈ 0 or π."""
    a, b = numpy.asarray(a, dtype=numpy.float64), numpy.asarray(b, dtype=numpy.float64)
    cos = numpy.dot(a, b) / max(numpy.linalg.norm(a) * numpy.linalg.norm(b), eps)
    omega = numpy.arccos(numpy.clip(cos, -1.0, 1.0))
    if numpy.sin(omega) < eps:
        return lerp(a, b, t)
    return (numpy.sin((1.0 - t) * omega) * a + numpy.sin(t * omega) * b) / numpy.sin(omega)


def interpolation_rows(starts, ends, steps, mode='linear'):
    """(rows × steps, z_dim) latents: row r walks from starts[r] to ends[r] in ``steps`` points."""
    if steps < 2:
        raise ValueError('an interpolation needs at least 2 steps, got {}'.format(steps))
    if mode not in ('linear', 'slerp'):
        raise ValueError('unknown interpolation {!r} (choose linear, slerp)'.format(mode))
    fn = lerp if mode == 'linear' else slerp
    ts = numpy.linspace(0.0, 1.0, steps)
    return numpy.stack([fn(a, b, t) for a, b in zip(starts, ends) for t in ts])


def arithmetic(a, b, c):
    """The analogy a − b + c (Radford et al. 2016, §6.3 uses averages of three latents per concept)."""
    return a - b + c
