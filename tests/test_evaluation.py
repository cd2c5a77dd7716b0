"""Sample-quality metrics: Fréchet distance, Inception-style score, mode counting, the MNIST classifier,
stacked MNIST and evaluate.py end to end."""
import json
import os
import pickle
import subprocess
import sys

import chainer
import chainer.links as L
import numpy
import pytest

import evaluate
import train_anime
import train_mnist_ssl
import train_mog
from ganlib.classifier import accuracy, load_or_train, predict, train_classifier
from ganlib.evaluation import (feature_statistics, frechet_distance, frechet_distance_of_features, inception_score,
                               mode_histogram, modes_and_kl)
from ganlib.mnist import load_mnist, to_unit_range
from ganlib.stacked_mnist import StackedMNIST, channel_digits, stacked_mnist_score, triple_modes
from tests.conftest import ROOT
from tests.test_anime import make_faces
from tests.test_mnist_ssl import make_tiny_mnist


def test_frechet_distance_of_known_gaussians():
    # 1-D: ‖μ1 − μ2‖² + (σ1 − σ2)² = 1 + (1 − 2)² = 2
    assert frechet_distance([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(2.0)
    # diagonal covariances: Σ (μ diff)² + Σ (√a − √b)²
    a, b = numpy.array([1.0, 4.0, 9.0]), numpy.array([4.0, 1.0, 9.0])
    mu1, mu2 = numpy.array([0.0, 1.0, 2.0]), numpy.array([1.0, 1.0, 0.0])
    ref = ((mu1 - mu2) ** 2).sum() + ((numpy.sqrt(a) - numpy.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, numpy.diag(a), mu2, numpy.diag(b)) == pytest.approx(ref)
    # a full covariance against a scaled copy: Tr(A)(1 − c)²
    rng = numpy.random.RandomState(0)
    m = rng.standard_normal((5, 5))
    A = m @ m.T + 0.1 * numpy.eye(5)
    assert frechet_distance(numpy.zeros(5), A, numpy.zeros(5), 9 * A) == pytest.approx(numpy.trace(A) * 4, rel=1e-8)
    assert frechet_distance(numpy.ones(5), A, numpy.ones(5), A) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_with_singular_covariances_is_finite_and_right():
    # rank-1 covariances (fewer samples than dimensions): sqrtm of a singular product
    u = numpy.array([[1.0, 0.0, 0.0]])
    A, B = u.T @ u, 4 * (u.T @ u)
    d = frechet_distance(numpy.zeros(3), A, numpy.zeros(3), B)
    assert numpy.isfinite(d) and d == pytest.approx(1.0, abs=1e-4)  # (1 − 2)² along the shared axis
    f = numpy.random.RandomState(1).standard_normal((3, 8))  # 3 samples in 8-D
    assert numpy.isfinite(frechet_distance_of_features(f, f[::-1] + 0.5))
    with pytest.raises(ValueError):
        frechet_distance(numpy.zeros(2), numpy.eye(2), numpy.zeros(3), numpy.eye(3))
    # the symmetric form agrees with sqrtm where both are well defined, and on rank-deficient fits
    from ganlib.evaluation import symmetric_sqrt_trace, _sqrtm
    rng = numpy.random.RandomState(3)
    a, b = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    A, B = a @ a.T, b @ b.T
    assert symmetric_sqrt_trace(A, B) == pytest.approx(numpy.trace(_sqrtm(A @ B)).real, rel=1e-8)
    f1, f2 = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) + 1.0
    mu1, c1 = feature_statistics(f1)
    mu2, c2 = feature_statistics(f2)
    ref = ((mu1 - mu2) ** 2).sum() + numpy.trace(c1) + numpy.trace(c2) - 2 * symmetric_sqrt_trace(c1, c2)
    assert frechet_distance_of_features(f1, f2) == pytest.approx(ref, rel=1e-6)


def test_frechet_distance_of_sampled_features_approaches_closed_form():
    rng = numpy.random.RandomState(2)
    f1 = rng.standard_normal((20000, 3))
    f2 = rng.standard_normal((20000, 3)) * 2.0 + numpy.array([1.0, 0.0, 0.0])
    assert frechet_distance_of_features(f1, f2) == pytest.approx(1.0 + 3 * 1.0, rel=0.03)
    mu, cov = feature_statistics(f1)
    assert mu.shape == (3,) and cov.shape == (3, 3)


def test_inception_score_of_perfect_and_uniform_classifiers():
    perfect = numpy.eye(10)[numpy.arange(1000) % 10]
    assert inception_score(perfect)[0] == pytest.approx(10.0, rel=1e-6)
    uniform = numpy.full((1000, 10), 0.1)
    assert inception_score(uniform)[0] == pytest.approx(1.0)
    collapsed = numpy.eye(10)[numpy.zeros(1000, int)]
    assert inception_score(collapsed)[0] == pytest.approx(1.0)
    half = numpy.eye(10)[numpy.arange(1000) % 5]  # confident, 5 classes
    mean, std = inception_score(half)
    assert mean == pytest.approx(5.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)


def test_mode_counting_on_hand_made_predictions():
    pred = numpy.array([0, 0, 1, 1, 2, 2, 3, 3])
    assert mode_histogram(pred, 5).tolist() == [2, 2, 2, 2, 0]
    modes, kl = modes_and_kl(pred, 4)
    assert modes == 4 and kl == pytest.approx(0.0)
    modes, kl = modes_and_kl(numpy.zeros(10, int), 1000)
    assert modes == 1 and kl == pytest.approx(numpy.log(1000))
    modes, kl = modes_and_kl(pred, 8)  # half the modes, evenly: KL = log 2
    assert modes == 4 and kl == pytest.approx(numpy.log(2))
    assert triple_modes(numpy.array([[1, 2, 3], [0, 0, 9]])).tolist() == [123, 9]
    with pytest.raises(ValueError):
        mode_histogram([0, 10], 10)


class BrightnessClassifier(chainer.Chain):
    """A stand-in classifier: digit d is an image whose pixels all equal d / 9 · 2 − 1."""

    def features(self, x):
        x = self.xp.asarray(x).reshape(len(x), -1)
        d = numpy.rint((x.mean(axis=1) + 1) / 2 * 9).astype(int)
        return chainer.Variable(50.0 * numpy.eye(10, dtype=numpy.float32)[d])

    def l2(self, h):
        return h


def test_stacked_mnist_dataset_and_score():
    x = numpy.stack([numpy.full((28, 28), d / 9 * 2 - 1, numpy.float32) for d in range(10)])
    ds = StackedMNIST(x, numpy.arange(10), n=3000, size=32, seed=0)
    e = ds.get_example(5)
    assert e.shape == (3, 32, 32) and (e[:, :2] == -1).all() and (e[:, :, -2:] == -1).all()
    a, b, c = ds.index[5]
    assert ds.label(5) == 100 * a + 10 * b + c
    numpy.testing.assert_array_equal(StackedMNIST(x, numpy.arange(10), n=3000, seed=0).index, ds.index)
    images = numpy.stack([ds.get_example(i) for i in range(len(ds))])
    clf = BrightnessClassifier()
    numpy.testing.assert_array_equal(triple_modes(channel_digits(clf, images[:50])),
                                     [ds.label(i) for i in range(50)])
    score = stacked_mnist_score(clf, images)
    assert score['modes'] == len({ds.label(i) for i in range(len(ds))}) and score['modes'] > 900
    assert score['kl'] < 0.5
    collapsed = stacked_mnist_score(clf, numpy.repeat(images[:1], 100, axis=0))
    assert collapsed['modes'] == 1 and collapsed['kl'] == pytest.approx(numpy.log(1000))


def test_classifier_learns_and_is_cached(tmp_path):
    data = make_tiny_mnist(str(tmp_path / 'data'), n_train=300, n_test=100)
    (x, y), (xt, yt) = load_mnist(data)
    model = train_classifier(to_unit_range(x), y, epochs=3, seed=0, max_shift=0)  # the toy classes are row shifts
    assert accuracy(model, to_unit_range(xt), yt) > 0.5
    probs, feats = predict(model, to_unit_range(xt[:7]), features=True)
    assert probs.shape == (7, 10) and feats.shape == (7, 128)
    numpy.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    cache = str(tmp_path / 'cache')
    messages = []
    m1, info1 = load_or_train(data, cache, epochs=1, log=messages.append)
    assert not info1['cached'] and len(messages) == 1 and 0 <= info1['test_accuracy'] <= 1
    m2, info2 = load_or_train(data, cache, epochs=1, log=messages.append)
    assert info2['cached'] and len(messages) == 1  # not retrained
    numpy.testing.assert_array_equal(m1.l2.W.array, m2.l2.W.array)
    other = make_tiny_mnist(str(tmp_path / 'other'), n_train=300, n_test=100, seed=5)
    load_or_train(other, cache, epochs=1, log=messages.append)
    assert len(messages) == 2  # other training digits: another classifier


SSL_TINY = ['--labels', '20', '--batch-size', '10', '--epochs', '1', '--iterations-per-epoch', '2',
            '--eval-every', '2', '--snapshot-every', '1', '--quiet', '--d-hidden', '32,16,8', '--g-hidden', '16,16']


def test_evaluate_mnist_and_stacked_runs(tmp_path):
    data = make_tiny_mnist(str(tmp_path / 'data'))
    cache = str(tmp_path / 'cache')
    run = str(tmp_path / 'ssl')
    train_mnist_ssl.main(SSL_TINY + ['--data-dir', data, '--out', run])
    res = evaluate.main([run, '--samples', '200', '--classifier-cache', cache, '--classifier-epochs', '1'])
    saved = json.load(open(os.path.join(run, 'evaluation.json')))
    assert saved['kind'] == 'mnist' and saved['fid'] == res['fid'] and res['fid'] >= 0
    assert 1.0 <= res['inception_score'] <= 10.0 and sum(res['class_histogram']) == 200
    assert res['real_samples'] == 50 and 'test_accuracy' in res['classifier']
    scored = train_mnist_ssl.main(SSL_TINY + ['--data-dir', data, '--out', str(tmp_path / 'ssl2'), '--score',
                                              '--score-samples', '100', '--classifier-cache', cache])
    assert scored['sample_scores']['samples'] == 100 and scored['sample_scores']['fid'] >= 0
    stacked = str(tmp_path / 'stacked')
    train_anime.main(['--dataset', 'stacked-mnist', '--data-dir', data, '--stacked-size', '64', '--batch-size', '8',
                      '--g-ch', '32', '--d-ch', '4', '--z-dim', '8', '--epochs', '1', '--iterations-per-epoch', '1',
                      '--grid', '2', '--quiet', '--out', stacked])
    res = evaluate.main([stacked, '--samples', '300', '--classifier-cache', cache])
    assert res['kind'] == 'stacked-mnist' and 1 <= res['modes'] <= 300 and res['kl'] >= 0


def test_evaluate_loads_a_paper_model_ssl_run(tmp_path):
    """--model paper runs have the paper's generator (BN + weight norm): evaluate.py must build that one."""
    data = make_tiny_mnist(str(tmp_path / 'data'))
    run = str(tmp_path / 'paper')
    train_mnist_ssl.main(SSL_TINY + ['--model', 'paper', '--data-dir', data, '--out', run])
    res = evaluate.main([run, '--samples', '100', '--classifier-cache', str(tmp_path / 'cache'),
                         '--classifier-epochs', '1'])
    assert res['kind'] == 'mnist' and sum(res['class_histogram']) == 100 and res['fid'] >= 0


def test_evaluate_faces_needs_an_extractor_and_uses_it(tmp_path):
    data = make_faces(str(tmp_path / 'faces'))
    run = str(tmp_path / 'run')
    train_anime.main(['--data-dir', data, '--size', '64', '--batch-size', '4', '--g-ch', '32', '--d-ch', '4',
                      '--z-dim', '8', '--epochs', '1', '--iterations-per-epoch', '1', '--grid', '2', '--quiet',
                      '--out', run])
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'evaluate.py'), run], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.returncode == 2 and '--feature-extractor' in proc.stderr and 'Traceback' not in proc.stderr
    extractor = L.Linear(3 * 64 * 64, 6, initialW=chainer.initializers.Normal(0.01))
    path = str(tmp_path / 'extractor.pkl')
    with open(path, 'wb') as f:
        pickle.dump(extractor, f)
    res = evaluate.main([run, '--feature-extractor', path, '--samples', '20'])
    assert res['kind'] == 'faces' and res['fid'] >= 0 and res['real_samples'] == 10


def test_evaluate_mog_run(tmp_path):
    run = str(tmp_path / 'mog')
    train_mog.main(['--epochs', '1', '--iterations-per-epoch', '3', '--z-dim', '4', '--g-hidden', '8',
                    '--d-hidden', '8', '--eval-samples', '100', '--plot-samples', '100', '--snapshot-every', '1', '--quiet',
                    '--out', run])
    res = evaluate.main([run, '--samples', '300'])
    assert res['kind'] == 'mog' and 0 <= res['modes'] <= 8 and 0 <= res['hq'] <= 1


def test_random_shift_moves_the_digit_and_fills_with_background():
    from ganlib.classifier import RandomShift
    img = -numpy.ones(784, numpy.float32)
    img.reshape(28, 28)[10, 12] = 1.0
    shift = RandomShift(2, seed=0)
    seen = set()
    for _ in range(50):
        out, t = shift((img, 3))
        assert t == 3 and out.shape == (784,) and (out == 1.0).sum() == 1 and (out == -1.0).sum() == 783
        r, c = divmod(int(numpy.argmax(out)), 28)
        assert abs(r - 10) <= 2 and abs(c - 12) <= 2
        seen.add((r, c))
    assert len(seen) > 5
