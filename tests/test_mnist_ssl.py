"""Semi-supervised MNIST: losses, D(x), the split, IDX files, download, the script end to end."""
import gzip
import hashlib
import json
import os
import subprocess
import sys

import chainer
import numpy
import pytest

import train_mnist_ssl
from ganlib import mnist
from ganlib.losses import feature_matching_pairwise_loss, ssl_d_loss, ssl_g_adversarial_loss, ssl_log_d
from ganlib.semi_supervised import PiecewiseConstantLR, tile_to
from models import SSLDiscriminator
from tests.conftest import ROOT


def np_logsumexp(l):
    m = l.max(axis=1, keepdims=True)
    return (m + numpy.log(numpy.exp(l - m).sum(axis=1, keepdims=True)))[:, 0]


def np_softplus(x):
    return numpy.logaddexp(0, x)


def test_ssl_d_loss_matches_numpy_reference():
    rng = numpy.random.RandomState(0)
    l_lab, l_unl, l_fake = rng.randn(4, 10) * 3, rng.randn(5, 10) * 3, rng.randn(6, 10) * 3
    t = numpy.array([1, 0, 9, 3], numpy.int32)
    got = float(ssl_d_loss(l_lab, t, l_unl, l_fake).array)
    log_softmax = l_lab - np_logsumexp(l_lab)[:, None]
    ce = -numpy.mean(log_softmax[numpy.arange(4), t])
    d_unl = numpy.exp(np_logsumexp(l_unl)) / (numpy.exp(np_logsumexp(l_unl)) + 1)
    d_fake = numpy.exp(np_logsumexp(l_fake)) / (numpy.exp(np_logsumexp(l_fake)) + 1)
    expected = ce - numpy.mean(numpy.log(d_unl)) - numpy.mean(numpy.log(1 - d_fake))
    assert got == pytest.approx(expected, rel=1e-10)
    half = float(ssl_d_loss(l_lab, t, l_unl, l_fake, unlabeled_weight=0.5).array)  # the paper's code
    assert half == pytest.approx(ce + 0.5 * (expected - ce), rel=1e-10)
    g = float(ssl_g_adversarial_loss(l_fake).array)
    assert g == pytest.approx(-numpy.mean(numpy.log(d_fake)), rel=1e-10)


def test_ssl_losses_do_not_overflow_for_large_logits():
    big = numpy.full((3, 10), 1000.0, numpy.float32)
    small = numpy.full((3, 10), -1000.0, numpy.float32)
    t = numpy.zeros(3, numpy.int32)
    v = ssl_d_loss(chainer.Variable(big), t, chainer.Variable(big), chainer.Variable(small))
    assert numpy.isfinite(float(v.array))
    # D(x) → 1 for big logits, → 0 for very negative ones: −log D(x_unl) ≈ 0, −log(1 − D(fake)) ≈ 0
    assert float(v.array) == pytest.approx(numpy.log(10), rel=1e-4)  # only the cross-entropy of equal logits
    v.backward()
    g = ssl_g_adversarial_loss(chainer.Variable(small))
    assert float(g.array) == pytest.approx(1000 - numpy.log(10), rel=1e-4)


def test_d_of_x_is_z_over_z_plus_one():
    l = numpy.random.RandomState(1).randn(7, 10)
    z = numpy.exp(l).sum(axis=1)
    numpy.testing.assert_allclose(numpy.exp(ssl_log_d(l).array), z / (z + 1), rtol=1e-12)


def test_pairwise_feature_matching():
    hr, hf = numpy.random.RandomState(2).randn(2, 4, 3)
    assert float(feature_matching_pairwise_loss(hr, chainer.Variable(hf)).array) == pytest.approx(
        ((hr - hf) ** 2).sum() / 4)


def test_split_has_exact_counts_is_disjoint_and_fixed_by_seed():
    y = numpy.repeat(numpy.arange(10), 50)
    numpy.random.RandomState(0).shuffle(y)
    lab, unl, val = mnist.ssl_split(y, 20, seed=3, n_validation=100)
    assert numpy.bincount(y[lab], minlength=10).tolist() == [2] * 10
    assert len(val) == 100 and len(lab) + len(unl) + len(val) == 500
    assert not set(lab) & set(unl) and not set(lab) & set(val) and not set(unl) & set(val)
    again = mnist.ssl_split(y, 20, seed=3, n_validation=100)
    assert all(numpy.array_equal(a, b) for a, b in zip((lab, unl, val), again))
    other = mnist.ssl_split(y, 20, seed=4, n_validation=100)
    assert not numpy.array_equal(lab, other[0])
    with pytest.raises(ValueError):
        mnist.ssl_split(y, 15, 0, 100)
    with pytest.raises(ValueError):
        mnist.ssl_split(y, 1000, 0, 100)  # 100 per class do not exist


@pytest.mark.parametrize('suffix', ['', '.gz'])
def test_idx_round_trip(tmp_path, suffix):
    a = numpy.random.RandomState(0).randint(0, 256, (3, 4, 5)).astype(numpy.uint8)
    path = str(tmp_path / ('x-idx3-ubyte' + suffix))
    mnist.write_idx(path, a)
    numpy.testing.assert_array_equal(mnist.read_idx(path), a)


def test_idx_bad_files(tmp_path):
    p = str(tmp_path / 'bad')
    open(p, 'wb').write(b'hello world')
    with pytest.raises(mnist.IDXError, match='magic'):
        mnist.read_idx(p)
    mnist.write_idx(p, numpy.zeros((4, 2, 2), numpy.uint8))
    data = open(p, 'rb').read()
    open(p, 'wb').write(data[:-3])
    with pytest.raises(mnist.IDXError, match='truncated'):
        mnist.read_idx(p)
    open(p, 'wb').write(b'\x00\x00\x0d\x01\x00\x00\x00\x01abcd')
    with pytest.raises(mnist.IDXError, match='data type'):
        mnist.read_idx(p)
    gz = str(tmp_path / 'bad.gz')
    open(gz, 'wb').write(gzip.compress(b'\x00\x00\x08\x01\x00\x00\x00\x05ab')[:-6])
    with pytest.raises(mnist.IDXError):
        mnist.read_idx(gz)
    with pytest.raises(mnist.IDXError, match='no such file'):
        mnist.read_idx(str(tmp_path / 'nope'))
    with pytest.raises(mnist.IDXError, match='missing'):
        mnist.load_mnist(str(tmp_path))


def make_tiny_mnist(folder, n_train=200, n_test=50, seed=0, gz=True):
    """Random 'digits' whose class sets a bright row, so that a classifier can learn something."""
    rng = numpy.random.RandomState(seed)
    os.makedirs(folder, exist_ok=True)
    for split, n in (('train', n_train), ('t10k', n_test)):
        y = numpy.arange(n) % 10
        x = rng.randint(0, 60, (n, 28, 28)).astype(numpy.uint8)
        x[numpy.arange(n), 2 + 2 * y, :] = 255
        ext = '.gz' if gz else ''
        mnist.write_idx(os.path.join(folder, split + '-images-idx3-ubyte' + ext), x)
        mnist.write_idx(os.path.join(folder, split + '-labels-idx1-ubyte' + ext), y)
    return folder


def test_download_from_a_mirror_checks_md5(tmp_path):
    src = make_tiny_mnist(str(tmp_path / 'mirror'))
    md5 = {name: hashlib.md5(open(os.path.join(src, name), 'rb').read()).hexdigest() for name in mnist.MD5}
    cache = str(tmp_path / 'cache')
    out = mnist.download_mnist(cache, 'file://' + src, md5)
    (x, y), (xt, yt) = mnist.load_mnist(out)
    assert x.shape == (200, 784) and yt.shape == (50,)
    bad = dict(md5, **{'t10k-labels-idx1-ubyte.gz': '0' * 32})
    with pytest.raises(mnist.IDXError, match='checksum'):
        mnist.download_mnist(str(tmp_path / 'cache2'), 'file://' + src, bad)
    with pytest.raises(mnist.IDXError, match='cannot download'):
        mnist.download_mnist(str(tmp_path / 'cache3'), 'file://' + str(tmp_path / 'nowhere'), md5)


def test_discriminator_noise_only_in_training():
    dis = SSLDiscriminator(hidden=(8, 4), rng=numpy.random.RandomState(0))
    x = numpy.zeros((3, 784), numpy.float32)
    with chainer.using_config('train', False):
        a, b = dis(x).array, dis(x).array
    numpy.testing.assert_array_equal(a, b)
    y, h = dis(x, return_features=True)
    assert y.shape == (3, 10) and h.shape == (3, 4)
    assert not numpy.array_equal(dis(x).array, dis(x).array)


def test_lr_schedule_and_tiling():
    ext = PiecewiseConstantLR([], [(0, 1e-3), (10, 3e-4), (50, 1e-4)])
    assert [ext.value(e) for e in (0, 9, 10, 49, 50, 200)] == [1e-3, 1e-3, 3e-4, 3e-4, 1e-4, 1e-4]
    x, y = tile_to(100, numpy.arange(30), numpy.arange(30))
    assert len(x) == 120 and numpy.bincount(x).tolist() == [4] * 30


TINY = ['--labels', '20', '--batch-size', '10', '--epochs', '2', '--iterations-per-epoch', '3', '--eval-every', '3',
        '--snapshot-every', '1', '--quiet', '--d-hidden', '32,16,8', '--g-hidden', '16,16']


@pytest.mark.parametrize('extra', [['--unroll', '2'], ['--model', 'paper', '--z-dim', '8', '--eval-average', '0.2'],
                                   ['--spectral-norm', '--historical-averaging', '0.01', '--ortho-reg', '1e-3']])
def test_end_to_end_and_resume(tmp_path, extra):
    data = make_tiny_mnist(str(tmp_path / 'data'))
    out = str(tmp_path / 'run')
    result = train_mnist_ssl.main(TINY + ['--data-dir', data, '--out', out] + extra)
    m = json.load(open(os.path.join(out, 'metrics.json')))
    assert m['iterations'] == 6 and m['split'] == {'labeled': 20, 'unlabeled': 160, 'validation': 20, 'test': 50,
                                                   'data_dir': data}
    assert 0 <= m['test_accuracy'] <= 1 and result['test_errors'] == m['test_errors']
    for name in ('samples.png', 'log', 'snapshot_iter_3', 'args.json'):
        assert os.path.isfile(os.path.join(out, name)), name
    log = json.load(open(os.path.join(out, 'log')))
    assert 'validation/accuracy' in log[-1]
    assert log[-1]['lr'] == pytest.approx(3e-3 if 'paper' in extra else 1e-3)  # the paper's code / the post
    out2 = str(tmp_path / 'resumed')
    train_mnist_ssl.main(TINY + ['--data-dir', data, '--out', out2, '--resume', os.path.join(out, 'snapshot_iter_3')]
                         + extra)
    full = numpy.load(os.path.join(out, 'snapshot_iter_6'))
    resumed = numpy.load(os.path.join(out2, 'snapshot_iter_6'))
    if '--spectral-norm' in extra:
        assert any(k.endswith('W_u') for k in full.files) and any('HistoricalAveraging' in k for k in full.files)
    if '--eval-average' in extra:
        assert 0 <= m['test_accuracy_averaged'] <= 1 and 'validation/accuracy_averaged' in log[-1]
        assert any(k.startswith('extensions/ParameterAverage/average/') for k in full.files)
    for k in full.files:
        if k.startswith('updater/') or k.startswith('extensions/ParameterAverage'):
            numpy.testing.assert_array_equal(full[k], resumed[k], err_msg=k)


@pytest.mark.parametrize('args, words', [
    (['--labels', '15', '--data-dir', '.'], 'multiple of 10'),
    ([], '--data-dir'),
    (['--data-dir', '/nonexistent/mnist'], 'no such directory'),
    (['--lr-schedule', 'fast', '--data-dir', '.'], '--lr-schedule'),
    (['--model', 'paper', '--spectral-norm', '--data-dir', '.'], 'weight-normalised'),
    (['--eval-average', '2', '--data-dir', '.'], '--eval-average'),
    (['--lr-schedule', '0:inf', '--data-dir', '.'], '--lr-schedule'),
    (['--beta1', '2', '--data-dir', '.'], '[0, 1)'),
    (['--seed', '-5', '--data-dir', '.'], 'integer >= 0'),
])
def test_bad_input_gives_one_line_errors(tmp_path, args, words):
    out = str(tmp_path / 'run')
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'train_mnist_ssl.py')] + args + ['--out', out],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and 'Traceback' not in proc.stderr, proc.stderr
    assert not os.path.exists(out)  # a failed start leaves nothing behind


def test_max_unlabeled_keeps_the_labelled_digits_and_the_first_n_unlabelled(tmp_path):
    data = make_tiny_mnist(str(tmp_path / 'mnist'), n_train=300)
    base = ['--data-dir', data, '--labels', '20', '--n-validation', '30', '--seed', '3', '--out', str(tmp_path / 'x')]
    full = train_mnist_ssl.load_data(train_mnist_ssl.parse_args(base))
    cut = train_mnist_ssl.load_data(train_mnist_ssl.parse_args(base + ['--max-unlabeled', '100']))
    assert full['split']['unlabeled'] == 300 - 30 - 20 and cut['split']['unlabeled'] == 100
    numpy.testing.assert_array_equal(cut['x_unl'], full['x_unl'][:100])
    numpy.testing.assert_array_equal(cut['x_lab'], full['x_lab'])
    numpy.testing.assert_array_equal(cut['x_val'], full['x_val'])
    with pytest.raises(train_mnist_ssl.cli.CleanExit, match='fewer than one batch'):
        train_mnist_ssl.load_data(train_mnist_ssl.parse_args(base + ['--max-unlabeled', '50']))
