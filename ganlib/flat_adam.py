"""Adam whose step on NumPy parameters runs once over all of a link's parameters instead of once per parameter.

Chainer's ``Adam.update`` calls an update rule per parameter: about 45 µs of Python per parameter on this
machine, 0.46 ms of a 3.2 ms mixture-of-Gaussians update.  :class:`FlatAdam` lays the parameters, Adam's m
and v out as views into three flat arrays, copies the gradients into a fourth, and applies Chainer 7.8.1's own
``AdamRule.update_core_cpu`` arithmetic (Kingma & Ba 2015, Alg. 1, in Chainer's form
α_t = α √(1 − β₂ᵗ) / (1 − β₁ᵗ)) to the flat arrays, one cache-sized chunk at a time.  The arithmetic is
element-wise, so every number is bit-identical to Chainer's per-parameter step; every rule's step count and state
stay where Chainer keeps them, so snapshots, ``--resume`` and :class:`ganlib.unrolled.WeightCache` see an ordinary Adam.

The flat step is taken only where it is exactly Chainer's: NumPy arrays of one float dtype, no optimizer or
update-rule hooks, no loss scaling, no per-parameter hyper-parameters, no AMSGrad/AdaBound, every rule's state
initialised and all step counts equal.  Otherwise (the first step, CuPy arrays: the GPU path is unchanged) it
is Chainer's own ``Adam.update``.
"""
import ganlib.compat  # noqa: F401

import chainer
import numpy
from chainer.optimizers.adam import _inplace_axpby

# Elements of each flat array per pass of the in-place step: 256 KiB of float32.  Measured on this 2-core EPYC
# (results/speed.md, session 48): D of the SSL nets (1.41 M parameters) 11 → 6.3 ms a step; chunks of 32 Ki to
# 256 Ki elements were within 18 % of each other (6.1–7.2 ms).
CHUNK = 65536


class FlatAdam(chainer.optimizers.Adam):
    """``chainer.optimizers.Adam`` with one flat step over all NumPy parameters (see the module)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._flat = None

    def _flat_rules(self):
        """(params, rules) when the flat step is Chainer's step exactly, else None."""
        hp = self.hyperparam
        if (hp.amsgrad or hp.adabound or self._loss_scale is not None or self._use_fp32_update
                or self._hookable._pre_update_hooks or self._hookable._post_update_hooks):
            return None
        params = list(self.target.params())
        if not params:
            return None
        dtype = params[0].dtype
        rules = []
        for p in params:
            rule = p.update_rule
            array = p.array
            if (rule is None or not rule.enabled or rule.state is None or type(array) is not numpy.ndarray
                    or array.dtype != dtype or dtype.kind != 'f' or dtype == numpy.float16
                    or len(rule.hyperparam.__dict__) > 1  # a per-parameter hyper-parameter besides _parent
                    or rule._use_fp32_update or rule._hookable._pre_update_hooks
                    or rule._hookable._post_update_hooks):
                return None
            rules.append(rule)
        if any(rule.t != rules[0].t for rule in rules):
            return None
        return params, rules

    def _layout(self, params, rules):
        """The flat arrays (θ, m, v, g) with params' arrays and rules' m, v as views; reused while nothing
        has replaced those arrays (a resume, ``to_device``), else rebuilt from the current values."""
        if self._flat is not None:
            views, flats = self._flat
            if len(views) == len(params) and all(
                    p.array is a and r.state['m'] is m and r.state['v'] is v
                    for p, r, (a, m, v) in zip(params, rules, views)):
                return flats
        sizes = [p.array.size for p in params]
        offsets = numpy.cumsum([0] + sizes)
        flats = [numpy.concatenate([a.ravel() for a in arrays]) for arrays in
                 ([p.array for p in params], [r.state['m'] for r in rules], [r.state['v'] for r in rules])]
        flats.append(numpy.empty_like(flats[0]))  # the gradients
        views = []
        for p, r, lo, hi in zip(params, rules, offsets[:-1], offsets[1:]):
            shape = p.array.shape
            a, m, v = (flat[lo:hi].reshape(shape) for flat in flats[:3])
            p.array, r.state['m'], r.state['v'] = a, m, v
            views.append((a, m, v))
        self._flat = (views, flats)
        return flats

    def update(self, lossfun=None, *args, **kwds):
        found = None if lossfun is not None else self._flat_rules()
        if found is None:
            return super().update(lossfun, *args, **kwds)
        params, rules = found
        self.reallocate_cleared_grads()
        theta, m, v, grad = self._layout(params, rules)
        numpy.concatenate([p.grad.ravel() for p in params], out=grad)
        self.t += 1
        for rule in rules:
            rule.t += 1
        hp = self.hyperparam
        rules[0]._check_eps(params[0].dtype.type)
        alpha_t = rules[0].alpha_t
        scalars = (alpha_t, hp.beta1, hp.beta2, hp.eps, hp.eta, hp.weight_decay_rate)
        if all(type(c) in (float, int) for c in scalars):  # Python numbers: weak scalars, no promotion
            _adam_step_in_place(theta, m, v, grad, self._scratch(theta), alpha_t, hp)
        else:  # NumPy scalars may promote: AdamRule.update_core_cpu's own expressions, on the flat arrays
            _inplace_axpby(m, 1.0, 1.0 - hp.beta1, grad - m)
            _inplace_axpby(v, 1.0, 1.0 - hp.beta2, grad * grad - v)
            step = alpha_t / (numpy.sqrt(v) + hp.eps)
            _inplace_axpby(theta, 1.0 - hp.eta * hp.weight_decay_rate, -hp.eta, step * m)

    def _scratch(self, like):
        """Two buffers of one chunk (see :data:`CHUNK`) in ``like``'s dtype, reused from step to step."""
        n = min(like.size, CHUNK)
        if getattr(self, '_buffers', None) is None or self._buffers[0].shape != (n,) or \
                self._buffers[0].dtype != like.dtype:
            self._buffers = (numpy.empty(n, like.dtype), numpy.empty(n, like.dtype))
        return self._buffers


def _adam_step_in_place(theta, m, v, grad, scratch, alpha_t, hp):
    """AdamRule.update_core_cpu with Python-float constants on flat arrays, a chunk of :data:`CHUNK` elements at a
    time, every intermediate written into ``scratch`` (two arrays of at least one chunk).  The step is element-wise,
    so it gives the same numbers in chunks as in one pass; in one pass each of its twelve operations streams
    every array through memory, in chunks they stay in the core's cache."""
    a, b = scratch
    for lo in range(0, theta.size, CHUNK):
        hi = min(lo + CHUNK, theta.size)
        _adam_chunk(theta[lo:hi], m[lo:hi], v[lo:hi], grad[lo:hi], a[:hi - lo], b[:hi - lo], alpha_t, hp)


def _adam_chunk(theta, m, v, grad, a, b, alpha_t, hp):
    """The same operations on the same float32/64 values as AdamRule.update_core_cpu, so the same numbers,
    without allocating arrays of the parameters' size seven times a step:

        m += (1 − β₁)(g − m);   v += (1 − β₂)(g² − v);   θ ← (1 − η·wd)·θ − η · α_t / (√v + ε) · m
    """
    numpy.subtract(grad, m, out=a)
    numpy.multiply(a, 1.0 - hp.beta1, out=a)
    m += a
    numpy.multiply(grad, grad, out=a)
    numpy.subtract(a, v, out=a)
    numpy.multiply(a, 1.0 - hp.beta2, out=a)
    v += a
    numpy.sqrt(v, out=a)
    numpy.add(a, hp.eps, out=a)
    numpy.divide(alpha_t, a, out=a)  # step
    numpy.multiply(a, m, out=a)
    numpy.multiply(a, -hp.eta, out=a)
    decay = 1.0 - hp.eta * hp.weight_decay_rate
    if decay == 1:  # _inplace_axpby(θ, 1, −η, step·m): θ += −η·(step·m)
        theta += a
    else:  # θ[...] = decay·θ + (−η)·(step·m)
        numpy.multiply(theta, decay, out=b)
        numpy.add(b, a, out=theta)
