"""The repository's own MNIST classifier, the feature space of its MNIST FID / Inception-style score."""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.links as L
import numpy


class MNISTClassifier(chainer.Chain):
    """LeNet-style CNN on 28 × 28 digits in [−1, 1]: conv 5×5 (32) → ReLU → max-pool 2 → conv 5×5 (64) →
    ReLU → max-pool 2 → Linear 128 → ReLU (``features``) → Linear 10 (logits).
    Accepts (N, 784), (N, 28, 28) or (N, 1, 28, 28)."""

    def __init__(self, n_features=128, seed=0):
        super().__init__()
        rng = numpy.random.RandomState(seed)
        he = lambda: chainer.initializers.HeNormal(rng=rng)  # noqa: E731
        with self.init_scope():
            self.c1 = L.Convolution2D(1, 32, 5, initialW=he())
            self.c2 = L.Convolution2D(32, 64, 5, initialW=he())
            self.l1 = L.Linear(64 * 4 * 4, n_features, initialW=he())
            self.l2 = L.Linear(n_features, 10, initialW=he())

    def features(self, x):
        x = F.reshape(x, (len(x), 1, 28, 28))
        h = F.max_pooling_2d(F.relu(self.c1(x)), 2)
        h = F.max_pooling_2d(F.relu(self.c2(h)), 2)
        return F.relu(self.l1(h))

    def forward(self, x):
        return self.l2(self.features(x))
