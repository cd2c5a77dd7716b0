"""BigGAN's parts for conditional generation: conditional BN, the projection discriminator, the conditional
updater, the class-match score and train_conditional.py end to end with an exact resume."""
import json
import os
import subprocess
import sys

import chainer
import chainer.links as L
from chainer import gradient_check
import numpy
import pytest

import train_conditional
from ganlib.extensions import LabelAccuracy, MNISTScore
from ganlib.losses import HingeLoss
from ganlib.regularizers import OrthogonalRegularization
from ganlib.scoring import class_match
from ganlib.updaters import ConditionalGANUpdater
from models.conditional import (ConditionalBatchNormalization, ConditionalGenerator, Embedding,
                                LinearConditionalBatchNormalization, ProjectionDiscriminator, one_hot_lookup)
from tests.conftest import ROOT
from tests.test_mnist_ssl import make_tiny_mnist


def test_conditional_batch_norm_uses_each_examples_class_row():
    rng = numpy.random.RandomState(0)
    cbn = ConditionalBatchNormalization(3, 4)
    cbn.gamma.W.array[:] = rng.randn(4, 3)
    cbn.beta.W.array[:] = rng.randn(4, 3)
    x = rng.randn(6, 3, 2, 2).astype(numpy.float32)
    y = numpy.array([0, 3, 3, 1, 2, 0], numpy.int32)
    mu, var = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    normed = (x - mu) / numpy.sqrt(var + 2e-5)
    expect = cbn.gamma.W.array[y][:, :, None, None] * normed + cbn.beta.W.array[y][:, :, None, None]
    numpy.testing.assert_allclose(cbn(x, y).array, expect, rtol=1e-4, atol=1e-5)
    fresh = ConditionalBatchNormalization(3, 4)  # γ = 1, β = 0: plain BN at the start
    numpy.testing.assert_allclose(fresh(x, y).array, normed, rtol=1e-4, atol=1e-5)


def test_one_hot_lookup_gives_the_rows_exactly_and_sums_their_gradients():
    """The GPU path of the class tables: W[y] bit for bit, and dW[k] = Σ_{i: y_i = k} gy_i (numpy.add.at)."""
    rng = numpy.random.RandomState(0)
    W = rng.randn(5, 3).astype(numpy.float32)
    W[2] = [0.0, -0.0, 1e-30]
    y = numpy.array([4, 2, 2, 0, 4, 4], numpy.int32)
    v = chainer.Variable(W.copy())
    out = one_hot_lookup(v, y)
    assert out.dtype == numpy.float32 and numpy.array_equal(out.array, W[y])
    gy = rng.randn(6, 3).astype(numpy.float32)
    out.grad = gy
    out.backward()
    expect = numpy.zeros_like(W)
    numpy.add.at(expect, y, gy)
    numpy.testing.assert_allclose(v.grad, expect, rtol=1e-6, atol=1e-6)
    gradient_check.check_backward(lambda w: one_hot_lookup(w, y), W.astype(numpy.float64),
                                          gy.astype(numpy.float64))


def test_class_tables_are_embeddings_that_stay_embed_id_on_the_cpu():
    """Every class table of G is an Embedding (the GPU path is deterministic); on the CPU its output and gradient are
    L.EmbedID's, bit for bit, so CPU runs are unchanged."""
    for gen in (ConditionalGenerator(8, 10, 1, 4, 32), ConditionalGenerator(10, 10, 1, 4, 32, shared_embedding=6,
                                                                            hierarchical_z=True)):
        tables = [link for link in gen.links() if isinstance(link, L.EmbedID)]
        assert tables and all(type(link) is Embedding for link in tables)
    rng = numpy.random.RandomState(1)
    plain, ours = L.EmbedID(4, 3), Embedding(4, 3)
    ours.W.array[:] = plain.W.array[:] = rng.randn(4, 3)
    y = numpy.array([3, 0, 3, 1], numpy.int32)
    gy = rng.randn(4, 3).astype(numpy.float32)
    for link in (plain, ours):
        link.cleargrads()
        out = link(y)
        out.grad = gy
        out.backward()
    assert numpy.array_equal(ours(y).array, plain(y).array) and numpy.array_equal(ours.W.grad, plain.W.grad)


def test_linear_conditional_batch_norm_maps_the_condition_to_one_plus_gain_and_bias():
    rng = numpy.random.RandomState(2)
    cbn = LinearConditionalBatchNormalization(3, 5, initialW=chainer.initializers.Normal(0.5, rng=rng))
    cbn.gain.b.array[:] = rng.randn(3)
    cbn.bias.b.array[:] = rng.randn(3)
    x = rng.randn(6, 3, 2, 2).astype(numpy.float32)
    c = rng.randn(6, 5).astype(numpy.float32)
    normed = (x - x.mean(axis=(0, 2, 3), keepdims=True)) / numpy.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 2e-5)
    gain = 1 + c @ cbn.gain.W.array.T + cbn.gain.b.array
    bias = c @ cbn.bias.W.array.T + cbn.bias.b.array
    numpy.testing.assert_allclose(cbn(x, c).array, gain[:, :, None, None] * normed + bias[:, :, None, None],
                                  rtol=1e-4, atol=1e-5)


def test_shared_embedding_and_hierarchical_latent_condition_every_cbn_layer():
    z = numpy.random.RandomState(3).randn(4, 13).astype(numpy.float32)
    y = numpy.array([2, 0, 9, 2], numpy.int32)
    shared = ConditionalGenerator(13, 10, 1, 4, init='normal:0.2', rng=numpy.random.RandomState(0), shared_embedding=6)
    z0, conds = shared.conditions(z, y)
    assert z0 is z and len(conds) == 4
    for c in conds:  # one embedding e_y for every layer
        numpy.testing.assert_array_equal(c.array, shared.embed.W.array[y])
    assert shared.bn0.gain.W.shape == (16 * 4, 6) and shared.bns[2].bias.W.shape == (4, 6)
    hier = ConditionalGenerator(13, 10, 1, 4, init='normal:0.2', rng=numpy.random.RandomState(0), shared_embedding=6,
                                hierarchical_z=True)
    assert hier.chunks == [3, 3, 3, 2, 2] and hier.l0.W.shape == (64, 3)
    z0, conds = hier.conditions(z, y)
    numpy.testing.assert_array_equal(z0.array, z[:, :3])
    for c, (lo, hi) in zip(conds, [(3, 6), (6, 9), (9, 11), (11, 13)]):  # [e_y, z_k]
        numpy.testing.assert_array_equal(c.array, numpy.concatenate([hier.embed.W.array[y], z[:, lo:hi]], axis=1))
    assert [bn.gain.W.shape[1] for bn in [hier.bn0] + list(hier.bns)] == [9, 9, 8, 8]
    assert hier(z, y).shape == (4, 1, 32, 32)
    with pytest.raises(ValueError, match='shared embedding'):
        ConditionalGenerator(13, 10, 1, 4, hierarchical_z=True)


def test_projection_term_is_y_transpose_v_phi():
    rng = numpy.random.RandomState(1)
    dis = ProjectionDiscriminator(10, 1, 4, 'normal:0.2', rng=rng)
    x = rng.randn(5, 1, 32, 32).astype(numpy.float32)
    y = numpy.array([0, 9, 4, 4, 7], numpy.int32)
    phi = dis.features(x).array
    V = dis.embed.W.array                                   # (C, classes)
    expect = phi @ dis.psi.W.array.ravel() + dis.psi.b.array[0] + numpy.einsum('nc,cn->n', phi, V[:, y])
    numpy.testing.assert_allclose(dis(x, y).array, expect, rtol=1e-4, atol=1e-5)
    assert phi.shape == (5, 32)


def test_orthogonal_regularisation_leaves_class_embeddings_alone():
    gen = ConditionalGenerator(4, 10, 1, 8, 32, 'normal:0.5', rng=numpy.random.RandomState(2))
    opt = chainer.optimizers.SGD(lr=0.0)
    opt.setup(gen)
    for p in gen.params():
        p.grad = numpy.zeros_like(p.array)
    OrthogonalRegularization(1e-2)(opt)
    assert not gen.bn0.gamma.W.grad.any() and not gen.bns[0].beta.W.grad.any()
    assert gen.l0.W.grad.any() and gen.convs[0].W.grad.any()


class FirstPixelsClassifier(chainer.Chain):
    """A stand-in classifier: class = argmax of the first ten pixels (what ``predict`` needs: features, l2)."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.l2 = L.Linear(10, 10, initialW=numpy.eye(10, dtype=numpy.float32), nobias=True)

    def features(self, x):
        return chainer.functions.reshape(x, (len(x), -1))[:, :10]


class _PerfectConditionalGenerator(object):
    """G(z, y) = an image whose first ten digit pixels are the one-hot of y: FirstPixelsClassifier with gain 20
    names y with probability ≈ 1, whatever z."""
    xp = numpy

    def make_hidden(self, n, stream, truncation=None):
        return numpy.zeros((n, 1), numpy.float32)

    def __call__(self, z, y):
        x = numpy.full((len(y), 1, 32, 32), -1.0, numpy.float32)
        x[numpy.arange(len(y)), 0, 2, 2 + numpy.asarray(y)] = 1.0  # row 0 of the 28 x 28 crop
        return chainer.Variable(x)


def test_conditional_scores_of_a_perfect_generator_see_all_classes_in_every_inception_split():
    """A perfectly conditional G: class match 1 and an Inception score near 10 (confident, uniform over the
    classes).  Samples ordered class by class would put one class in each of the 10 splits and score ≈ 1."""
    classifier = FirstPixelsClassifier()
    classifier.l2.W.array *= 20.0
    real = numpy.full((20, 28, 28), -1.0, numpy.float32)
    score = MNISTScore(_PerfectConditionalGenerator(), classifier, real, n=200, n_classes=10).evaluate()
    q = 9.0 * numpy.exp(-40.0) / (1.0 + 9.0 * numpy.exp(-40.0))  # mass on the 9 wrong classes (logits 40 apart)
    expected = numpy.exp((1 - q) * numpy.log(10 * (1 - q)) + q * numpy.log(10 * q / 9))
    assert score['class_match'] == 1.0 and score['classes_captured'] == 10
    assert score['inception_score'] == pytest.approx(expected, rel=1e-6) and expected > 9.99


def test_class_match_counts_samples_classified_as_their_condition():
    labels = numpy.array([0, 1, 2, 2, 5], numpy.int32)
    predicted = numpy.array([0, 1, 2, 3, 4])
    images = numpy.full((5, 28, 28), -1.0, numpy.float32)
    images.reshape(5, -1)[numpy.arange(5), predicted] = 1.0
    s = class_match(FirstPixelsClassifier(), images, labels)
    assert s['class_match'] == pytest.approx(3 / 5)
    assert s['class_match_per_class'][2] == 0.5 and s['class_match_per_class'][5] == 0.0
    assert s['class_match_per_class'][7] is None


def test_conditional_updater_draws_uniform_fake_labels_and_refuses_unsupported_options():
    gen = ConditionalGenerator(4, 10, 1, 8, 32, 'normal:0.02', rng=numpy.random.RandomState(3))
    dis = ProjectionDiscriminator(10, 1, 4, 'normal:0.02', rng=numpy.random.RandomState(4))
    opts = []
    for link in (gen, dis):
        opt = chainer.optimizers.Adam(alpha=1e-4)
        opt.setup(link)
        opts.append(opt)
    data = chainer.datasets.TupleDataset(numpy.zeros((8, 1, 32, 32), numpy.float32), numpy.arange(8, dtype=numpy.int32))
    it = chainer.iterators.SerialIterator(data, 4)
    upd = ConditionalGANUpdater(it, opts[0], opts[1], HingeLoss(), 10, seed=1, n_critic=2)
    labels = upd.fake_labels(5000)
    assert labels.dtype == numpy.int32 and labels.min() == 0 and labels.max() == 9
    assert numpy.bincount(labels).min() > 400  # uniform over the 10 classes
    upd.update()
    assert upd.iteration == 1 and it.epoch_detail == 1.0  # two D steps: two real batches of 4 = the 8 examples
    with pytest.raises(ValueError, match='gradient_penalty'):
        ConditionalGANUpdater(it, opts[0], opts[1], HingeLoss(), 10, gradient_penalty=10.0)


TINY = ['--max-images', '48', '--batch-size', '8', '--epochs', '2', '--iterations-per-epoch', '2', '--g-ch', '8',
        '--d-ch', '4', '--z-dim', '8', '--score-samples', '20', '--grid', '3', '--log-every', '1', '--quiet']


def test_train_conditional_writes_class_grid_scores_and_resumes_exactly(tmp_path):
    data = make_tiny_mnist(str(tmp_path / 'mnist'))
    cache = ['--classifier-cache', str(tmp_path / 'clf')]
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    result = train_conditional.main(TINY + cache + ['--data-dir', data, '--out', a, '--truncation', '1.0'])
    for name in ('class_grid.png', 'samples/epoch_0000.png', 'samples/epoch_0002.png', 'log', 'snapshot_iter_4'):
        assert os.path.isfile(os.path.join(a, name)), name
    cfg = result['config']
    assert (cfg['loss'], cfg['spectral_norm'], cfg['n_critic'], cfg['lr_d'], cfg['lr_g']) == ('hinge', True, 2, 4e-4,
                                                                                               1e-4)
    assert 0.0 <= result['final']['class_match'] <= 1.0 and result['truncated']['threshold'] == 1.0
    log = json.load(open(os.path.join(a, 'log')))
    assert 'eval/class_match' in log[-1] and 0.0 <= log[-1]['eval/d_label_accuracy'] <= 1.0
    assert result['d_label_accuracy'] == log[-1]['eval/d_label_accuracy']  # the same D, test mode, no draws
    train_conditional.main(TINY + cache + ['--data-dir', data, '--out', b, '--truncation', '1.0', '--resume',
                                           os.path.join(a, 'snapshot_iter_2')])
    full, resumed = numpy.load(os.path.join(a, 'snapshot_iter_4')), numpy.load(os.path.join(b, 'snapshot_iter_4'))
    keys = [k for k in full.files if k.startswith('updater/')]
    assert any('label_rng' in k for k in keys) and any('embed' in k for k in keys)
    for k in keys:
        numpy.testing.assert_array_equal(full[k], resumed[k], err_msg=k)
    unchecked = str(tmp_path / 'c')  # D scored as a classifier every epoch or not: the same training
    train_conditional.main(TINY + cache + ['--data-dir', data, '--out', unchecked, '--label-check', '0'])
    assert 'eval/d_label_accuracy' not in json.load(open(os.path.join(unchecked, 'log')))[-1]
    plain = numpy.load(os.path.join(unchecked, 'snapshot_iter_4'))
    for k in keys:
        numpy.testing.assert_array_equal(full[k], plain[k], err_msg=k)


def test_train_conditional_with_biggans_embedding_and_latent_resumes_exactly(tmp_path):
    data = make_tiny_mnist(str(tmp_path / 'mnist'))
    flags = TINY + ['--classifier-cache', str(tmp_path / 'clf'), '--data-dir', data, '--shared-embedding', '8',
                    '--hierarchical-z', '--z-dim', '10', '--label-check', '0']
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    result = train_conditional.main(flags + ['--out', a])
    assert (result['config']['shared_embedding'], result['config']['hierarchical_z']) == (8, True)
    train_conditional.main(flags + ['--out', b, '--resume', os.path.join(a, 'snapshot_iter_2')])
    full, resumed = numpy.load(os.path.join(a, 'snapshot_iter_4')), numpy.load(os.path.join(b, 'snapshot_iter_4'))
    keys = [k for k in full.files if k.startswith('updater/')]
    assert any('gen/embed/W' in k for k in keys) and any('bn0/gain/W' in k for k in keys)
    for k in keys:
        numpy.testing.assert_array_equal(full[k], resumed[k], err_msg=k)


class _DigitMeanCritic(chainer.Link):
    """f(x, y) = -|mean(x) - y|: largest at the label equal to the image's mean value."""

    def __call__(self, x, y):
        return chainer.Variable(-numpy.abs(x.reshape(len(x), -1).mean(axis=1) - y))


def test_label_accuracy_is_the_accuracy_of_argmax_y_of_d():
    labels = numpy.array([0, 3, 9, 4, 4, 7, 1], numpy.int32)
    images = numpy.broadcast_to(labels[:, None, None, None], (7, 1, 2, 2)).astype(numpy.float32)
    critic = _DigitMeanCritic()
    assert LabelAccuracy(critic, images, labels, n_classes=10, batch_size=3).evaluate() == 1.0
    wrong = labels.copy()
    wrong[:2] = [5, 5]  # two labels that argmax_y cannot give
    assert LabelAccuracy(critic, images, wrong, n_classes=10).evaluate() == pytest.approx(5 / 7)
    # with only 5 classes, the images of 7 and 9 score best at class 4
    assert LabelAccuracy(critic, images, labels, n_classes=5).evaluate() == pytest.approx(5 / 7)


@pytest.mark.parametrize('argv, message', [
    (['--gradient-penalty', '10', '--loss', 'wgan'], 'not supported by the conditional updater'),
    (['--loss', 'lsgan', '--label-smoothing', '0.9'], 'label smoothing'),
    (['--hierarchical-z'], 'set --shared-embedding'),
    (['--hierarchical-z', '--shared-embedding', '8', '--z-dim', '4'], 'at least 5'),
])
def test_bad_flags_are_one_line_errors(tmp_path, argv, message):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'train_conditional.py'), '--data-dir', str(tmp_path)] +
                          argv + ['--out', str(tmp_path / 'x')], capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr and 'Traceback' not in proc.stderr
    assert not os.path.exists(tmp_path / 'x')


def test_missing_mnist_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'train_conditional.py'), '--data-dir',
                           str(tmp_path / 'none'), '--out', str(tmp_path / 'x')], capture_output=True, text=True)
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / 'x')
