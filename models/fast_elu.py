"""ELU (Clevert et al. 2016, eq. 1: f(x) = x for x > 0, α (exp(x) − 1) otherwise) with a faster CPU forward pass.

Chainer's ``F.elu`` forward pass on NumPy arrays gathers the non-positive entries with a boolean index, applies
``expm1`` and scatters them back: three passes and two temporary arrays.  Here ``numpy.expm1`` writes in place
with ``where=`` (one pass), which gives the same bytes (``tests/test_fast_elu.py``).  The backward pass is
Chainer's own (``ELUGrad``): a fused NumPy backward pass was measured slower (``results/speed.md``, sessions 22
and 44).  CuPy arrays take Chainer's own GPU kernel.
"""
import ganlib.compat  # noqa: F401

import numpy
from chainer.functions.activation import elu as chainer_elu


class ELU(chainer_elu.ELU):
    """Chainer's ELU FunctionNode with the in-place, masked ``expm1`` forward pass on the CPU."""

    def forward_cpu(self, inputs):
        if self.alpha < 0:
            self.retain_inputs((0,))
        x, = inputs
        y = x.copy()
        negative = x <= 0
        numpy.expm1(y, out=y, where=negative)
        if self.alpha != 1.0:  # Chainer's product: a Python float times the float array, in the array's dtype
            numpy.multiply(y, x.dtype.type(self.alpha), out=y, where=negative)
        self.retain_outputs((0,))
        return y,


def elu(x, alpha=1.0):
    """``chainer.functions.elu`` with :class:`ELU`'s CPU forward pass."""
    return ELU(alpha=alpha).apply((x,))[0]
