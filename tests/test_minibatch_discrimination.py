"""Minibatch discrimination vs a numpy reference of Salimans et al. 2016 §3.2, and its gradients."""
import chainer
import numpy
import pytest
from chainer import gradient_check

from models import MinibatchDiscrimination, MLPDiscriminator


def reference(f, W, b, B, C, exclude_self=True):
    """o(x_i)_b = Σ_j exp(−Σ_c |M_ibc − M_jbc|), M = reshape(f W^T + b, (N, B, C)), written as loops."""
    M = (f @ W.T + b).reshape(len(f), B, C)
    o = numpy.zeros((len(f), B))
    for i in range(len(f)):
        for j in range(len(f)):
            if exclude_self and i == j:
                continue
            for k in range(B):
                o[i, k] += numpy.exp(-numpy.abs(M[i, k] - M[j, k]).sum())
    return numpy.concatenate([f, o], axis=1)


@pytest.mark.parametrize('exclude_self', [True, False])
def test_forward_matches_numpy_reference(exclude_self):
    rng = numpy.random.RandomState(0)
    f = rng.randn(6, 4)
    link = MinibatchDiscrimination(4, n_kernels=3, kernel_dim=2, exclude_self=exclude_self)
    link.T.W.array[...] = rng.randn(6, 4) * 0.3
    link.T.b.array[...] = rng.randn(6) * 0.1
    y = link(f.astype(numpy.float32)).array
    assert y.shape == (6, 4 + 3)
    expected = reference(f, link.T.W.array.astype(numpy.float64), link.T.b.array.astype(numpy.float64), 3, 2,
                         exclude_self)
    numpy.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_identical_rows_give_batch_size_minus_one():
    f = numpy.ones((5, 3), numpy.float32)
    y = MinibatchDiscrimination(3, 4, 2)(f).array
    numpy.testing.assert_allclose(y[:, 3:], 4.0, rtol=1e-6)  # exp(0) for each of the 4 other rows


def test_gradient_check():
    rng = numpy.random.RandomState(1)
    with chainer.using_config('dtype', numpy.float64):
        link = MinibatchDiscrimination(3, 2, 2, initialW=chainer.initializers.Normal(0.5, rng=rng))
    # rows far apart and distinct, so no |·| is evaluated near its kink except the self pair
    f = rng.randn(4, 3)
    gy = rng.randn(4, 5)
    gradient_check.check_backward(link, f, gy, params=(link.T.W, link.T.b), eps=1e-6, atol=1e-5, rtol=1e-4,
                                  dtype=numpy.float64)


def test_discriminator_with_minibatch_discrimination():
    dis = MLPDiscriminator(2, (8,), minibatch_discrimination=(5, 3), rng=numpy.random.RandomState(0))
    x = numpy.random.RandomState(2).randn(7, 2).astype(numpy.float32)
    y, h = dis(x, return_features=True)
    assert y.shape == (7,) and h.shape == (7, 8)
    assert dis.md is not None and dis.out.W.shape == (1, 8 + 5)


def test_bad_sizes():
    with pytest.raises(ValueError):
        MinibatchDiscrimination(3, 0, 2)


def _dcgan_pair(**kw):
    """Two DCGAN discriminators with the same weights and input noise, feature matching on ``conv`` and ``md``."""
    from models.dcgan import DCGANDiscriminator
    return [DCGANDiscriminator(32, 4, minibatch_discrimination=(3, 2), seed=5, rng=numpy.random.RandomState(0),
                               channels=1, fm_layer=layer, **kw) for layer in ('conv', 'md')]


def test_dcgan_feature_matching_layer_md_appends_the_minibatch_features():
    conv, md = _dcgan_pair()
    x = numpy.random.RandomState(3).uniform(-1, 1, (6, 1, 32, 32)).astype(numpy.float32)
    y_conv, h_conv = conv(x, return_features=True)
    y_md, h_md = md(x, return_features=True)
    numpy.testing.assert_array_equal(y_md.array, y_conv.array)  # the layer choice leaves D's output alone
    width = h_conv.shape[1]
    assert h_md.shape == (6, width + 3)
    numpy.testing.assert_array_equal(h_md.array[:, :width], h_conv.array)
    T = md.md.T
    expected = reference(h_conv.array.astype(numpy.float64), T.W.array.astype(numpy.float64),
                         T.b.array.astype(numpy.float64), 3, 2)
    numpy.testing.assert_allclose(h_md.array, expected, rtol=1e-4, atol=1e-5)


def test_feature_matching_on_md_reaches_the_minibatch_kernels():
    """G's feature-matching loss trains through T only when the minibatch features are matched."""
    from ganlib.losses import feature_matching_loss
    rs = numpy.random.RandomState(4)
    real = rs.uniform(-1, 1, (5, 1, 32, 32)).astype(numpy.float32)
    fake = chainer.Variable(rs.uniform(-1, 1, (5, 1, 32, 32)).astype(numpy.float32))
    grads = {}
    for dis in _dcgan_pair():
        dis.cleargrads()
        fake.grad = None
        loss = feature_matching_loss(dis(real, return_features=True)[1], dis(fake, return_features=True)[1])
        loss.backward()
        grads[dis.fm_layer] = (dis.md.T.W.grad, fake.grad.copy())
    assert grads['conv'][0] is None
    assert grads['md'][0] is not None and numpy.abs(grads['md'][0]).max() > 0
    assert not numpy.allclose(grads['md'][1], grads['conv'][1])  # G sees another gradient


def test_dcgan_feature_matching_layer_errors():
    from models.dcgan import DCGANDiscriminator
    with pytest.raises(ValueError, match='needs minibatch discrimination'):
        DCGANDiscriminator(32, 4, fm_layer='md')
    with pytest.raises(ValueError, match='unknown feature-matching layer'):
        DCGANDiscriminator(32, 4, minibatch_discrimination=(3, 2), fm_layer='out')


def test_feature_gap_split_matches_numpy_references():
    """benchmarks/fm_feature_gap.py: D's real − fake logit gap is its conv part plus its minibatch part (D's last
    layer is linear); the parts and the feature-matching distances against features from a D built with
    fm_layer conv and the loop reference of o(x)."""
    from benchmarks.fm_feature_gap import feature_gaps
    conv, md = _dcgan_pair(input_noise=0.0)
    rs = numpy.random.RandomState(6)
    real = rs.uniform(-1, 1, (6, 1, 32, 32)).astype(numpy.float32)
    fake = rs.uniform(-0.5, 0.5, (6, 1, 32, 32)).astype(numpy.float32)
    gaps = feature_gaps(md, real, fake)
    ys, fs, os_ = [], [], []
    for x in (real, fake):
        y, f = conv(x, return_features=True)
        f = f.array.astype(numpy.float64)
        T = md.md.T
        o = reference(f, T.W.array.astype(numpy.float64), T.b.array.astype(numpy.float64), 3, 2)[:, f.shape[1]:]
        ys.append(y.array.astype(numpy.float64))
        fs.append(f)
        os_.append(o)
    w = md.out.W.array[0].astype(numpy.float64)
    df, do = fs[0].mean(0) - fs[1].mean(0), os_[0].mean(0) - os_[1].mean(0)
    numpy.testing.assert_allclose(gaps['logit gap'], ys[0].mean() - ys[1].mean(), rtol=1e-4)
    numpy.testing.assert_allclose(gaps['conv part'], w[:len(df)] @ df, rtol=1e-4, atol=1e-7)
    numpy.testing.assert_allclose(gaps['minibatch part'], w[len(df):] @ do, rtol=1e-3, atol=1e-7)
    numpy.testing.assert_allclose(gaps['conv part'] + gaps['minibatch part'], gaps['logit gap'],
                                  rtol=1e-4, atol=1e-7)
    numpy.testing.assert_allclose(gaps['‖Δ E f‖²'], (df ** 2).sum(), rtol=1e-4)
    numpy.testing.assert_allclose(gaps['‖Δ E o‖²'], (do ** 2).sum(), rtol=1e-3)
    assert gaps['D real > 0 %'] == 100.0 * (ys[0] > 0).mean() and gaps['D fake < 0 %'] == 100.0 * (ys[1] < 0).mean()
    with pytest.raises(ValueError, match='fm_layer md'):
        feature_gaps(conv, real, fake)


def test_feature_gap_script_on_a_tiny_run(tmp_path):
    """The script reads a train_anime.py run's trainer snapshots; runs without minibatch discrimination, missing
    folders and missing data stop with one line (exit 2)."""
    import train_anime
    from benchmarks import fm_feature_gap
    from tests.test_anime import run_cli
    from tests.test_mnist_ssl import make_tiny_mnist
    data = make_tiny_mnist(str(tmp_path / 'mnist'))
    base = ['--data-dir', data, '--dataset', 'mnist', '--size', '32', '--preset', 'improved-gan-post',
            '--batch-size', '4', '--g-ch', '16', '--d-ch', '2', '--epochs', '2', '--iterations-per-epoch', '1',
            '--score-samples', '0', '--quiet']
    md_run, plain_run = str(tmp_path / 'md'), str(tmp_path / 'plain')
    train_anime.main(base + ['--feature-matching', '--minibatch-discrimination', '--out', md_run])
    train_anime.main(base + ['--out', plain_run])
    rows = fm_feature_gap.main([md_run, '--data-dir', data, '--batches', '2', '--every', '2'])
    # snapshots at iterations 1 and 2: the multiple of 2 and the last, the same one
    assert [(r['run'], r['iteration'], r['fm_layer']) for r in rows] == [('md', 2, 'conv')]
    assert all(numpy.isfinite(rows[0][k]) for k in fm_feature_gap.COLUMNS)
    assert abs(rows[0]['conv part'] + rows[0]['minibatch part'] - rows[0]['logit gap']) < 1e-4 * (
        1 + abs(rows[0]['logit gap']))
    for argv, says in (([plain_run, '--data-dir', data], 'no minibatch discrimination'),
                       ([str(tmp_path / 'none'), '--data-dir', data], 'no such run folder'),
                       ([md_run, '--data-dir', str(tmp_path / 'nodata')], 'no such directory'),
                       ([md_run, '--data-dir', data, '--batches', '0'], 'positive')):
        proc = run_cli('benchmarks/fm_feature_gap.py', *argv)
        assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and says in proc.stderr, proc.stderr
        assert 'Traceback' not in proc.stderr
