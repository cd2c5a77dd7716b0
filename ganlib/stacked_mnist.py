"""Stacked MNIST (Metz et al. 2017 §3.3.2; VEEGAN; PacGAN): three MNIST digits as the R, G, B channels,
1,000 modes (digit triples), the standard test of mode collapse beyond 2-D toys.

Modes of generated samples are counted with the MNIST classifier applied to each channel separately;
the protocol of VEEGAN / PacGAN scores 26,000 samples: modes captured (triples seen at least once) and
KL(q ‖ uniform over 1,000) of the triple histogram (``ganlib.evaluation.modes_and_kl``).
"""
import ganlib.compat  # noqa: F401

import chainer
import numpy

from ganlib.classifier import predict
from ganlib.evaluation import modes_and_kl

N_MODES = 1000


class StackedMNIST(chainer.dataset.DatasetMixin):
    """``n`` examples; example i stacks the training digits ``index[i] = (a, b, c)`` (drawn with ``seed``)
    as channels, each zero-padded (value −1) from 28 to ``size`` (32 by default, the DCGAN-friendly size).
    Built on the fly: memory is the base digits plus an (n, 3) index.  ``label(i)`` = 100·y_a + 10·y_b + y_c."""

    def __init__(self, x, y, n=128000, size=32, seed=0):
        x = numpy.asarray(x)
        if x.ndim == 2:
            x = x.reshape(-1, 28, 28)
        if size < 28:
            raise ValueError('stacked MNIST size must be >= 28, got {}'.format(size))
        self.base = (x.astype(numpy.float32) / 127.5 - 1.0) if x.dtype == numpy.uint8 else x.astype(numpy.float32)
        self.y = numpy.asarray(y).astype(numpy.int64)
        self.size = size
        self.index = numpy.random.RandomState(seed).randint(0, len(self.base), size=(n, 3))

    def __len__(self):
        return len(self.index)

    def label(self, i):
        a, b, c = self.y[self.index[i]]
        return int(100 * a + 10 * b + c)

    def get_example(self, i):
        out = numpy.full((3, self.size, self.size), -1.0, numpy.float32)
        p = (self.size - 28) // 2
        out[:, p:p + 28, p:p + 28] = self.base[self.index[i]]
        return out


def channel_digits(classifier, images):
    """Predicted digit per channel, (N, 3), for images (N, 3, S, S) in [−1, 1] (centre 28 × 28 crop)."""
    images = numpy.asarray(images, dtype=numpy.float32)
    s = images.shape[-1]
    p = (s - 28) // 2
    crops = images[:, :, p:p + 28, p:p + 28]
    preds = [predict(classifier, crops[:, c])[0].argmax(axis=1) for c in range(3)]
    return numpy.stack(preds, axis=1)


def triple_modes(digits):
    """(N, 3) digits → mode ids 100·a + 10·b + c."""
    d = numpy.asarray(digits).astype(numpy.int64)
    return 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]


def stacked_mnist_score(classifier, images):
    """{'modes': captured of 1,000, 'kl': KL(q ‖ uniform)} of generated stacked-MNIST images."""
    modes, kl = modes_and_kl(triple_modes(channel_digits(classifier, images)), N_MODES)
    return {'modes': modes, 'kl': kl, 'samples': int(len(images))}
