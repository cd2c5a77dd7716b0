"""Train, cache and apply the MNIST classifier (``models.mnist_classifier``) used by the MNIST metrics."""
import hashlib
import json
import os

import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import chainer.links as L
import numpy
from chainer import training

from ganlib.mnist import load_mnist, to_unit_range
from models.mnist_classifier import MNISTClassifier

DEFAULT_CLASSIFIER_CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'gan-stabilisation', 'classifier')


class RandomShift(object):
    """Training augmentation: shift a 28 × 28 digit by up to ``max_shift`` pixels in each direction
    (background −1 fills in), from an RNG of its own."""

    def __init__(self, max_shift=2, seed=0):
        self.max_shift = max_shift
        self.rng = numpy.random.RandomState(seed)

    def __call__(self, example):
        x, t = example
        img = x.reshape(28, 28)
        dy, dx = self.rng.randint(-self.max_shift, self.max_shift + 1, size=2)
        out = numpy.full_like(img, -1.0)
        ys, yd = (slice(0, 28 - dy), slice(dy, 28)) if dy >= 0 else (slice(-dy, 28), slice(0, 28 + dy))
        xs, xd = (slice(0, 28 - dx), slice(dx, 28)) if dx >= 0 else (slice(-dx, 28), slice(0, 28 + dx))
        out[yd, xd] = img[ys, xs]
        return out.reshape(x.shape), t


def train_classifier(x, y, epochs=10, batch_size=100, lr=1e-3, seed=0, device=None, progress=False, max_shift=2):
    """Adam(lr) on softmax cross-entropy for ``epochs`` passes over (x in [−1, 1], y), digits randomly
    shifted by up to ``max_shift`` pixels (0: no augmentation); Chainer's Trainer."""
    device = device or chainer.get_device('@numpy')
    model = MNISTClassifier(seed=seed)
    clf = L.Classifier(model)
    clf.to_device(device)
    opt = chainer.optimizers.Adam(alpha=lr)
    opt.setup(clf)
    sampler = chainer.iterators.ShuffleOrderSampler(numpy.random.RandomState(seed + 1))
    data = chainer.datasets.TupleDataset(x.astype(numpy.float32), y.astype(numpy.int32))
    if max_shift:
        data = chainer.datasets.TransformDataset(data, RandomShift(max_shift, seed + 2))
    it = chainer.iterators.SerialIterator(data, batch_size, order_sampler=sampler)
    trainer = training.Trainer(training.updaters.StandardUpdater(it, opt, device=device), (epochs, 'epoch'),
                               out=os.devnull)
    if progress:
        trainer.extend(training.extensions.ProgressBar(update_interval=20))
    trainer.run()
    return model


def predict(model, x, batch_size=500, features=False):
    """(probabilities (N, 10), features (N, D) or None) in test mode, on the model's device."""
    probs, feats = [], []
    with chainer.no_backprop_mode(), chainer.using_config('train', False):
        for start in range(0, len(x), batch_size):
            xb = model.xp.asarray(numpy.asarray(x[start:start + batch_size], dtype=numpy.float32))
            h = model.features(xb)
            probs.append(chainer.backend.CpuDevice().send(F.softmax(model.l2(h)).array))
            if features:
                feats.append(chainer.backend.CpuDevice().send(h.array))
    return numpy.concatenate(probs).astype(numpy.float64), \
        (numpy.concatenate(feats).astype(numpy.float64) if features else None)


def accuracy(model, x, y):
    probs, _ = predict(model, x)
    return float((probs.argmax(axis=1) == numpy.asarray(y)).mean())


def _fingerprint(x, y):
    h = hashlib.md5()
    h.update(numpy.ascontiguousarray(x).tobytes())
    h.update(numpy.ascontiguousarray(y).tobytes())
    return h.hexdigest()


def load_or_train(data_dir, cache_dir=DEFAULT_CLASSIFIER_CACHE, epochs=10, seed=0, device=None, log=print):
    """The cached classifier for the MNIST in ``data_dir``, trained (and cached) if absent or if the cache
    was made from other training data.  Returns (model, info dict with the test accuracy)."""
    (x_train, y_train), (x_test, y_test) = load_mnist(data_dir)
    key = _fingerprint(x_train, y_train) + '_e{}_s{}'.format(epochs, seed)
    weights = os.path.join(cache_dir, 'mnist_classifier_{}{}.npz'.format(key[:12], key[32:]))
    meta = weights[:-4] + '.json'
    model = MNISTClassifier(seed=seed)
    if os.path.isfile(weights) and os.path.isfile(meta):
        chainer.serializers.load_npz(weights, model)
        info = json.load(open(meta))
        info['cached'] = True
        if device is not None:
            model.to_device(device)
        return model, info
    log('training the MNIST classifier on {} digits ({} epochs; cached in {})'.format(len(y_train), epochs,
                                                                                      cache_dir))
    model = train_classifier(to_unit_range(x_train), y_train, epochs=epochs, seed=seed, device=device)
    info = dict(test_accuracy=accuracy(model, to_unit_range(x_test), y_test), train_digits=int(len(y_train)),
                test_digits=int(len(y_test)), epochs=epochs, seed=seed, train_fingerprint=key)
    os.makedirs(cache_dir, exist_ok=True)
    model_cpu = model.copy()
    model_cpu.to_cpu()
    # Written under temporary names and renamed, the metadata last: runs started in parallel (the benchmarks'
    # jobs) never read a half-written cache; if two train at once, both caches are whole and equal.
    suffix = '.tmp{}'.format(os.getpid())
    chainer.serializers.save_npz(weights + suffix, model_cpu)
    os.replace(weights + suffix, weights)
    with open(meta + suffix, 'w') as f:
        json.dump(info, f, indent=1)
    os.replace(meta + suffix, meta)
    info['cached'] = False
    return model, info
