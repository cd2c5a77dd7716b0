"""Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.2)."""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.links as L


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
    """

    def __init__(self, in_size, n_kernels=50, kernel_dim=5, use_bias=True,
                 exclude_self=True, initialW=None):
        super().__init__()
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
        diff = F.expand_dims(m, 1) - F.expand_dims(m, 0)  # (N, N, B, C), broadcast
        c = F.exp(-F.sum(F.absolute(diff), axis=3))  # (N, N, B): c_b(x_i, x_j)
        o = F.sum(c, axis=1)
        if self.exclude_self:
            o = o - 1.0  # c_b(x_i, x_i) = exp(0) = 1 exactly
        return o

    def forward(self, f):
        f = F.reshape(f, (f.shape[0], -1))
        return F.concat((f, self.minibatch_features(f)), axis=1)
