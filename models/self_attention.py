"""Self-attention block of SAGAN (Zhang et al. 2019, "Self-Attention GANs", §3, Eq. 1–3)."""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.links as L
import numpy


class SelfAttention(chainer.Chain):
    """For feature maps x ∈ R^{C×N} (N = H·W positions), with 1×1 convolutions f, g, h (C → C̄) and v (C̄ → C):

        s_ij = f(x_i)ᵀ g(x_j),   β_{j,i} = exp(s_ij) / Σ_i exp(s_ij)                    (Eq. 1)
        o_j = v(Σ_i β_{j,i} h(x_i)),   y_j = γ o_j + x_j,   γ initialised to 0           (Eq. 2–3)

    C̄ = C / ``reduction`` (8 in the paper).  ``forward(x, return_attention=True)`` also returns β (B, N, N)
    with β[b, j, i] the attention of position j on position i.
    """

    def __init__(self, channels, reduction=8, initialW=None, rng=None):
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ValueError('self-attention needs channels >= 1 and reduction >= 1')
        inner = max(1, channels // reduction)
        self.channels, self.inner = channels, inner
        rng = rng or numpy.random.RandomState(0)

        def w(out_c, in_c):
            if initialW is not None:
                return initialW
            return (rng.standard_normal((out_c, in_c, 1, 1)) * numpy.sqrt(1.0 / in_c)).astype(numpy.float32)

        with self.init_scope():
            self.f = L.Convolution2D(channels, inner, 1, nobias=True, initialW=w(inner, channels))
            self.g = L.Convolution2D(channels, inner, 1, nobias=True, initialW=w(inner, channels))
            self.h = L.Convolution2D(channels, inner, 1, nobias=True, initialW=w(inner, channels))
            self.v = L.Convolution2D(inner, channels, 1, nobias=True, initialW=w(channels, inner))
            self.gamma = chainer.Parameter(numpy.zeros((1,), numpy.float32))

    def forward(self, x, return_attention=False):
        b, c, hh, ww = x.shape
        n = hh * ww
        f = F.reshape(self.f(x), (b, self.inner, n))
        g = F.reshape(self.g(x), (b, self.inner, n))
        h = F.reshape(self.h(x), (b, self.inner, n))
        s = F.matmul(f, g, transa=True)            # s[b, i, j] = f(x_i)ᵀ g(x_j)
        beta = F.softmax(s, axis=1)                # normalised over i
        o = F.matmul(h, beta)                      # o[b, :, j] = Σ_i h(x_i) β_{j,i}
        o = self.v(F.reshape(o, (b, self.inner, hh, ww)))
        y = F.broadcast_to(F.reshape(self.gamma, (1, 1, 1, 1)), o.shape) * o + x
        if return_attention:
            return y, F.transpose(beta, (0, 2, 1))
        return y
