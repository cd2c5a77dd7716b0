"""Shared pieces of the GAN-stabilisation reproductions (losses, updaters, data, metrics, plots).

``ganlib.blas_kernel`` runs first, before anything imports NumPy, so that OpenBLAS does not fall back to its generic
kernels on a CPU it does not recognise; then ``ganlib.compat``, so that Chainer 7.8.1 imports on current
Python/NumPy.
"""
from ganlib import blas_kernel

blas_kernel.apply()

from ganlib import compat  # noqa: E402,F401  (must precede any chainer import)
