"""Trainer extensions: mode metrics during training and generator samples saved for the KDE figures."""
import os

import ganlib.compat  # noqa: F401

import chainer
import numpy
from chainer import training

from ganlib.metrics import mode_metrics
from ganlib.rng import RandomStream


def generate(gen, n, rng, batch_size=2500, truncation=None, dtype=numpy.float64):
    """n generator samples as a float CPU array (test mode, no graph), latents drawn from ``rng`` (a stream)
    (with the truncation trick at ``truncation`` if given)."""
    out = []
    with chainer.no_backprop_mode(), chainer.using_config('train', False):
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            z = gen.make_hidden(m, rng) if truncation is None else gen.make_hidden(m, rng, truncation=truncation)
            out.append(chainer.backend.CpuDevice().send(gen(z).array))
    return numpy.concatenate(out).astype(dtype, copy=False)


class MixtureEvaluator(training.Extension):
    """Report modes captured, high-quality fraction, reverse KL (all samples and high-quality only) and the
    balanced high-quality fraction (``ganlib.metrics``) of ``n_samples`` generator samples drawn from a fixed
    latent seed, as ``eval/modes``, ``eval/hq``, ``eval/rev_kl``, ``eval/rev_kl_hq``, ``eval/balanced_hq``
    (LogReport puts them in the JSON log)."""
    trigger = 1, 'epoch'
    priority = training.PRIORITY_WRITER

    def __init__(self, gen, mixture, n_samples=2500, seed=0):
        self.gen = gen
        self.mixture = mixture
        self.n_samples = n_samples
        self.seed = seed
        self.last = None

    def evaluate(self, truncation=None):
        samples = generate(self.gen, self.n_samples, RandomStream(self.seed), truncation=truncation)
        metrics = mode_metrics(samples, self.mixture.means, self.mixture.std)
        if truncation is None:
            self.last = metrics
        return metrics

    def __call__(self, trainer):
        m = self.evaluate()
        chainer.report({'eval/' + k: m[k] for k in ('modes', 'hq', 'rev_kl', 'rev_kl_hq', 'balanced_hq')})


class SampleSaver(training.Extension):
    """Save ``n`` generator samples (fixed latent seed) as ``<out>/samples/epoch_XXXX.npy`` at the
    trigger and once before training (epoch 0).  Files, not extension state: a resumed run keeps them."""
    priority = training.PRIORITY_READER

    def __init__(self, gen, out_dir, n=10000, seed=0):
        self.gen = gen
        self.dir = os.path.join(out_dir, 'samples')
        self.n = n
        self.seed = seed

    def save(self, epoch):
        os.makedirs(self.dir, exist_ok=True)
        samples = generate(self.gen, self.n, RandomStream(self.seed)).astype(numpy.float32)
        numpy.save(os.path.join(self.dir, 'epoch_{:04d}.npy'.format(epoch)), samples)

    def initialize(self, trainer):
        if trainer.updater.iteration == 0:
            self.save(0)

    def __call__(self, trainer):
        self.save(trainer.updater.epoch)


def sample_epochs(n_epochs, every=5):
    """The posts' figure schedule: epochs 1 and every ``every`` (epoch 0 is saved before training)."""
    return sorted({1, n_epochs} | set(range(every, n_epochs + 1, every)) - {0})
