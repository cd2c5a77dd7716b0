"""Trainer extensions: mode metrics during training and generator samples saved for the KDE figures."""
import os

import ganlib.compat  # noqa: F401

import chainer
import numpy
from chainer import training
from chainer.training import extensions

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


class CurvePlot(extensions.PlotReport):
    """Chainer's ``PlotReport`` that records one point per trigger exactly as it does (the same means, the same
    data in snapshots) but draws its PNG only at every ``draw_every``-th point and when training ends.  One
    matplotlib figure costs ~0.2 s of CPU: two curves drawn every epoch cost a plain 100-epoch MoG run ~35 s, about
    a tenth of it (``results/speed.md``).  Its trainer name is ``PlotReport``, so snapshots keep their keys: a run
    snapshotted with Chainer's extension resumes with this one, and the other way round."""
    default_name = 'PlotReport'

    def __init__(self, y_keys, x_key='epoch', draw_every=1, **kwargs):
        super().__init__(y_keys, x_key, **kwargs)
        self._draw_every = draw_every
        self._out = None
        self._stale = False

    def __call__(self, trainer):
        self._out = trainer.out
        observation = trainer.observation
        self._summary.add({k: observation[k] for k in self._y_keys if k in observation})
        if not (trainer.is_before_training or self._trigger(trainer)):
            return
        stats = {name: float(value) for name, value in self._summary.compute_mean().items()}
        stats['epoch'], stats['iteration'] = trainer.updater.epoch, trainer.updater.iteration
        for k in self._y_keys:
            if k in stats:
                self._data[k].append((stats[self._x_key], stats[k]))
        self._init_summary()
        self._stale = True
        if max(len(xy) for xy in self._data.values()) % self._draw_every == 0:
            self.draw()

    def finalize(self):
        if self._stale and self._out is not None:
            self.draw()

    def draw(self):
        """Write the PNG from the points recorded so far (``PlotReport``'s figure)."""
        import matplotlib.pyplot as plt
        f = plt.figure()
        a = f.add_subplot(111)
        a.set_xlabel(self._x_key)
        if self._grid:
            a.grid()
        for k in self._y_keys:
            if self._data[k]:
                xy = numpy.array(self._data[k])
                a.plot(xy[:, 0], xy[:, 1], marker=self._marker, label=k)
        if a.has_data():
            if self._postprocess is not None:
                self._postprocess(f, a, self._summary)
            legend = a.legend(bbox_to_anchor=(1.05, 1), loc=2, borderaxespad=0.)
            f.savefig(os.path.join(self._out, self._file_name), bbox_extra_artists=(legend,), bbox_inches='tight')
        plt.close(f)
        self._stale = False


def sample_epochs(n_epochs, every=5):
    """The posts' figure schedule: epochs 1 and every ``every`` (epoch 0 is saved before training)."""
    return sorted({1, n_epochs} | set(range(every, n_epochs + 1, every)) - {0})


class SampleGrid(training.Extension):
    """``samples/epoch_XXXX.png``: G on the same latents (test mode) at the trigger and before training, captioned
    with the epoch and iteration.  Images smaller than ``size`` (a growing generator's) are enlarged by pixel
    repetition so every grid of a run has the same layout."""
    priority = training.PRIORITY_READER

    def __init__(self, gen, out_dir, n_side=8, seed=0, truncation=None, size=None):
        self.gen, self.n_side, self.size = gen, n_side, size
        self.dir = os.path.join(out_dir, 'samples')
        z = gen.make_hidden(n_side * n_side, RandomStream(seed), truncation=truncation)
        self.z = chainer.backend.CpuDevice().send(z)

    def generate(self):
        return self.gen(self.gen.xp.asarray(self.z))

    def picture(self, caption):
        from ganlib.images import add_caption, image_grid
        with chainer.no_backprop_mode(), chainer.using_config('train', False):
            x = chainer.backend.CpuDevice().send(self.generate().array)
        if self.size is not None and x.shape[-1] < self.size:
            k = self.size // x.shape[-1]
            x = x.repeat(k, axis=2).repeat(k, axis=3)
        return add_caption(image_grid(x, self.n_side), caption)

    def save(self, epoch, iteration=0, name=None, caption=None, path=None):
        """Write the grid to ``path`` (default ``samples/<name>.png``, name ``epoch_XXXX``)."""
        from ganlib.images import save_png
        path = path or os.path.join(self.dir, (name or 'epoch_{:04d}'.format(epoch)) + '.png')
        save_png(self.picture(caption or 'epoch {}, iteration {}'.format(epoch, iteration)), path)
        return path

    def initialize(self, trainer):
        if trainer.updater.iteration == 0:
            self.save(0, 0)

    def __call__(self, trainer):
        self.save(trainer.updater.epoch, trainer.updater.iteration)


class ClassGrid(SampleGrid):
    """A class-conditional grid: row c holds class c, column k the same latent z_k in every row."""

    def __init__(self, gen, out_dir, n_classes=10, n_side=8, seed=0, truncation=None):
        super().__init__(gen, out_dir, n_side, seed, truncation)
        self.z = numpy.tile(self.z[:n_side], (n_classes, 1))
        self.labels = numpy.repeat(numpy.arange(n_classes, dtype=numpy.int32), n_side)

    def generate(self):
        xp = self.gen.xp
        return self.gen(xp.asarray(self.z), xp.asarray(self.labels))


class MNISTScore(training.Extension):
    """Score ``n`` samples of an image generator with the repository's MNIST classifier (``ganlib.scoring``):
    FID in its feature space against ``real`` digits, the Inception-style score, classes captured and their KL to
    uniform; for a class-conditional G (``n_classes``) the samples are n/K per class and ``class_match`` says how
    often the classifier agrees with the conditioning class.  The classes are interleaved (0, 1, …, K−1, 0, 1, …):
    the Inception score averages over 10 consecutive splits, and a split of one class would score a perfectly
    conditional G as 1.  Reported as ``eval/...`` at its trigger; the latents come from ``RandomStream(seed)``,
    the same at every call."""
    trigger = 1, 'epoch'
    priority = training.PRIORITY_WRITER
    REPORTED = ('fid', 'inception_score', 'classes_captured', 'class_match')

    def __init__(self, gen, classifier, real, n=2000, seed=0, n_classes=None):
        self.gen, self.classifier, self.real, self.seed = gen, classifier, real, seed
        self.labels = None if n_classes is None else \
            numpy.tile(numpy.arange(n_classes, dtype=numpy.int32), max(1, n // n_classes))
        self.n = n if self.labels is None else len(self.labels)

    def evaluate(self, truncation=None):
        from ganlib.mnist import mnist_digits
        from ganlib.scoring import class_match, mnist_scores
        xp = self.gen.xp
        stream = RandomStream(self.seed)
        with chainer.no_backprop_mode(), chainer.using_config('train', False):
            x = []
            for start in range(0, self.n, 500):
                stop = min(self.n, start + 500)
                z = self.gen.make_hidden(stop - start, stream, truncation=truncation)
                out = self.gen(z) if self.labels is None else self.gen(z, xp.asarray(self.labels[start:stop]))
                x.append(chainer.backend.CpuDevice().send(out.array))
        digits = mnist_digits(numpy.concatenate(x))
        scores = mnist_scores(self.classifier, digits, self.real)
        result = {k: scores[k] for k in ('fid', 'inception_score', 'classes_captured', 'class_kl',
                                          'class_histogram')}
        if self.labels is not None:
            result.update(class_match(self.classifier, digits, self.labels))
        return result

    def __call__(self, trainer):
        s = self.evaluate()
        chainer.report({'eval/' + k: s[k] for k in self.REPORTED if k in s})


class LabelAccuracy(training.Extension):
    """How much a conditional discriminator has learned about the labels: the accuracy of argmax_y D(x, y) on
    held-out real images ``x`` with labels ``y``.  For the projection D (Miyato & Koyama 2018, Eq. 3) only the
    term yᵀVφ(x) depends on y, so this is the classifier D carries inside it; set beside ``class_match`` it tells
    "D has not learned the classes" from "G has not followed D yet".  Test mode, no graph, no random draws:
    training is unchanged.  Reported as ``eval/d_label_accuracy``."""
    trigger = 1, 'epoch'
    priority = training.PRIORITY_WRITER

    def __init__(self, dis, x, y, n_classes, batch_size=500):
        self.dis, self.x, self.y = dis, x, numpy.asarray(y)
        self.n_classes, self.batch_size = int(n_classes), batch_size

    def evaluate(self):
        xp = self.dis.xp
        best = []
        with chainer.no_backprop_mode(), chainer.using_config('train', False):
            for start in range(0, len(self.x), self.batch_size):
                x = xp.asarray(self.x[start:start + self.batch_size])
                scores = [self.dis(x, xp.full(len(x), c, numpy.int32)).array for c in range(self.n_classes)]
                best.append(chainer.backend.CpuDevice().send(xp.stack(scores, axis=1).argmax(axis=1)))
        return float((numpy.concatenate(best) == self.y).mean())

    def __call__(self, trainer):
        chainer.report({'eval/d_label_accuracy': self.evaluate()})


def mnist_score(args, gen, device, n_classes=None):
    """An :class:`MNISTScore` for a run's ``args`` (``data_dir``, ``score_samples``, ``classifier_cache``, ``seed``,
    ``quiet``): the cached classifier (trained once if missing) and the official test digits as the reference."""
    from ganlib.classifier import DEFAULT_CLASSIFIER_CACHE, load_or_train
    from ganlib.mnist import load_mnist, to_unit_range
    classifier, _ = load_or_train(args.data_dir, args.classifier_cache or DEFAULT_CLASSIFIER_CACHE, device=device,
                                  log=lambda m: None if args.quiet else print(m))
    real = to_unit_range(load_mnist(args.data_dir)[1][0][:10000])
    return MNISTScore(gen, classifier, real, args.score_samples, args.seed + 4, n_classes)
