"""Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.2).

On NumPy arrays the minibatch features o(x) are ONE FunctionNode (``MinibatchFeatures``).  Written with
Chainer's functions, the (N, N, B, C) tensor of differences goes through subtract, absolute and a sum over its
short C axis, each a full pass over memory, and back through as many.  The node walks the C axis one (N, N, B)
slice at a time instead and runs the NumPy operations of that composition with the same summation orders, so it
is bit-exact with it (``tests/test_fused_overhead_cuts.py``).  When a gradient of a gradient is requested, its
backward pass differentiates the composition itself.  CuPy arrays keep the composition (the GPU path is unchanged).
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.links as L
import numpy
from chainer import function_node


# NumPy sums a contiguous axis of fewer than 8 elements in order, longer ones pairwise with 8 partial sums (and
# iterates the (N, N, B, C) reductions of the backward pass differently): the node matches only up to 7.  With
# one kernel (B = 1) the composition's sums over j run along a contiguous axis, pairwise: the node is not used.
MAX_FUSED_KERNEL_DIM = 7


def _composed_features(m, exclude_self):
    """o_b(x_i) = Σ_j exp(−Σ_c |M_{i,b,c} − M_{j,b,c}|) (− 1 without the self pair), from M (N, B, C), written
    with Chainer's functions (the GPU path, the reference and the double-backprop path)."""
    diff = F.expand_dims(m, 1) - F.expand_dims(m, 0)  # (N, N, B, C), broadcast
    c = F.exp(-F.sum(F.absolute(diff), axis=3))  # (N, N, B): c_b(x_i, x_j)
    o = F.sum(c, axis=1)
    if exclude_self:
        o = o - 1.0  # c_b(x_i, x_i) = exp(0) = 1 exactly
    return o


class MinibatchFeatures(function_node.FunctionNode):
    """M (N, B, C) → o (N, B), as ``_composed_features`` does it, in one node, bit for bit.

    The composition's arrays are (N, N, B): it sums c_b(x_i, x_j) over j, and the gradient t over i and over j, each
    sum in index order, and NumPy walks a B-long inner loop N² times for each.  Here every (N, N) slab is laid out
    per kernel b, [b, i, j], so that each pass is a contiguous run of N, and every sum runs over the middle axis:
    in the same index order, on the same values.  Σ_j c[b, i, j] is read as Σ_j c[b, j, i], since c is symmetric
    bit for bit (|u − v| = |v − u| in IEEE arithmetic), and Σ_j t[i, j] as Σ_j u[j, i] with u, the gradient of
    the pair (j, i), built from sign(M_j − M_i) = −sign(M_i − M_j) and −g_o[i] c[j, i].  Forward: the L1 distance
    accumulates |M_{i,b,c} − M_{j,b,c}| over c in order, as NumPy sums a contiguous axis of 7 or fewer elements.
    Backward: g_dist = −(g_o broadcast over j) ⊙ c; for each c, t = sign(M_i − M_j) ⊙ g_dist and
    g_M[:, :, c] = Σ_j t − Σ_i t (the two broadcast operands of the difference).  The signs come from two
    comparisons (NumPy's ``sign`` is not vectorised), so a NaN difference counts as 0 where ``sign`` gives NaN."""

    def __init__(self, exclude_self):
        self.exclude_self = exclude_self

    def forward(self, inputs):
        self.retain_inputs((0,))
        m, = inputs
        n, b, kernel_dim = m.shape
        columns = numpy.ascontiguousarray(m.transpose(2, 1, 0))  # (C, B, N)
        self._diffs = numpy.empty((kernel_dim, b, n, n), m.dtype)  # [c, b, i, j] = M_{i,b,c} − M_{j,b,c}
        for a, d in zip(columns, self._diffs):
            numpy.subtract(a[:, :, None], a[:, None, :], out=d)
        dist = numpy.abs(self._diffs[0])
        scratch = numpy.empty_like(dist)
        for d in self._diffs[1:]:
            dist += numpy.abs(d, out=scratch)
        self._c = numpy.exp(numpy.negative(dist, out=dist), out=dist)  # [b, i, j] = c_b(x_i, x_j), symmetric
        o = numpy.ascontiguousarray(self._c.sum(axis=1).T)  # o[i, b] = Σ_j c[b, j, i] = Σ_j c_b(x_i, x_j)
        if self.exclude_self:
            o += o.dtype.type(-1.0)
        return o,

    def backward(self, indexes, grad_outputs):
        if chainer.config.enable_backprop:  # a gradient of this gradient is wanted: differentiate the composition
            m, = self.get_retained_inputs()
            o = _composed_features(m, self.exclude_self)
            return chainer.grad([o], [m], grad_outputs=list(grad_outputs), enable_double_backprop=True)
        go = grad_outputs[0].array.T  # (B, N)
        g = numpy.multiply(go[:, :, None], self._c)  # [b, i, j] = −g_o[i, b] c_b(i, j): Sum's broadcast, ExpGrad, Neg
        numpy.negative(g, out=g)
        g_pair = numpy.multiply(go[:, None, :], self._c)  # [b, j, i] = g[b, i, j]
        numpy.negative(g_pair, out=g_pair)
        n, b, kernel_dim = go.shape[1], go.shape[0], len(self._diffs)
        gm = numpy.empty((n, b, kernel_dim), g.dtype)
        t = numpy.empty_like(g)
        positive, negative = numpy.empty(g.shape, numpy.bool_), numpy.empty(g.shape, numpy.bool_)
        sign = numpy.empty(g.shape, numpy.int8)
        for k, d in enumerate(self._diffs):
            numpy.greater(d, 0, out=positive)
            numpy.less(d, 0, out=negative)
            numpy.multiply(numpy.subtract(positive.view(numpy.int8), negative.view(numpy.int8), out=sign), g, out=t)
            from_i = t.sum(axis=1)  # [b, j] = Σ_i t[i, j]  (AbsoluteGrad, then the second operand's sum_to)
            numpy.multiply(numpy.negative(sign, out=sign), g_pair, out=t)  # [b, j, i] = t[i, j]
            from_j = t.sum(axis=1)  # [b, i] = Σ_j t[i, j]  (the first operand's sum_to)
            gm[:, :, k] = (from_j + numpy.negative(from_i, out=from_i)).T
        return chainer.Variable(gm, requires_grad=False),


class MinibatchDiscrimination(chainer.Chain):
    """Append minibatch features o(x_i) ∈ R^B to a feature vector f(x_i) ∈ R^A.

    Salimans et al. 2016, §3.2: M_i = f(x_i)·T with T ∈ R^{A×B×C};
    c_b(x_i, x_j) = exp(−‖M_{i,b} − M_{j,b}‖_{L1});  o(x_i)_b = Σ_j c_b(x_i, x_j);
    output = concat(f(x_i), o(x_i)) ∈ R^{A+B}.

    As in the posts' original Chainer code, T is a linear map A → B·C *with* a bias
    (``use_bias=True``; the paper has none) and the self pair j = i is excluded
    (``exclude_self=True``; the paper's sum includes it, which only adds the constant 1).

    Args:
        in_size: A (``None`` infers it at the first call).
        n_kernels: B.
        kernel_dim: C.
        initialW: initializer of T (default: Chainer's LeCunNormal).
        fused: on NumPy arrays, with C ≤ 7 and B ≥ 2, o(x) is one node (``MinibatchFeatures``), bit-exact with the
            composition.
    """

    def __init__(self, in_size, n_kernels=50, kernel_dim=5, use_bias=True,
                 exclude_self=True, initialW=None, fused=True):
        super().__init__()
        self.fused = fused
        if n_kernels <= 0 or kernel_dim <= 0:
            raise ValueError('n_kernels and kernel_dim must be positive')
        self.n_kernels = n_kernels
        self.kernel_dim = kernel_dim
        self.exclude_self = exclude_self
        with self.init_scope():
            self.T = L.Linear(in_size, n_kernels * kernel_dim,
                              nobias=not use_bias, initialW=initialW)

    def minibatch_features(self, f):
        """o(x) ∈ R^{N×B} for features f ∈ R^{N×A}."""
        n = f.shape[0]
        m = F.reshape(self.T(f), (n, self.n_kernels, self.kernel_dim))
        if (self.fused and self.kernel_dim <= MAX_FUSED_KERNEL_DIM and self.n_kernels > 1
                and isinstance(m.array, numpy.ndarray)):
            return MinibatchFeatures(self.exclude_self).apply((m,))[0]
        return _composed_features(m, self.exclude_self)

    def forward(self, f):
        f = F.reshape(f, (f.shape[0], -1))
        return F.concat((f, self.minibatch_features(f)), axis=1)
