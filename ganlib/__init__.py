"""Shared pieces of the GAN-stabilisation reproductions (losses, updaters, data, metrics, plots).

``ganlib.compat`` is imported first so that Chainer 7.8.1 imports on current Python/NumPy.
"""
from ganlib import compat  # noqa: F401  (must precede any chainer import)
