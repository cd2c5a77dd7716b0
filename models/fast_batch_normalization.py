"""Batch normalisation (Ioffe & Szegedy 2015, Algorithm 1 and §3's gradients) with fewer passes on the CPU.

Chainer's NumPy implementation computes x̂ = (x − μ_B) / √(σ²_B + ε) in the forward pass, copies y = γ x̂ + β once
more to cast it to x's dtype (a copy even when the dtype is the same), and computes x̂ again in the backward pass,
which then allocates a new array for every step of ∂ℓ/∂x = γ/√(σ²_B + ε) · (∂ℓ/∂y − (x̂ ∂ℓ/∂γ + ∂ℓ/∂β) / m).
Here (:class:`NumpyImpl`) the forward pass keeps x̂ for the backward pass and casts without a copy when the dtype
is already x's, and the backward pass runs the same operations, in the same order, in one scratch array.  Every
number is the one Chainer computes (``tests/test_fast_batch_normalization.py`` compares bytes); the mean, variance,
running statistics, double backprop and the GPU paths are Chainer's own.

:class:`BatchNormalization` is ``chainer.links.BatchNormalization`` using it in training on NumPy arrays.
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.links as L
import numpy
from chainer.functions.normalization import batch_normalization as chainer_bn


class NumpyImpl(chainer_bn.GeneralBatchNormalizationImpl):
    """Chainer's general implementation on NumPy arrays, x̂ kept from the forward pass (``forward_data``)."""

    def forward(self, axis, gamma, x, x_layout, xp, expander, beta, eps, decay, running_mean, running_var):
        interm_dtype = numpy.promote_types(x.dtype, gamma.dtype)
        gamma = gamma[expander].astype(interm_dtype, copy=False)
        beta = beta[expander].astype(interm_dtype, copy=False)
        mean, var = self.get_mean_and_var(axis, gamma, x, xp, interm_dtype)
        inv_std = numpy.reciprocal(numpy.sqrt(var + eps, dtype=interm_dtype))
        x_hat = chainer_bn._x_hat(x, mean[expander], inv_std[expander])
        y = x_hat * gamma
        y += beta
        y = y.astype(x.dtype, copy=False)
        if running_mean is not None:  # Chainer's update, unbiased variance
            m = x.size // gamma.size
            adjust = m / max(m - 1., 1.)
            running_mean *= decay
            running_mean += (1 - decay) * mean
            running_var *= decay
            running_var += (1 - decay) * adjust * var
        return y, x_layout, running_mean, running_var, mean, var, inv_std, x_hat

    def backward(self, axis, gamma, gy, x, x_layout, xp, expander, mean, inv_std, eps, var, forward_data):
        x_hat = forward_data if forward_data is not None else chainer_bn._x_hat(x, mean[expander], inv_std[expander])
        gbeta, ggamma = self.get_ggamma_and_gbeta(axis, gamma, gy, x_hat, xp)
        inv_m = gamma.dtype.type(1. / (x.size // gamma.size))
        # (γ / σ) · (gy − (x̂ ggamma + gbeta) · inv_m), Chainer's operations in Chainer's order, in place
        gx = x_hat * ggamma[expander]
        gx += gbeta[expander]
        gx *= inv_m
        numpy.subtract(gy, gx, out=gx)
        gx *= (gamma * inv_std)[expander]
        return gx.astype(x.dtype, copy=False), None, ggamma, gbeta


def select_impl(function, inputs):
    """Chainer's choice of implementation, with :class:`NumpyImpl` in place of the general one on NumPy arrays."""
    impl = chainer_bn._impl_selector(function, inputs)
    if type(impl) is chainer_bn.GeneralBatchNormalizationImpl and isinstance(inputs[0], numpy.ndarray):
        return NumpyImpl()
    return impl


def batch_normalization(x, gamma, beta, eps=2e-5, running_mean=None, running_var=None, decay=0.9, axis=None):
    """``chainer.functions.batch_normalization`` with :class:`NumpyImpl` on NumPy arrays."""
    function = chainer_bn.BatchNormalization(eps, running_mean, running_var, decay, axis, impl_selector=select_impl)
    return function.apply((x, gamma, beta))[0]


class BatchNormalization(L.BatchNormalization):
    """``chainer.links.BatchNormalization`` whose training forward pass is :func:`batch_normalization`; evaluation,
    fine-tuning, the first call (which creates lazily sized parameters) and recomputation are Chainer's."""

    def forward(self, x, **kwargs):
        if kwargs or not chainer.config.train or chainer.config.in_recomputing or self.avg_mean is None:
            return super().forward(x, **kwargs)
        gamma = self._get_gamma()[0] if self.gamma is None else self.gamma  # constants, as Chainer's link
        beta = self._get_beta()[0] if self.beta is None else self.beta
        return batch_normalization(x, gamma, beta, eps=self.eps, running_mean=self.avg_mean, running_var=self.avg_var,
                                   decay=self.decay, axis=self.axis)
