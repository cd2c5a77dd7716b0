"""Class-conditional generator and discriminator from BigGAN's parts (Brock et al. 2019), for 32 × 32 images.

* conditional batch normalisation (de Vries et al. 2017; Miyato & Koyama 2018 §4 for GANs): BN without its own
  affine, then a per-class gain and bias, γ_y ⊙ x̂ + β_y, the rows y of two learned (classes × C) tables
  (γ initialised to 1, β to 0);
* projection discriminator (Miyato & Koyama 2018, Eq. 3): f(x, y) = ψ(φ(x)) + yᵀ V φ(x), with φ(x) D's features
  after a global sum pool, ψ a linear output and V a learned (C × classes) matrix (as a bias-free Linear on the
  one-hot label, so that spectral normalisation covers it as in their code);
* BigGAN's shared embedding and hierarchical latent (Brock et al. 2019, §3 and App. B), both optional: with
  ``shared_embedding`` = E, one class embedding e_y ∈ R^E is shared by every CBN layer, each of which maps its
  conditioning vector c linearly to its gain and bias, γ = 1 + W_γ c + b_γ, β = W_β c + b_β
  (``LinearConditionalBatchNormalization``, BigGAN-PyTorch's ``ccbn``), c = e_y; with ``hierarchical_z`` too,
  z is split into 1 + 4 chunks (as equal as ``numpy.array_split`` makes them; BigGAN's are equal), the first
  feeding G's input layer and chunk k appended to e_y for CBN layer k (c = [e_y, z_k]);
* G: z → Linear → 4 × 4 → 3 × [upsample → 3×3 conv → CBN → ReLU] → 3×3 conv → tanh;
  D: 4 × [3×3 conv → LReLU(0.1) → 4×4 stride-2 conv → LReLU] down to 2 × 2 → sum pool → ψ + projection
  (the SN-GAN "standard CNN" layout, one fewer stage for 32 × 32 inputs).
The hinge loss, spectral normalisation, TTUR, orthogonal initialisation and regularisation and the truncation trick
are the repository's shared options (``ganlib.options``; ``train_conditional.py`` turns BigGAN's choices on).
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.links as L
import numpy

from models.fast_batch_normalization import BatchNormalization
from models.fast_convolution import Convolution2D
from models.initializers import make_initializer
from models.mlp import sample_z
from models.progressive import upsample


def one_hot_lookup(W, y):
    """The rows ``W[y]`` as the product one_hot(y) · W: the same values (each row is 1 · w plus exact zeros), but
    the gradient for W is the matrix product one_hot(y)ᵀ · gy, summed in a fixed order."""
    xp = chainer.backend.get_array_module(W)
    y = y.array if isinstance(y, chainer.Variable) else y
    return F.matmul(xp.eye(W.shape[0], dtype=W.dtype)[y], W)


class Embedding(L.EmbedID):
    """``L.EmbedID`` that repeats bit for bit on a GPU too.  On a GPU Chainer's embed_id adds the gradient rows with
    atomicAdd, in an order that changes from run to run, so two seeded runs (or a run and its resume) drift apart
    from the first update; there the lookup is :func:`one_hot_lookup`.  On the CPU it stays embed_id (numpy's
    ordered ``add.at``), so CPU runs are unchanged."""

    def forward(self, x):
        if isinstance(self.W.array, numpy.ndarray):
            return super().forward(x)
        return one_hot_lookup(self.W, x)


class ConditionalBatchNormalization(chainer.Chain):
    """γ_y ⊙ BN(x) + β_y for x (N, C[, H, W]) and labels y (N,) in [0, n_classes)."""

    def __init__(self, channels, n_classes, decay=0.9, eps=2e-5):
        super().__init__()
        self.channels = channels
        with self.init_scope():
            self.bn = BatchNormalization(channels, decay=decay, eps=eps, use_gamma=False, use_beta=False)
            self.gamma = Embedding(n_classes, channels, initialW=chainer.initializers.One())
            self.beta = Embedding(n_classes, channels, initialW=chainer.initializers.Zero())

    def forward(self, x, y):
        h = self.bn(x)
        shape = (len(x), self.channels) + (1,) * (x.ndim - 2)
        return h * F.broadcast_to(F.reshape(self.gamma(y), shape), h.shape) + \
            F.broadcast_to(F.reshape(self.beta(y), shape), h.shape)


class LinearConditionalBatchNormalization(chainer.Chain):
    """(1 + W_γ c + b_γ) ⊙ BN(x) + W_β c + b_β for x (N, C[, H, W]) and conditioning vectors c (N, D): BigGAN's
    conditional BN over a shared embedding (Brock et al. 2019, App. B; BigGAN-PyTorch's ``ccbn``)."""

    def __init__(self, channels, cond_dim, initialW=None, decay=0.9, eps=2e-5):
        super().__init__()
        self.channels = channels
        with self.init_scope():
            self.bn = BatchNormalization(channels, decay=decay, eps=eps, use_gamma=False, use_beta=False)
            self.gain = L.Linear(cond_dim, channels, initialW=initialW)
            self.bias = L.Linear(cond_dim, channels, initialW=initialW)

    def forward(self, x, c):
        h = self.bn(x)
        shape = (len(x), self.channels) + (1,) * (x.ndim - 2)
        return h * F.broadcast_to(F.reshape(1.0 + self.gain(c), shape), h.shape) + \
            F.broadcast_to(F.reshape(self.bias(c), shape), h.shape)


N_CBN = 4  # conditional BN layers of ConditionalGenerator: after the input layer and after each of 3 convs


def latent_chunks(z_dim, hierarchical):
    """Sizes of the parts z is split into: [z_dim], or 1 + N_CBN chunks as equal as possible."""
    if not hierarchical:
        return [z_dim]
    if z_dim < 1 + N_CBN:
        raise ValueError('a hierarchical latent needs --z-dim >= {}, got {}'.format(1 + N_CBN, z_dim))
    return [len(part) for part in numpy.array_split(numpy.arange(z_dim), 1 + N_CBN)]


class ConditionalGenerator(chainer.Chain):
    def __init__(self, z_dim=128, n_classes=10, channels=1, ch=128, size=32, init='orthogonal', rng=None,
                 z_distribution='normal', shared_embedding=0, hierarchical_z=False):
        super().__init__()
        if size != 32:
            raise ValueError('the conditional models are built for 32 x 32 images, got {}'.format(size))
        if hierarchical_z and not shared_embedding:
            raise ValueError('a hierarchical latent is appended to the shared embedding: set --shared-embedding')
        self.z_dim, self.n_classes, self.size, self.ch = z_dim, n_classes, size, ch
        self.z_distribution = z_distribution
        self.chunks = latent_chunks(z_dim, hierarchical_z)
        w = lambda: make_initializer(init, rng)  # noqa: E731
        if shared_embedding:
            cond = [shared_embedding + (self.chunks[k + 1] if hierarchical_z else 0) for k in range(N_CBN)]
            cbn = lambda k, c: LinearConditionalBatchNormalization(c, cond[k], initialW=w())  # noqa: E731
        else:
            cbn = lambda k, c: ConditionalBatchNormalization(c, n_classes)  # noqa: E731
        with self.init_scope():
            self.embed = Embedding(n_classes, shared_embedding, initialW=w()) if shared_embedding else None
            self.l0 = L.Linear(self.chunks[0], 16 * ch, initialW=w())
            self.bn0 = cbn(0, 16 * ch)
            self.convs = chainer.ChainList(*[Convolution2D(ch, ch, 3, 1, 1, initialW=w()) for _ in range(3)])
            self.bns = chainer.ChainList(*[cbn(k + 1, ch) for k in range(3)])
            self.out = Convolution2D(ch, channels, 3, 1, 1, initialW=w())

    def conditions(self, z, y):
        """(G's input, the conditioning of each CBN layer): (z, [y] * 4) with per-class tables, (z, [e_y] * 4)
        with a shared embedding, (z_0, [[e_y, z_k] for k = 1 … 4]) with a hierarchical latent too."""
        if self.embed is None:
            return z, [y] * N_CBN
        e = self.embed(y)
        if len(self.chunks) == 1:
            return z, [e] * N_CBN
        parts = F.split_axis(z, list(numpy.cumsum(self.chunks[:-1])), axis=1)
        return parts[0], [F.concat((e, part), axis=1) for part in parts[1:]]

    def make_hidden(self, n, rng, truncation=None):
        return sample_z(n, self.z_dim, self.z_distribution, rng, self.xp, self.l0.W.dtype, truncation=truncation)

    def forward(self, z, y):
        z0, conds = self.conditions(z, y)
        h = F.relu(self.bn0(self.l0(z0), conds[0]))
        h = F.reshape(h, (len(z), self.ch, 4, 4))
        for conv, bn, c in zip(self.convs, self.bns, conds[1:]):
            h = F.relu(bn(conv(upsample(h)), c))
        return F.tanh(self.out(h))


class ProjectionDiscriminator(chainer.Chain):
    def __init__(self, n_classes=10, channels=1, ch=64, init='orthogonal', rng=None):
        super().__init__()
        self.n_classes = n_classes
        w = lambda: make_initializer(init, rng)  # noqa: E731
        widths = [channels, ch, 2 * ch, 4 * ch, 8 * ch]
        with self.init_scope():
            self.same = chainer.ChainList(*[Convolution2D(a, a if i else b, 3, 1, 1, initialW=w())
                                            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))])
            self.down = chainer.ChainList(*[Convolution2D(a if i else b, b, 4, 2, 1, initialW=w())
                                            for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))])
            self.psi = L.Linear(8 * ch, 1, initialW=w())
            self.embed = L.Linear(n_classes, 8 * ch, nobias=True, initialW=w())  # V: yᵀ V = embed(one_hot(y))

    def features(self, x):
        """φ(x): the last feature maps summed over their pixels, (N, 8·ch)."""
        h = x
        for same, down in zip(self.same, self.down):
            h = F.leaky_relu(down(F.leaky_relu(same(h), 0.1)), 0.1)
        return F.sum(h, axis=(2, 3))

    def forward(self, x, y):
        phi = self.features(x)
        one_hot = self.xp.eye(self.n_classes, dtype=phi.dtype)[y]
        projection = F.sum(self.embed(one_hot) * phi, axis=1)
        return F.reshape(self.psi(phi), (-1,)) + projection
