"""Semi-supervised GAN (Salimans et al. 2016, §5): updater, accuracy evaluation and the learning-rate schedule."""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import numpy
from chainer import reporter, training

from ganlib.losses import (feature_matching_loss, feature_matching_pairwise_loss, ssl_d_loss,
                           ssl_g_adversarial_loss)
from ganlib.updaters import GANUpdater

G_LOSSES = ('fm', 'fm-pairwise+adv', 'adv')


class SemiSupervisedGANUpdater(GANUpdater):
    """``GANUpdater`` whose discriminator is a K-class classifier (unrolling works as there).

    Iterators: ``main`` yields unlabelled images, ``labeled`` (image, label) pairs.
    D loss: ``ssl_d_loss`` on a labelled batch, an unlabelled batch and a fake batch (``unlabeled_weight`` w).
    G loss (``g_loss_kind``): ``fm`` — the paper's feature matching of batch means on D's last hidden layer;
    ``fm-pairwise+adv`` — the posts' original code (rows matched pairwise, plus −log D(G(z)));
    ``adv`` — −log D(G(z)) only.
    """

    def __init__(self, unlabeled_iterator, labeled_iterator, gen_optimizer, dis_optimizer, g_loss_kind='fm',
                 unlabeled_weight=1.0, **kwargs):
        if g_loss_kind not in G_LOSSES:
            raise ValueError('unknown generator loss {!r} (choose {})'.format(g_loss_kind, ', '.join(G_LOSSES)))
        super().__init__({'main': unlabeled_iterator, 'labeled': labeled_iterator}, gen_optimizer, dis_optimizer,
                         loss=None, **kwargs)
        self.g_loss_kind = g_loss_kind
        self.unlabeled_weight = unlabeled_weight

    def next_real(self):
        x_unl = self.converter(self.local(self.get_iterator('main').next()), self.device)
        x_lab, t = self.converter(self.local(self.get_iterator('labeled').next()), self.device)
        return x_lab, t, x_unl

    def batch_size(self, real):
        return len(real[2])

    def d_loss(self, dis, real, x_fake):
        x_lab, t, x_unl = real
        return ssl_d_loss(dis(x_lab), t, dis(x_unl), dis(x_fake), self.unlabeled_weight)

    def g_loss(self, dis, x_fake, real):
        x_unl = real[2]
        if self.g_loss_kind == 'adv':
            return ssl_g_adversarial_loss(dis(x_fake))
        _, h_real = dis(x_unl, return_features=True)
        y_fake, h_fake = dis(x_fake, return_features=True)
        if self.g_loss_kind == 'fm':
            return feature_matching_loss(h_real, h_fake)
        return feature_matching_pairwise_loss(h_real, h_fake) + ssl_g_adversarial_loss(y_fake)


def classify(dis, x, batch_size=1000):
    """Predicted classes (argmax of the logits), test mode: no noise, no graph."""
    preds = []
    with chainer.no_backprop_mode(), chainer.using_config('train', False):
        for i in range(0, len(x), batch_size):
            xb = dis.xp.asarray(x[i:i + batch_size])
            preds.append(chainer.backend.CpuDevice().send(F.argmax(dis(xb), axis=1).array))
    return numpy.concatenate(preds)


def accuracy(dis, x, y, batch_size=1000):
    return float(numpy.mean(classify(dis, x, batch_size) == numpy.asarray(y)))


class AccuracyEvaluator(training.Extension):
    """Report the classifier accuracy of ``dis`` on (x, y) as ``key`` (e.g. ``validation/accuracy``)."""
    priority = training.PRIORITY_WRITER

    def __init__(self, dis, x, y, key='validation/accuracy'):
        self.dis, self.x, self.y, self.key = dis, x, y, key

    def __call__(self, trainer):
        chainer.report({self.key: accuracy(self.dis, self.x, self.y)})


class PiecewiseConstantLR(training.Extension):
    """Set ``attr`` (Adam's alpha) of every optimizer from a schedule [(from_epoch, value), ...] — the
    post's 1e-3 (epochs < 10), 3e-4 (< 50), then 1e-4.  Checked every iteration, and at start-up
    (so a resumed run gets the right value)."""
    trigger = 1, 'iteration'
    priority = training.PRIORITY_READER

    def __init__(self, optimizers, schedule, attr='alpha'):
        self.optimizers = optimizers
        self.schedule = sorted(schedule)
        self.attr = attr

    def value(self, epoch):
        current = self.schedule[0][1]
        for start, value in self.schedule:
            if epoch >= start:
                current = value
        return current

    def initialize(self, trainer):
        self(trainer)

    def __call__(self, trainer):
        v = self.value(trainer.updater.epoch)
        for opt in self.optimizers:
            setattr(opt, self.attr, v)
        reporter.report({'lr': v})


def tile_to(n_min, *arrays):
    """Repeat the rows of ``arrays`` (together) until there are at least ``n_min`` (small labelled sets
    are smaller than a batch)."""
    reps = max(1, -(-n_min // len(arrays[0])))
    return tuple(numpy.concatenate([a] * reps) for a in arrays)
