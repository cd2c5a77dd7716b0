"""Polyak averaging of a link's parameters for evaluation (the Improved-GAN MNIST code tests its discriminator
with a running average of the parameters, rate 1e-4; Salimans et al. 2016, §5 and their
``train_mnist_feature_matching.py``)."""
import copy

import ganlib.compat  # noqa: F401

import chainer
from chainer import training


class ParameterAverage(training.Extension):
    """Keep ``average``, a copy of ``link`` whose parameters follow avg ← avg + r_t (θ − avg) after every update.

    r_t = max(rate, 1 / (t + 1)), t the number of updates averaged so far: the plain mean of θ_0 … θ_t while
    t < 1 / rate, an exponential moving average after that.  (The original started avg at zero with the constant
    rate and no correction; the warm-up here removes that start-up bias.)  Persistents — a fixed weight-norm
    scale, a spectral-norm u, batch-norm statistics — are copied from the live link, not averaged.
    Snapshots carry the average (``--resume`` continues it).
    """
    trigger = 1, 'iteration'
    priority = training.PRIORITY_WRITER + 1  # before the evaluators that read the average

    def __init__(self, link, rate):
        if not 0 < rate <= 1:
            raise ValueError('averaging rate must be in (0, 1], got {}'.format(rate))
        self.link, self.rate, self.t = link, float(rate), 0
        self.average = copy.deepcopy(link)

    def __call__(self, trainer=None):
        self.t += 1
        r = max(self.rate, 1.0 / (self.t + 1))
        for (_, avg), (_, p) in zip(sorted(self.average.namedparams()), sorted(self.link.namedparams())):
            avg.array += r * (p.array - avg.array)
        for (_, sub_avg), (_, sub) in zip(sorted(self.average.namedlinks()), sorted(self.link.namedlinks())):
            for name in sub._persistent:
                value = getattr(sub, name)
                if isinstance(value, chainer.get_array_types()):
                    getattr(sub_avg, name)[...] = value
                else:
                    setattr(sub_avg, name, copy.deepcopy(value))

    def serialize(self, serializer):
        self.t = serializer('t', self.t)
        self.average.serialize(serializer['average'])
