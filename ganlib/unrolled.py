"""Unrolled GAN machinery (Metz et al. 2017, "Unrolled Generative Adversarial Networks", §2.2).

Two variants of the surrogate generator objective f_K(θ_G, θ_D) = f(θ_G, θ_D^K(θ_G, θ_D)):

* first order (the unrolled post's code): take K discriminator optimizer steps in place, cache θ_D^(1)
  after the first, update G against θ_D^(K) treating it as a constant, then restore θ_D ← θ_D^(1)
  (:class:`WeightCache`).  The gradient misses the term ∂f/∂θ_D^K · dθ_D^K/dθ_G of Eq. 12.
* second order (the paper's full gradient, Eq. 12): the K steps are built as differentiable functions
  of θ_G (:func:`unroll_discriminator`), so G's gradient back-propagates through them, via
  ``chainer.grad(..., enable_double_backprop=True)``.
"""
import contextlib

import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
from chainer import backend, optimizers


def _copy(array):
    return None if array is None else array.copy()


def _persistents(link):
    for path, sub in link.namedlinks():
        for name in sorted(sub._persistent):
            yield path, sub, name


class WeightCache(object):
    """Snapshot and in-place restore of a link's state and its optimizer's state.

    ``save()`` copies (on the arrays' own device, numpy or cupy) every parameter, every persistent value
    (e.g. batch-norm running statistics) and, if ``optimizer`` is given, the optimizer's step count and
    every update rule's step count and state (Adam's m and v).  ``restore()`` writes them back *in place*,
    so the optimizer keeps pointing at the same arrays.

    The posts' original code cached parameters only: Adam's moments and step count then absorb the
    discarded look-ahead steps.  ``include_optimizer=False, include_persistents=False`` reproduces that.
    """

    def __init__(self, link, optimizer=None, include_optimizer=True, include_persistents=True):
        self.link = link
        self.optimizer = optimizer if include_optimizer else None
        self.include_persistents = include_persistents
        self._params = None

    @property
    def saved(self):
        return self._params is not None

    def save(self):
        self._params = {path: _copy(p.array) for path, p in self.link.namedparams()}
        self._persist = {}
        if self.include_persistents:
            for path, sub, name in _persistents(self.link):
                value = getattr(sub, name)
                self._persist[(path, name)] = _copy(value) if hasattr(value, 'copy') else value
        self._opt = None
        if self.optimizer is not None:
            rules = {}
            for path, p in self.link.namedparams():
                rule = p.update_rule
                if rule is None:
                    continue
                state = rule.state
                rules[path] = (rule.t, None if state is None else {k: _copy(v) for k, v in state.items()})
            self._opt = (self.optimizer.t, self.optimizer.epoch, rules)

    def restore(self):
        if not self.saved:
            raise RuntimeError('WeightCache.restore() called before save()')
        for path, p in self.link.namedparams():
            cached = self._params[path]
            if cached is not None:
                backend.copyto(p.array, cached)
        for (path, name), cached in self._persist.items():
            sub = self.link if path == '/' else dict(self.link.namedlinks())[path]
            current = getattr(sub, name)
            if hasattr(current, 'shape') and hasattr(cached, 'shape'):
                backend.copyto(current, cached)
            else:
                setattr(sub, name, _copy(cached) if hasattr(cached, 'copy') else cached)
        if self._opt is not None:
            self.optimizer.t, self.optimizer.epoch, rules = self._opt
            for path, p in self.link.namedparams():
                if path not in rules:
                    continue
                rule = p.update_rule
                rule.t, state = rules[path]
                if state is None:
                    rule._state = None
                elif rule.state is None:
                    rule._state = {k: _copy(v) for k, v in state.items()}
                else:
                    for k, v in state.items():
                        backend.copyto(rule.state[k], v)


@contextlib.contextmanager
def substituted_params(link, values):
    """Temporarily make ``link`` compute with ``values`` (path → Variable) instead of its parameters.

    Outside ``init_scope`` Chainer's ``Link.__setattr__`` only sets the attribute, so a sub-link's
    ``forward`` reads the substituted Variable; the parameters are put back on exit.
    """
    links = dict(link.namedlinks())
    saved = []
    try:
        for path, value in values.items():
            owner_path, _, name = path.rpartition('/')
            owner = links[owner_path or '/']
            saved.append((owner, name, owner.__dict__[name]))
            object.__setattr__(owner, name, value)
        yield
    finally:
        for owner, name, param in reversed(saved):
            object.__setattr__(owner, name, param)


class _DifferentiableStep(object):
    """One optimizer step θ ← θ − Δ(g) written with Chainer functions, so it can be differentiated.

    Adam (Kingma & Ba 2015, Alg. 1, in Chainer's form lr_t = α √(1−β₂ᵗ)/(1−β₁ᵗ)) starting from the
    optimizer's current moments, or SGD.  √v is computed as √(v + 1e-16) so that its derivative stays
    finite where v = 0 (a parameter that never had a gradient); elsewhere this changes nothing.
    """

    def __init__(self, optimizer, link):
        self.optimizer = optimizer
        if isinstance(optimizer, optimizers.Adam):
            self.kind = 'adam'
        elif type(optimizer) is optimizers.SGD:
            self.kind = 'sgd'
        else:
            raise ValueError('second-order unrolling supports Adam and SGD, not {}'.format(
                type(optimizer).__name__))
        self.state = {}
        for path, p in link.namedparams():
            rule = p.update_rule
            st = rule.state if rule is not None else None
            xp = backend.get_array_module(p.array)
            if st is None or 'm' not in st:
                m, v = xp.zeros_like(p.array), xp.zeros_like(p.array)
            else:  # after a --resume the moments are CPU arrays until the optimizer's first update
                device = backend.get_device_from_array(p.array)
                m, v = device.send(st['m']), device.send(st['v'])
            self.state[path] = [m, v, rule.t if rule is not None else 0, rule.hyperparam if rule else None]

    def __call__(self, path, theta, grad):
        m, v, t, hp = self.state[path]
        if self.kind == 'sgd':
            return theta - hp.lr * grad
        t += 1
        m = m + (1 - hp.beta1) * (grad - m)
        v = v + (1 - hp.beta2) * (grad * grad - v)
        lr = hp.alpha * (1 - hp.beta2 ** t) ** 0.5 / (1 - hp.beta1 ** t)
        self.state[path] = [m, v, t, hp]
        return theta - lr * m / (F.sqrt(v + 1e-16) + hp.eps)


def unroll_discriminator(dis, dis_optimizer, d_loss_fn, batches):
    """θ_D^(1), …, θ_D^(K) as differentiable functions (Metz et al. 2017, Eq. 6–7).

    ``d_loss_fn(dis, x_real, x_fake)`` gives the discriminator loss; ``batches`` is a list of K pairs
    (x_real, x_fake) whose fakes are *not* detached from G.  Returns ``(params_K, first_grads, first_loss)``: the
    path → Variable dict of θ_D^(K), and the gradient arrays of the first step (what the ordinary
    optimizer update of D uses, so that D itself moves to θ_D^(1) exactly as in the plain update), and the first
    step's loss value (an array; no extra forward pass, which would draw noise and move BN statistics again).
    """
    step = _DifferentiableStep(dis_optimizer, dis)
    current = dict(dis.namedparams())
    paths = list(current)
    first_grads = None
    for x_real, x_fake in batches:
        with substituted_params(dis, current):
            loss = d_loss_fn(dis, x_real, x_fake)
        grads = chainer.grad([loss], [current[p] for p in paths], enable_double_backprop=True)
        grads = [g if g is not None else chainer.Variable(dis.xp.zeros_like(current[p].array))
                 for p, g in zip(paths, grads)]
        if first_grads is None:
            first_grads = {p: g.array.copy() for p, g in zip(paths, grads)}
            first_loss = loss.array.copy()
        current = {p: step(p, current[p], g) for p, g in zip(paths, grads)}
    return current, first_grads, first_loss
