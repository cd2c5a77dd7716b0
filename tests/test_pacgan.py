"""The PacGAN setting (Lin et al. 2018): maxout, packing, G with batch norm, the ALI code's simultaneous
update, and the preset against the notes on the original experiments."""
import copy
import json
import os
import subprocess
import sys

import chainer
import chainer.functions as F
import numpy
import pytest
from chainer import gradient_check

import train_mog
from ganlib.losses import StandardGANLoss
from ganlib.mog import MixtureIterator, array_converter, ring
from ganlib.rng import RandomStream
from ganlib.updaters import GANUpdater
from models import MLPDiscriminator, MLPGenerator
from models.maxout import maxout
from tests.conftest import ROOT
from tests.test_presets import quoted, settings


def test_maxout_equals_a_numpy_loop_and_chainers_maxout_on_relabelled_pieces():
    rng = numpy.random.RandomState(0)
    n, p, c = 7, 5, 6
    x = rng.randn(n, p * c).astype(numpy.float32)
    expect = numpy.full((n, c), -numpy.inf, numpy.float32)
    for piece in range(p):  # pieces are the outer blocks of C columns
        expect = numpy.maximum(expect, x[:, piece * c:(piece + 1) * c])
    numpy.testing.assert_array_equal(maxout(x, p).array, expect)
    # Chainer's F.maxout groups a unit's pieces together: column c·P + p there is column p·C + c here
    relabelled = x.reshape(n, p, c).transpose(0, 2, 1).reshape(n, c * p)
    numpy.testing.assert_array_equal(F.maxout(relabelled, p).array, expect)


def test_maxout_gradients_and_double_backprop():
    rng = numpy.random.RandomState(1)
    x = rng.randn(4, 3 * 5)  # float64, distinct values: no ties within gradient_check's eps
    gy = rng.randn(4, 5)
    gradient_check.check_backward(lambda v: maxout(v, 3), x, gy, atol=1e-6, rtol=1e-6)
    gradient_check.check_double_backward(lambda v: maxout(v, 3) ** 2, x, gy, rng.randn(*x.shape),
                                         atol=1e-5, rtol=1e-5)


def test_maxout_ties_send_the_gradient_to_the_first_piece_only():
    x = chainer.Variable(numpy.array([[1.0, 2.0, 1.0, 2.0]], numpy.float32))  # pieces (1, 2) and (1, 2)
    y = maxout(x, 2)
    y.grad = numpy.ones_like(y.array)
    y.backward()
    numpy.testing.assert_array_equal(x.grad, [[1.0, 1.0, 0.0, 0.0]])


def test_a_packed_discriminator_judges_m_consecutive_samples_concatenated():
    rng = numpy.random.RandomState(2)
    dis = MLPDiscriminator(2, (6, 6), 'maxout', 'normal:0.5', 1.0, None, rng=rng, maxout_pieces=3, pack=4)
    assert dis.hidden[0].W.shape == (6 * 3, 2 * 4)
    x = rng.randn(12, 2).astype(numpy.float32)
    y = dis(x).array
    assert y.shape == (3,)
    # pack i = samples 4i … 4i + 3 side by side: an unpacked D on 8-D inputs with the same weights agrees
    flat = MLPDiscriminator(8, (6, 6), 'maxout', 'normal:0.5', 1.0, None, rng=rng, maxout_pieces=3, pack=1)
    flat.copyparams(dis)
    rows = numpy.stack([numpy.concatenate(x[4 * i:4 * i + 4]) for i in range(3)])
    numpy.testing.assert_allclose(flat(rows).array, y, rtol=1e-6)
    with pytest.raises(ValueError, match='divisible'):
        dis(x[:10])
    with pytest.raises(ValueError, match='pack'):
        MLPDiscriminator(2, (6,), pack=0)


def test_generator_batch_norm_hidden_layers_have_no_bias_and_normalise_in_training():
    rng = numpy.random.RandomState(3)
    gen = MLPGenerator(2, (16, 16), 2, 'relu', 'normal:0.02', 'normal', rng=rng, batch_norm=True)
    assert all(layer.b is None for layer in gen.hidden) and gen.out.b is not None
    assert gen.norms[0].decay == 0.95 and gen.norms[0].eps == 1e-4
    z = rng.randn(50, 2).astype(numpy.float32)
    a = z.astype(numpy.float64) @ gen.hidden[0].W.array.T.astype(numpy.float64)
    expect = (a - a.mean(axis=0)) / numpy.sqrt(a.var(axis=0) + 1e-4)  # training mode: batch statistics, γ 1, β 0
    numpy.testing.assert_allclose(gen.norms[0](gen.hidden[0](z)).array, expect, rtol=1e-4, atol=1e-5)


def _pair(seed=0):
    rng = numpy.random.RandomState(seed)
    gen = MLPGenerator(2, (8, 8), 2, 'relu', 'normal:0.3', 'normal', rng=rng)
    dis = MLPDiscriminator(2, (8,), 'maxout', 'normal:0.3', 1.0, None, rng=rng, maxout_pieces=3, pack=2)
    return gen, dis


def test_simultaneous_update_takes_both_gradients_at_the_same_point():
    """With SGD, one iteration is θ_D − η ∇_D L_D(θ_G, θ_D) and θ_G − η ∇_G L_G(θ_G, θ_D), both at the old point."""
    gen, dis = _pair()
    gen0, dis0 = copy.deepcopy(gen), copy.deepcopy(dis)
    opts = []
    for link in (gen, dis):
        opt = chainer.optimizers.SGD(lr=0.1)
        opt.setup(link)
        opts.append(opt)
    mixture = ring(std=0.05)
    upd = GANUpdater(MixtureIterator(mixture, 8, 10, seed=5), opts[0], opts[1], StandardGANLoss(), seed=9,
                     converter=array_converter, device=chainer.get_device('@numpy'), simultaneous=True)
    upd.update()
    # by hand, from the copies: the same real batch and latents
    x_real = MixtureIterator(mixture, 8, 10, seed=5).next()
    z = gen0.make_hidden(8, RandomStream(9))
    loss = StandardGANLoss()
    x_fake = gen0(z)
    dis0.cleargrads()
    loss.d_loss(dis0(x_real), dis0(x_fake.array)).backward()
    gen0.cleargrads()
    dis_for_g = copy.deepcopy(dis0)
    loss.g_loss(dis_for_g(x_fake)).backward()
    for link, new in ((dis0, dis), (gen0, gen)):
        for (path, p), (_, q) in zip(sorted(link.namedparams()), sorted(new.namedparams())):
            numpy.testing.assert_allclose(q.array, p.array - 0.1 * p.grad, rtol=1e-5, atol=1e-7, err_msg=path)


def test_simultaneous_update_refuses_unrolling():
    gen, dis = _pair()
    opts = [chainer.optimizers.Adam(), chainer.optimizers.Adam()]
    opts[0].setup(gen)
    opts[1].setup(dis)
    with pytest.raises(ValueError, match='simultaneous'):
        GANUpdater(MixtureIterator(ring(), 8, 10), opts[0], opts[1], StandardGANLoss(), unroll_k=3,
                   simultaneous=True)


def test_pacgan_preset_matches_the_notes():
    quoted('PacGAN (Lin et al. 2018) code: ring of 8, radius 1, σ 0.01; grid 5 × 5 at {−4, …, 4}, σ 0.05. G 4 × 400 '
           'ReLU + BN, z = 2; D 3 × 200 maxout (5 pieces); Adam 1e-4, β1 0.8; batch 100; 400 epochs over 100k samples',
           'Mixture of Gaussians (2,500 samples; high quality = within 3σ of the nearest mode')
    s = settings(train_mog, ['--preset', 'pacgan'])
    expect = dict(dataset='ring', radius=1.0, std=0.01, z_dim=2, z_dist='normal', g_hidden=(400,) * 4,
                  g_batch_norm=True, d_hidden=(200,) * 3, d_activation='maxout', maxout_pieces=5, lr=1e-4, beta1=0.8,
                  batch_size=100, epochs=400, iterations_per_epoch=1000, unroll=0, loss='gan', pack=1,
                  simultaneous=True, eval_samples=2500, init='normal:0.02', input_scale=1.0)
    assert {k: s[k] for k in expect} == expect
    grid = settings(train_mog, ['--preset', 'pacgan', '--dataset', 'grid', '--pack', '4'])
    assert (grid['radius'], grid['std'], grid['pack']) == (2.0, 0.05, 4)
    assert settings(train_mog, ['--preset', 'pacgan', '--std', '0.02'])['std'] == 0.02  # explicit flags win


def test_pacgan_run_packs_the_batch_and_reports_the_sharper_metrics(tmp_path):
    out = str(tmp_path / 'pac')
    result = train_mog.main(['--preset', 'pacgan', '--dataset', 'grid', '--pack', '2', '--epochs', '2',
                             '--iterations-per-epoch', '3', '--g-hidden', '8,8', '--d-hidden', '8', '--batch-size',
                             '10', '--plot-samples', '200', '--snapshot-every', '1', '--quiet', '--out', out])
    assert 0.0 <= result['balanced_hq'] <= result['hq'] + 1e-12  # each mode's share is capped
    assert len(result['hq_counts']) == 25 and result['config']['pack'] == 2
    log = json.load(open(os.path.join(out, 'log')))
    assert {'eval/rev_kl_hq', 'eval/balanced_hq'} <= set(log[-1])
    # the real batch holds batch-size packs of m samples
    args = train_mog.parse_args(['--preset', 'pacgan', '--pack', '2', '--batch-size', '10', '--out',
                                 str(tmp_path / 'never')])
    _, _, dis, updater = train_mog.build(args)
    assert updater.get_iterator('main').batch_size == 20 and dis.pack == 2


@pytest.mark.parametrize('argv, message', [
    (['--simultaneous', '--unroll', '5'], '--simultaneous takes one D and one G step'),
    (['--preset', 'pacgan', '--loss', 'began'], '--simultaneous is not defined for --loss began'),
    (['--pack', '2', '--loss', 'began', '--unroll', '0'], '--pack needs a discriminator'),
    (['--pack', '0'], 'expected a positive integer'),
])
def test_bad_pacgan_flags_are_one_line_errors(tmp_path, argv, message):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'train_mog.py')] + argv + ['--out', str(tmp_path / 'x')],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr and 'Traceback' not in proc.stderr
    assert not os.path.exists(tmp_path / 'x')


def test_no_simultaneous_turns_the_presets_update_rule_off():
    assert settings(train_mog, ['--preset', 'pacgan', '--no-simultaneous'])['simultaneous'] is False
    assert settings(train_mog, ['--preset', 'pacgan'])['simultaneous'] is True
    assert settings(train_mog, [])['simultaneous'] is False
