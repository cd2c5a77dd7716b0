"""Penalties and constraints of the stabilisation toolbox, each usable with any updater and model.

* :func:`gradient_penalty` — WGAN-GP (Gulrajani et al. 2017, Eq. 3), by double back-propagation.
* :func:`r1_penalty` — R1, the zero-centred penalty on real data (Mescheder et al. 2018, Eq. 9).
* :class:`WeightClipping` — WGAN's clip of the critic's parameters to [−c, c] (Arjovsky et al. 2017, Alg. 1).
* :func:`add_spectral_norm` — spectral normalisation (Miyato et al. 2018) via ``chainer.link_hooks``.
* :func:`orthogonal_regularization` / :class:`OrthogonalRegularization` — BigGAN's relaxed
  orthogonal regularisation (Brock et al. 2019, §3.1, Eq. 3).
* :class:`HistoricalAveraging` — Salimans et al. 2016, §3.3.
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.link_hooks  # noqa: F401  (not imported by `import chainer`)
import chainer.links as L
from chainer import backend


def interpolate(x_real, x_fake, eps):
    """x̂ = ε x + (1 − ε) x̃ with one ε ∈ [0, 1] per example (broadcast over the other axes)."""
    eps = eps.reshape((-1,) + (1,) * (x_real.ndim - 1)).astype(x_real.dtype)
    return eps * x_real + (1 - eps) * x_fake


def gradient_penalty(dis, x_real, x_fake, rng, lam=10.0, center=1.0):
    """WGAN-GP penalty (Gulrajani et al. 2017, Eq. 3, Algorithm 1 lines 6–7):

        λ E_x̂ [(‖∇_x̂ D(x̂)‖₂ − 1)²],   x̂ = ε x + (1 − ε) x̃,   ε ~ U[0, 1] per example.

    ``x_real``/``x_fake`` are arrays (the fake batch is detached); ε is drawn on the arrays' device from ``rng`` (a ``RandomStream``).
    The input gradient is taken with ``enable_double_backprop=True``, so the returned Variable
    back-propagates into D's parameters.  Returns ``(penalty, gradient_norms)``.
    """
    xp = backend.get_array_module(x_real)
    x_real = getattr(x_real, 'array', x_real)
    x_fake = getattr(x_fake, 'array', x_fake)
    eps = rng.uniform(0.0, 1.0, (len(x_real),), xp, x_real.dtype)
    x_hat = chainer.Variable(interpolate(x_real, x_fake, eps))
    y = dis(x_hat)
    grad, = chainer.grad([F.sum(y)], [x_hat], enable_double_backprop=True)
    grad = F.reshape(grad, (len(x_real), -1))
    norms = F.sqrt(F.batch_l2_norm_squared(grad) + 1e-12)
    return lam * F.mean((norms - center) ** 2), norms


def r1_penalty(dis, x_real, gamma=10.0):
    """R1 (Mescheder et al. 2018, "Which training methods for GANs do actually converge?", Eq. 9):

        γ/2 E_{x ~ p_data} ‖∇_x D(x)‖₂²,   on the real batch only (no interpolates, no random draws).

    StyleGAN's FFHQ runs use it with the non-saturating loss and γ = 10 (Karras et al. 2019, App. C).  The
    input gradient is taken with ``enable_double_backprop=True``, so the penalty back-propagates into D.
    Returns ``(penalty, squared gradient norms)``.
    """
    x = chainer.Variable(getattr(x_real, 'array', x_real))
    grad, = chainer.grad([F.sum(dis(x))], [x], enable_double_backprop=True)
    squared = F.batch_l2_norm_squared(F.reshape(grad, (len(x.array), -1)))
    return 0.5 * gamma * F.mean(squared), squared


class WeightClipping(object):
    """Optimizer hook (timing ``post``): after every update, θ ← clip(θ, −c, c) for all parameters
    (WGAN, Arjovsky et al. 2017, Algorithm 1 line 7; c = 0.01 in the paper)."""
    name = 'WeightClipping'
    timing = 'post'
    call_for_each_param = True

    def __init__(self, threshold=0.01):
        if not threshold > 0:
            raise ValueError('weight clipping threshold must be positive, got {}'.format(threshold))
        self.threshold = float(threshold)

    def __call__(self, rule, param):
        p = param.array
        if p is None:
            return
        backend.get_array_module(p).clip(p, -self.threshold, self.threshold, out=p)


def add_spectral_norm(link, rng, n_power_iteration=1, skip=()):
    """Put ``chainer.link_hooks.SpectralNormalization`` on every Linear/Convolution2D/Deconvolution2D
    inside ``link`` (Miyato et al. 2018: W_SN = W / σ(W), σ by power iteration, one step per forward).

    The power-iteration vector u is drawn here from ``rng`` (Chainer draws it from the global RNG on
    the first forward), so that runs are reproducible and u is a registered persistent from the start:
    snapshots, ``--resume`` and the unrolled update's cache all carry it.  ``skip``: link paths to leave
    alone.  Returns the list of hooked paths.
    """
    hooked = []
    for path, sub in link.namedlinks():
        if path in skip or not isinstance(sub, (L.Linear, L.Convolution2D, L.Deconvolution2D)):
            continue
        if sub.W.array is None:
            raise ValueError('spectral normalisation needs initialised weights ({} has none yet)'.format(path))
        hook = chainer.link_hooks.SpectralNormalization(n_power_iteration=n_power_iteration)
        sub.add_hook(hook)
        u = getattr(sub, hook.vector_name)
        u[...] = sub.xp.asarray(rng.standard_normal(u.shape).astype(u.dtype))
        hooked.append(path)
    return hooked


def spectral_norm_hooks(link):
    """(path, hook) of every spectral-normalisation hook inside ``link``."""
    out = []
    for path, sub in link.namedlinks():
        for hook in sub.local_link_hooks.values():
            if isinstance(hook, chainer.link_hooks.SpectralNormalization):
                out.append((path, hook))
    return out


def filter_axis(link):
    """The axis of ``link.W`` that indexes output filters: 1 for ``Deconvolution2D`` (Chainer's layout is
    (in, out, kh, kw)), 0 for ``Linear`` and ``Convolution2D`` ((out, in[, kh, kw]))."""
    return 1 if isinstance(link, L.Deconvolution2D) else 0


def orthogonal_regularization(W, beta=1e-4, out_axis=0):
    """BigGAN's relaxed orthogonal regularisation (Brock et al. 2019, §3.1, Eq. 3):

        R_β(W) = β ‖W Wᵀ ⊙ (1 − I)‖²_F

    with W reshaped to (filters, everything else), the filters indexed by ``out_axis`` (:func:`filter_axis`):
    filters are pushed towards orthogonality, their norms are free.
    """
    if out_axis:
        W = F.moveaxis(W, out_axis, 0)
    m = F.reshape(W, (W.shape[0], -1))
    xp = backend.get_array_module(m.array if hasattr(m, 'array') else m)
    off_diagonal = 1 - xp.eye(m.shape[0], dtype=m.dtype)
    return beta * F.sum((F.matmul(m, m, transb=True) * off_diagonal) ** 2)


class OrthogonalRegularization(object):
    """Optimizer hook (timing ``pre``): adds ∇R_β(W) = 4β (W Wᵀ ⊙ (1 − I)) W to the gradient of every
    weight with ≥ 2 axes (biases, gains and 1-D parameters are left out, as in BigGAN, and so are class
    embeddings — ``L.EmbedID`` tables, e.g. conditional batch norm's — which BigGAN's code blacklists), W's rows
    being the layer's output filters (:func:`filter_axis`: a deconvolution's are on axis 1).

    This is the exact gradient of :func:`orthogonal_regularization`; BigGAN-PyTorch's ``ortho`` adds
    2β(…)W, i.e. its β is twice ours."""
    name = 'OrthogonalRegularization'
    timing = 'pre'
    call_for_each_param = False

    def __init__(self, beta=1e-4):
        if not beta > 0:
            raise ValueError('orthogonal regularisation strength must be positive, got {}'.format(beta))
        self.beta = float(beta)

    def __call__(self, optimizer):
        for link in optimizer.target.links():
            if isinstance(link, L.EmbedID):
                continue
            axis = filter_axis(link)
            for name in sorted(link._params):
                param = getattr(link, name)
                p, g = param.array, param.grad
                if p is None or g is None or p.ndim < 2:
                    continue
                xp = backend.get_array_module(p)
                moved = xp.moveaxis(p, axis, 0)
                w = moved.reshape(moved.shape[0], -1)
                gram = w.dot(w.T) * (1 - xp.eye(w.shape[0], dtype=w.dtype))
                step = (4 * self.beta * gram.dot(w)).reshape(moved.shape)
                g += xp.moveaxis(step, 0, axis).astype(g.dtype)


class HistoricalAveraging(object):
    """Salimans et al. 2016, §3.3: each player's cost gets λ ‖θ − θ̄‖², θ̄ = (1/(t+1)) Σ_{i=0}^t θ[i] the
    average of the parameters after each of the t updates so far (θ[0]: the initial parameters).

    Optimizer hook (timing ``pre``): grad += 2λ (θ − θ̄), θ̄ a constant, as in the paper's online form;
    after every update the companion ``post`` hook does t ← t + 1, θ̄ ← θ̄ + (θ − θ̄)/(t + 1).  The running
    means and t are saved by ``serialize`` (the updaters call it), so ``--resume`` is exact.
    """
    name = 'HistoricalAveraging'
    timing = 'pre'
    call_for_each_param = False

    def __init__(self, lam=1e-3):
        if not lam > 0:
            raise ValueError('historical averaging weight must be positive, got {}'.format(lam))
        self.lam = float(lam)
        self.t = 0
        self.means = None

    def _ensure(self, link):
        if self.means is None:
            self.means = {path: p.array.copy() for path, p in link.namedparams() if p.array is not None}

    def __call__(self, optimizer):
        link = optimizer.target
        self._ensure(link)
        for path, p in link.namedparams():
            if p.grad is not None and path in self.means:
                p.grad += (2 * self.lam * (p.array - self.means[path])).astype(p.grad.dtype)

    def after_update(self, optimizer):
        link = optimizer.target
        self._ensure(link)
        self.t += 1
        for path, p in link.namedparams():
            if path in self.means:
                self.means[path] += (p.array - self.means[path]) / (self.t + 1)

    def penalty(self, link):
        """λ ‖θ − θ̄‖² summed over parameters (for logging and tests)."""
        self._ensure(link)
        return self.lam * sum(float(((p.array - self.means[path]) ** 2).sum())
                              for path, p in link.namedparams() if path in self.means)

    def serialize(self, serializer, link):
        self._ensure(link)
        self.t = serializer('t', self.t)
        for path in sorted(self.means):
            serializer(path.strip('/').replace('/', '.') or 'root', self.means[path])


class _AfterUpdate(object):
    """Post-update companion of :class:`HistoricalAveraging` (an optimizer hook has one timing)."""
    timing = 'post'
    call_for_each_param = False

    def __init__(self, owner):
        self.owner = owner
        self.name = owner.name + '_post'

    def __call__(self, optimizer):
        self.owner.after_update(optimizer)


def add_historical_averaging(optimizer, lam):
    """Attach :class:`HistoricalAveraging` (both its ``pre`` and ``post`` parts) to ``optimizer``."""
    hook = HistoricalAveraging(lam)
    optimizer.add_hook(hook, timing='pre')
    optimizer.add_hook(_AfterUpdate(hook), timing='post')
    return hook


def truncate(z, threshold, rng):
    """Truncation trick (Brock et al. 2019, §3.1): every entry with |z| > ``threshold`` is redrawn from
    N(0, 1) until it falls inside; entries already inside are left exactly as they are.
    ``z`` is a numpy or cupy float array (not modified); ``rng`` a :class:`ganlib.rng.RandomStream`."""
    if not threshold > 0:
        raise ValueError('truncation threshold must be positive, got {}'.format(threshold))
    xp = backend.get_array_module(z)
    z = z.copy()
    out = xp.abs(z) > threshold
    while bool(out.any()):  # one host sync per round: used for sampling, not in the training loop
        z = xp.where(out, rng.normal(z.shape, xp, z.dtype), z)
        out = xp.abs(z) > threshold
    return z
