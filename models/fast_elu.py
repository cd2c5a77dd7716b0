"""ELU (Clevert et al. 2016, eq. 1: f(x) = x for x > 0, α (exp(x) − 1) otherwise) with faster CPU passes.

Chainer's ``F.elu`` forward pass on NumPy arrays gathers the non-positive entries with a boolean index, applies
``expm1`` and scatters them back; its gradient sets ``gx[cond > 0] = 1`` with another boolean index.  Boolean
indexing with a random sign pattern costs a few ns an element.  Here:

* forward, where NumPy's float ``expm1`` has a SIMD loop (AVX-512 CPUs): ``expm1`` of the whole array, then a
  branch-free bitwise select of ``x`` or ``α·expm1(x)`` (:func:`select`);
* forward, where ``expm1`` is scalar (it costs ~20 ns an element, e.g. AVX2 CPUs): ``expm1`` in place with
  ``where=`` on the non-positive entries only;
* gradient: ``y + α`` with 1 selected bitwise where ``cond > 0``.

Each element goes through the same ``expm1`` loop, product and sum as in Chainer, so outputs and gradients are
the same bytes (``tests/test_fast_elu.py``).  Which forward pass a process uses is settled once by timing
``expm1`` against a copy (:func:`expm1_is_vectorised`); both give the same bytes.  CuPy arrays take Chainer's own
GPU kernels.
"""
import ganlib.compat  # noqa: F401

import time

import numpy
from chainer import utils
from chainer.functions.activation import elu as chainer_elu

_PROBE = {}


def expm1_is_vectorised():
    """Whether float32 ``expm1`` costs less than 30 copies of the same array (a SIMD loop costs ~5, the scalar
    C-library loop ~200): then ``expm1`` of a whole array beats a masked pass over half of it.  Timed once per
    process; minimum of 3 tries, so a busy machine does not flip it."""
    if 'vectorised' not in _PROBE:
        x = -numpy.linspace(0, 8, 16384, dtype=numpy.float32)
        out = numpy.empty_like(x)
        costs = []
        for fn in (numpy.copyto, numpy.expm1):
            best = float('inf')
            for _ in range(3):
                start = time.perf_counter()
                fn(out, x) if fn is numpy.copyto else fn(x, out=out)
                best = min(best, time.perf_counter() - start)
            costs.append(best)
        _PROBE['vectorised'] = costs[1] < 30 * costs[0]
    return _PROBE['vectorised']


def select(mask, a, b):
    """``numpy.where(mask, a, b)`` for float arrays of one dtype and shape, bit for bit, written into ``a``
    (which must be a C-contiguous array the caller owns): ``a ^ ((a ^ b) & n)`` on the bits, with ``n`` all
    ones where ``mask`` is false.  ``b`` may be an array or a scalar of ``a``'s dtype.  No branches, unlike
    ``numpy.where`` and boolean indexing on a random mask."""
    itype = numpy.dtype('i{}'.format(a.dtype.itemsize))
    n = mask.view(numpy.int8).astype(itype)
    n -= 1  # true → 0, false → all ones
    bits = a.view(itype)
    b_bits = numpy.asarray(b, dtype=a.dtype).view(itype)
    diff = numpy.bitwise_xor(bits, b_bits)
    numpy.bitwise_and(diff, n, out=diff)
    numpy.bitwise_xor(bits, diff, out=bits)
    return a


class ELU(chainer_elu.ELU):
    """Chainer's ELU FunctionNode with the faster CPU forward pass and gradient (:class:`ELUGrad`)."""

    def forward_cpu(self, inputs):
        if self.alpha < 0:
            self.retain_inputs((0,))
        x, = inputs
        negative = x <= 0
        if expm1_is_vectorised():
            with numpy.errstate(over='ignore'):  # the positive entries' expm1 is thrown away
                y = numpy.expm1(numpy.ascontiguousarray(x))
            if self.alpha != 1.0:  # Chainer's product: a Python float times the float array, in the array's dtype
                numpy.multiply(y, x.dtype.type(self.alpha), out=y)
            select(negative, y, x)
        else:
            y = x.copy()
            numpy.expm1(y, out=y, where=negative)
            if self.alpha != 1.0:
                numpy.multiply(y, x.dtype.type(self.alpha), out=y, where=negative)
        self.retain_outputs((0,))
        return y,

    def backward(self, indexes, grad_outputs):  # Chainer's, with this module's ELUGrad
        y, = self.get_retained_outputs()
        cond = self.get_retained_inputs()[0] if self.alpha < 0 else y
        gy, = grad_outputs
        return ELUGrad(self.alpha, cond.array).apply((y,))[0] * gy,


class ELUGrad(chainer_elu.ELUGrad):
    """Chainer's ELU gradient node (1 where cond > 0, y + α elsewhere) with a branch-free CPU forward pass."""

    def forward_cpu(self, inputs):
        y, = inputs
        gx = utils.force_array(y + y.dtype.type(self.alpha))
        return select(numpy.invert(self.cond > 0), gx, y.dtype.type(1)),


def elu(x, alpha=1.0):
    """``chainer.functions.elu`` with :class:`ELU`'s CPU passes."""
    return ELU(alpha=alpha).apply((x,))[0]
