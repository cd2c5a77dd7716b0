"""Maxout (Goodfellow et al. 2013) as one Chainer FunctionNode with the pieces as the *outer* axis.

A maxout layer of C units with P pieces is a Linear to P · C outputs and y_c = max_p h_{p·C + c}.  Chainer's
``F.maxout`` groups the pieces of a unit next to each other (h_{c·P + p}) and reduces over that strided inner
axis, which NumPy does about 30× slower than a reduction over contiguous rows of C.  Which output of the
Linear is which piece is a labelling of freshly initialised weights, so the layer is the same model; only the
values a given seed draws differ.  The gradient goes to the first maximal piece (as argmax), and the backward
is itself differentiable (gradient penalties on a maxout critic).
"""
import ganlib.compat  # noqa: F401

import chainer
from chainer import backend
from chainer.utils import type_check


def _first_max_mask(x3, y, xp):
    """Boolean (N, P, C): True at the first piece p attaining y for each (n, c)."""
    hit = x3 == y[:, None, :]
    seen = hit[:, 0].copy()
    for p in range(1, hit.shape[1]):
        hit[:, p] &= ~seen
        seen |= hit[:, p]
    return hit


class PieceMax(chainer.function_node.FunctionNode):
    def __init__(self, pieces):
        self.pieces = pieces

    def check_type_forward(self, in_types):
        type_check.expect(in_types.size() == 1)
        x = in_types[0]
        type_check.expect(x.dtype.kind == 'f', x.ndim == 2, x.shape[1] % self.pieces == 0)

    def forward(self, inputs):
        x, = inputs
        xp = backend.get_array_module(x)
        n, width = x.shape
        x3 = x.reshape(n, self.pieces, width // self.pieces)
        y = x3.max(axis=1)
        self.mask = _first_max_mask(x3, y, xp)
        return y,

    def backward(self, indexes, grad_outputs):
        return ScatterToPieces(self.mask).apply(grad_outputs)


class ScatterToPieces(chainer.function_node.FunctionNode):
    """gy (N, C) → gx (N, P·C) with gy at the masked piece (linear in gy; its adjoint sums the masked pieces)."""

    def __init__(self, mask):
        self.mask = mask

    def forward(self, inputs):
        gy, = inputs
        n, p, c = self.mask.shape
        return (self.mask * gy[:, None, :]).reshape(n, p * c),

    def backward(self, indexes, grad_outputs):
        ggx, = grad_outputs
        n, p, c = self.mask.shape
        return chainer.functions.sum(
            chainer.functions.reshape(ggx, (n, p, c)) * self.mask.astype(ggx.dtype), axis=1),


def maxout(x, pieces):
    """y[:, c] = max_p x[:, p·C + c] for x of shape (N, P·C): maxout with P = ``pieces`` outer blocks."""
    if pieces == 1:
        return chainer.as_variable(x)
    return PieceMax(int(pieces)).apply((x,))[0]
