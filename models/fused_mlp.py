"""A stack of fully connected layers, y = A(L_n(… A(L_1(x)))), as ONE Chainer FunctionNode on NumPy arrays.

The mixture-of-Gaussians GANs are tiny (100 × 256 → 128 → 128 → 2), so their updates are bound by Chainer's
per-function overhead, not by arithmetic: written with ``F.linear`` and ``F.relu`` one generator pass is 5 nodes
forward and 11 backward (LinearGradData, LinearGradWeight and Sum per layer, ReLUGrad2 per activation).  Here the
whole stack is one node forward and none backward.

Bit-exact with the composition: the forward and backward run the NumPy operations of Chainer 7.8.1's own
``LinearFunction`` (``dot(x, W.T, out=y); y += b``), ``LinearGradData`` (``gy.dot(W)``), ``LinearGradWeight``
(``gy.T.dot(x)``), ``Sum`` (bias gradient), ``ReLU`` / ``ReLUGrad2`` and ``LeakyReLU`` / ``_LeakyReLUGrad``, in
the same order and dtypes, so a run with the fused stack reproduces a run without it bit for bit.

When a gradient of a gradient is requested (``enable_double_backprop``: WGAN-GP's penalty, second-order
unrolling) the backward pass is the composition itself, rebuilt on the retained inputs, so it is differentiable.
Its values are the same, but the graph's other depth changes the order in which Chainer sums a parameter's three
or more gradient terms, so such runs differ in the last bits: ``train_mog.py`` keeps them unfused
(``benchmarks/same_as_baseline.py`` checks the scripts' runs against an older checkout).
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import numpy
from chainer import function_node

SLOPES = {'relu': 0.0, 'leaky_relu': 0.2}  # the activations the node implements (models.mlp's slopes)


def _activate(h, slope):
    if slope == 0.0:  # ReLU.forward_cpu
        return numpy.maximum(h, 0, dtype=h.dtype)
    y = h.copy()  # LeakyReLU.forward_cpu
    y[h <= 0] *= slope
    return y


def _activate_grad(g, y, slope):
    if slope == 0.0:  # ReLUGrad2.forward_cpu (the mask is the ReLU's output)
        return numpy.asarray(g * (y > 0), dtype=g.dtype)
    g = g.copy()  # _LeakyReLUGrad.forward_cpu (slope ≥ 0: the mask is the output)
    g[y <= 0] *= slope
    return g


class FusedMLP(function_node.FunctionNode):
    """Inputs (x, W_1, b_1, …, W_n, b_n); output y.  The activation follows every layer, and the last one
    only if ``activate_last``.  ``scale``: x is first multiplied by this constant, as ``x / s`` does to a
    Variable (``MulConstant(1 / s)``); ``flatten``: y is returned reshaped to (N,), as ``F.reshape(y, (-1,))``."""

    def __init__(self, slope, activate_last, scale=None, flatten=False):
        self.slope = slope
        self.activate_last = activate_last
        self.scale = scale
        self.flatten = flatten

    def _activated(self, i, n):
        return i < n - 1 or self.activate_last

    def forward(self, inputs):
        self.retain_inputs(tuple(range(len(inputs))))
        h = inputs[0]
        if self.scale is not None:  # MulConstant.forward
            h = numpy.asarray(h.dtype.type(self.scale) * h)
        params = inputs[1:]
        n = len(params) // 2
        self._layer_inputs, self._outputs = [], []
        for i in range(n):
            W, b = params[2 * i], params[2 * i + 1]
            y = numpy.empty((h.shape[0], W.shape[0]), dtype=h.dtype)
            numpy.dot(h, W.T, out=y)
            y += b
            if self._activated(i, n):
                y = _activate(y, self.slope)
            self._layer_inputs.append(h)
            self._outputs.append(y)
            h = y
        return (h.reshape(-1) if self.flatten else h),

    def backward(self, indexes, grad_outputs):
        if chainer.config.enable_backprop:  # a gradient of this gradient is wanted: differentiate the composition
            inputs = self.get_retained_inputs()
            x = inputs[0] if self.scale is None else inputs[0] * self.scale
            y = _composed(x, inputs[1:], self.slope, self.activate_last)
            if self.flatten:
                y = F.reshape(y, (-1,))
            wanted = [inputs[i] for i in indexes]
            return chainer.grad([y], wanted, grad_outputs=list(grad_outputs), enable_double_backprop=True)
        g = grad_outputs[0].array
        if self.flatten:
            g = g.reshape(self._outputs[-1].shape)
        params = [v.array for v in self.get_retained_inputs()[1:]]
        n = len(params) // 2
        grads = {}
        for i in reversed(range(n)):
            W = params[2 * i]
            if self._activated(i, n):
                g = _activate_grad(g, self._outputs[i], self.slope)
            if 1 + 2 * i in indexes:
                grads[1 + 2 * i] = g.T.dot(self._layer_inputs[i]).astype(W.dtype, copy=False)
            if 2 + 2 * i in indexes:
                grads[2 + 2 * i] = numpy.asarray(g.sum(axis=(0,)))
            if i > 0 or 0 in indexes:
                g = g.dot(W).astype(g.dtype, copy=False)
        if 0 in indexes and self.scale is not None:  # MulConstant's backward
            g = numpy.asarray(g.dtype.type(self.scale) * g)
        grads[0] = g
        return tuple(chainer.Variable(grads[i], requires_grad=False) for i in indexes)


def _composed(x, params, slope, activate_last):
    """The same stack written with Chainer's functions (the reference and the double-backprop path)."""
    n = len(params) // 2
    h = x
    for i in range(n):
        h = F.linear(h, params[2 * i], params[2 * i + 1])
        if i < n - 1 or activate_last:
            h = F.relu(h) if slope == 0.0 else F.leaky_relu(h, slope=slope)
    return h


def fusable(x, activation, layers):
    """True where :func:`fused_mlp` applies: a NumPy input of 2 axes, an activation of :data:`SLOPES`, layers
    with biases and no link hooks (spectral normalisation rewrites W in ``Link.__call__``, which the node
    bypasses).  Everything else (CuPy arrays: the GPU path is unchanged) keeps Chainer's functions."""
    array = x.array if isinstance(x, chainer.Variable) else x
    return (isinstance(array, numpy.ndarray) and array.ndim == 2 and activation in SLOPES
            and not chainer._get_link_hooks()
            and all(layer.b is not None and layer.W.array is not None and layer._n_local_link_hooks == 0
                    for layer in layers))


def fused_mlp(x, layers, activation, activate_last=True, scale=None, flatten=False):
    """y = act(L_n(… act(L_1(scale · x)))) over ``layers`` (``L.Linear`` links) as one :class:`FusedMLP`
    node; the last activation only if ``activate_last``, y reshaped to (N,) if ``flatten``.  Call it where
    :func:`fusable` is true."""
    params = []
    for layer in layers:
        params += [layer.W, layer.b]
    y, = FusedMLP(SLOPES[activation], activate_last, scale, flatten).apply([x] + params)
    return y
