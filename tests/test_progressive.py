"""Progressive growing (Karras et al. 2018): the layers against numpy references, the fade-in, the schedule,
and train_progressive.py end to end with an exact resume in the middle of a fade-in."""
import json
import math
import os
import subprocess
import sys

import chainer
import numpy
import pytest
from chainer import gradient_check
from PIL import Image

import train_progressive
from ganlib.losses import WassersteinLoss
from ganlib.progressive import n_phases, schedule
from models.progressive import (EqualizedConv2D, EqualizedLinear, ProgressiveDiscriminator, ProgressiveGenerator,
                                blur, downsample, minibatch_stddev, pixel_norm, upsample)
from tests.conftest import ROOT
from tests.test_mnist_ssl import make_tiny_mnist


def test_equalized_linear_uses_the_he_scaled_weight_and_scales_its_gradient():
    link = EqualizedLinear(6, 3, rng=numpy.random.RandomState(0))
    c = math.sqrt(2.0) / math.sqrt(6)
    assert abs(float(link.W.array.std()) - 1.0) < 0.5  # stored N(0, 1)
    x = numpy.random.RandomState(1).randn(4, 6).astype(numpy.float32)
    numpy.testing.assert_allclose(link(x).array, x @ (c * link.W.array).T + link.b.array, rtol=1e-5, atol=1e-6)
    link.cleargrads()
    y = link(x)
    y.grad = numpy.ones_like(y.array)
    y.backward()
    # d/dW of Σ y = c · Σ_n x_n: the stored weight's gradient is the effective weight's times c
    numpy.testing.assert_allclose(link.W.grad, c * numpy.tile(x.sum(axis=0), (3, 1)), rtol=1e-5)


def test_equalized_conv_matches_a_numpy_convolution_with_the_scaled_weight():
    rng = numpy.random.RandomState(2)
    link = EqualizedConv2D(2, 3, 3, rng=rng)
    c = math.sqrt(2.0) / math.sqrt(2 * 9)
    x = rng.randn(2, 2, 5, 5).astype(numpy.float32)
    xp = numpy.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    W = c * link.W.array
    expect = numpy.zeros((2, 3, 5, 5), numpy.float64)
    for i in range(5):
        for j in range(5):
            expect[:, :, i, j] = numpy.einsum('nckl,ockl->no', xp[:, :, i:i + 3, j:j + 3], W)
    numpy.testing.assert_allclose(link(x).array, expect + link.b.array[None, :, None, None], rtol=1e-4, atol=1e-5)
    gradient_check.check_backward(link, x.astype(numpy.float32), rng.randn(2, 3, 5, 5).astype(numpy.float32),
                                  (link.W, link.b), eps=1e-2, atol=1e-2, rtol=1e-2)


def test_pixel_norm_against_numpy_and_its_gradient():
    rng = numpy.random.RandomState(3)
    x = rng.randn(2, 5, 3, 3)
    expect = x / numpy.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-8)
    numpy.testing.assert_allclose(pixel_norm(x).array, expect, rtol=1e-10)
    gradient_check.check_backward(pixel_norm, x, rng.randn(*x.shape), atol=1e-6, rtol=1e-6)


def test_minibatch_stddev_against_numpy_and_its_gradient():
    rng = numpy.random.RandomState(4)
    x = rng.randn(6, 3, 2, 2)
    out = minibatch_stddev(x, group_size=2).array
    assert out.shape == (6, 4, 2, 2)
    numpy.testing.assert_array_equal(out[:, :3], x)
    m = 3  # groups {0, 3}, {1, 4}, {2, 5}
    for n in range(6):
        members = x[[n % m, n % m + m]]
        value = numpy.sqrt(members.var(axis=0) + 1e-8).mean()
        numpy.testing.assert_allclose(out[n, 3], numpy.full((2, 2), value), rtol=1e-10)
    gradient_check.check_backward(lambda v: minibatch_stddev(v, 2), x, rng.randn(6, 4, 2, 2), atol=1e-6, rtol=1e-6)
    assert minibatch_stddev(x[:3], group_size=4).shape == (3, 4, 2, 2)  # the group is capped at the batch
    with pytest.raises(ValueError, match='multiple'):
        minibatch_stddev(x[:5], group_size=2)


def test_up_and_down_sampling():
    x = numpy.arange(8, dtype=numpy.float32).reshape(1, 2, 2, 2)
    up = upsample(x).array
    numpy.testing.assert_array_equal(up[0, 0], [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    numpy.testing.assert_array_equal(downsample(up).array, x)


def test_blur_is_the_zero_padded_binomial_filter_against_numpy_and_its_gradient():
    rng = numpy.random.RandomState(3)
    x = rng.randn(2, 3, 5, 6)
    k = numpy.array([1.0, 2.0, 1.0]) / 4
    padded = numpy.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = sum(k[i] * k[j] * padded[:, :, i:i + 5, j:j + 6] for i in range(3) for j in range(3))
    numpy.testing.assert_allclose(blur(x).array, expected, rtol=1e-12)
    gradient_check.check_backward(blur, x, rng.randn(*x.shape), dtype=numpy.float64, atol=1e-6, rtol=1e-6)
    ones = blur(numpy.ones((1, 1, 4, 4), numpy.float32)).array[0, 0]
    assert ones[1:3, 1:3].tolist() == [[1, 1], [1, 1]] and ones[0, 0] == 9 / 16 and ones[0, 1] == 12 / 16


def _record_blurs(monkeypatch, module):
    calls = []

    def recording(h):
        calls.append(h.shape[-1])
        return blur(h)
    monkeypatch.setattr(module, 'blur', recording)
    return calls


def test_blur_sits_after_each_upsampling_conv_in_g_and_before_each_downsampling_conv_in_d(monkeypatch):
    import models.progressive as progressive
    import models.stylegan as stylegan
    calls = _record_blurs(monkeypatch, progressive)
    z = numpy.random.RandomState(0).randn(4, 4).astype(numpy.float32)
    gen = ProgressiveGenerator(4, 16, 1, 8, rng=numpy.random.RandomState(5), blur=True)
    dis = ProgressiveDiscriminator(16, 1, 8, rng=numpy.random.RandomState(6), blur=True)
    for net in (gen, dis):
        net.set_stage(2, 0.5)  # the fade-in's skip paths are plain nearest / box resampling, not blurred
    images = gen(z)
    assert calls == [8, 16]
    dis(images)
    assert calls == [8, 16, 16, 8]
    plain = ProgressiveGenerator(4, 16, 1, 8, rng=numpy.random.RandomState(5))
    plain.set_stage(2, 0.5)
    assert not numpy.allclose(plain(z).array, images.array)
    assert calls == [8, 16, 16, 8]  # blur=False never calls it
    style_calls = _record_blurs(monkeypatch, stylegan)
    w = numpy.random.RandomState(1).randn(4, 6).astype(numpy.float32)
    with chainer.using_config('train', False):
        StyleGenerator(6, 16, 1, 8, 2, rng=numpy.random.RandomState(8), blur=True)(w)
        assert style_calls == [8, 16]  # the first conv of the 8 px and 16 px blocks; not the 4 px layers
        StyleGenerator(6, 16, 1, 8, 2, rng=numpy.random.RandomState(8))(w)
    assert style_calls == [8, 16]


def test_blurred_blocks_filter_between_the_right_layers():
    from models.progressive import DBlock, GBlock, leaky_relu
    x = numpy.random.RandomState(2).randn(2, 3, 8, 8).astype(numpy.float32)
    d = DBlock(3, 4, rng=numpy.random.RandomState(0), blur=True)
    expected = downsample(leaky_relu(d.c2(blur(leaky_relu(d.c1(x))))))  # StyleGAN's D: conv, blur, conv, pool
    numpy.testing.assert_array_equal(d(x).array, expected.array)
    g = GBlock(3, 4, rng=numpy.random.RandomState(0), blur=True)
    expected = pixel_norm(leaky_relu(g.c2(pixel_norm(leaky_relu(blur(g.c1(upsample(x))))))))
    numpy.testing.assert_array_equal(g(x).array, expected.array)


def _nets(size=16, ch=8):
    gen = ProgressiveGenerator(4, size, 1, ch, rng=numpy.random.RandomState(5))
    dis = ProgressiveDiscriminator(size, 1, ch, rng=numpy.random.RandomState(6))
    return gen, dis


def test_generator_fade_in_is_the_exact_blend_of_the_old_and_new_outputs():
    gen, _ = _nets()
    z = gen.make_hidden(4, 0)
    alpha = 0.3
    with chainer.using_config('train', False):
        gen.set_stage(2, alpha)
        blended = gen(z).array
        h1 = gen.blocks[0](gen.base(z))                     # 8 × 8 features
        old = upsample(gen.to_rgb[1](h1)).array             # stage 1's image, enlarged
        new = gen.to_rgb[2](gen.blocks[1](h1)).array        # stage 2's image
    numpy.testing.assert_array_equal(blended, ((1 - alpha) * old + alpha * new).astype(numpy.float32))
    gen.set_stage(2, 1.0)
    numpy.testing.assert_array_equal(gen(z).array, new)
    with pytest.raises(ValueError):
        gen.set_stage(3, 1.0)


def test_discriminator_fade_in_blends_the_new_block_with_the_pooled_input_path():
    _, dis = _nets()
    x = numpy.random.RandomState(7).randn(4, 1, 16, 16).astype(numpy.float32)
    dis.set_stage(2, 0.6)
    lrelu = lambda h: chainer.functions.leaky_relu(h, 0.2)  # noqa: E731
    new = dis.blocks[1](lrelu(dis.from_rgb[2](x)))
    skip = lrelu(dis.from_rgb[1](downsample(x)))
    h = dis.blocks[0](0.4 * skip + 0.6 * new)
    h = lrelu(dis.conv(minibatch_stddev(h, 4)))
    expect = dis.out(lrelu(dis.dense(h.reshape(4, -1)))).array.ravel()
    numpy.testing.assert_allclose(dis(x).array, expect, rtol=1e-5, atol=1e-6)
    for stage in range(3):  # every resolution is accepted at its stage
        dis.set_stage(stage, 1.0)
        assert dis(x[:, :, ::2 ** (2 - stage), ::2 ** (2 - stage)]).shape == (4,)


def test_schedule_phases_and_alpha():
    # phases of 100 images, stages 0..2: stage 0 stable, then fade/stable for stages 1 and 2
    assert schedule(0, 100, 2) == (0, 1.0, 0) and schedule(99, 100, 2) == (0, 1.0, 0)
    assert schedule(100, 100, 2) == (1, 0.0, 1)
    stage, alpha, phase = schedule(125, 100, 2)
    assert (stage, phase) == (1, 1) and alpha == pytest.approx(0.25)
    assert schedule(200, 100, 2) == (1, 1.0, 2)
    assert schedule(350, 100, 2)[:2] == (2, pytest.approx(0.5))
    assert schedule(450, 100, 2) == (2, 1.0, 4) and schedule(10 ** 6, 100, 2) == (2, 1.0, 4)
    assert n_phases(2) == 5


def test_drift_term_adds_epsilon_times_the_mean_squared_real_output():
    y_real, y_fake = numpy.array([1.0, -3.0]), numpy.array([0.5, 0.5])
    plain = WassersteinLoss().d_loss(y_real, y_fake).array
    drift = WassersteinLoss(drift=0.001).d_loss(y_real, y_fake).array
    assert plain == pytest.approx(0.5 - (-1.0)) and drift - plain == pytest.approx(0.001 * (1 + 9) / 2)


TINY = ['--size', '16', '--ch', '8', '--z-dim', '8', '--phase-images', '24', '--batch-size', '8', '--max-images',
        '64', '--snapshot-every', '1', '--log-every', '2', '--grid', '3', '--score-samples', '0', '--quiet']


def test_train_progressive_writes_phase_grids_and_resumes_exactly_mid_fade(tmp_path):
    data = make_tiny_mnist(str(tmp_path / 'mnist'))
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    result = train_progressive.main(TINY + ['--data-dir', data, '--out', a])
    # 5 phases × 24 images / 8 per batch = 15 iterations; stage 2 (16 px) at the end
    assert result['iterations'] == 15 and result['final_stage'] == 2 and result['final_alpha'] == 1.0
    assert [p['phase'] for p in result['phases']] == [0, 1, 2, 3, 4]
    assert [p['resolution'] for p in result['phases']] == [4, 8, 8, 16, 16]
    for name in ('args.json', 'log', 'metrics.json', 'samples/epoch_0000.png', 'samples/phase_0_4px.png',
                 'samples/phase_3_16px.png', 'snapshot_iter_15'):
        assert os.path.isfile(os.path.join(a, name)), name
    with Image.open(os.path.join(a, 'samples', 'phase_0_4px.png')) as im:  # 4 px grids enlarged to 16 px
        assert im.size == (3 * 18 + 2, 14 + 3 * 18 + 2)
    log = json.load(open(os.path.join(a, 'log')))
    assert {'stage', 'alpha', 'dis/gp'} <= set(log[0])
    # iteration 5 ends with 40 images shown: stage 1 fading in (alpha 16/24)
    train_progressive.main(TINY + ['--data-dir', data, '--out', b, '--resume', os.path.join(a, 'snapshot_iter_5')])
    full, resumed = numpy.load(os.path.join(a, 'snapshot_iter_15')), numpy.load(os.path.join(b, 'snapshot_iter_15'))
    keys = [k for k in full.files if k.startswith('updater/')]
    assert any('to_rgb' in k for k in keys)
    for k in keys:
        numpy.testing.assert_array_equal(full[k], resumed[k], err_msg=k)
    assert json.load(open(os.path.join(b, 'metrics.json')))['phases'] == result['phases']


@pytest.mark.parametrize('argv, message', [
    (['--size', '24'], 'power of two'),
    (['--batch-size', '6'], 'multiple of --group-size'),
    (['--phase-images', '0'], 'positive integer'),
    (['--generator', 'stylegan', '--synthesis-input', 'learned'], "invalid choice: 'learned'"),
    (['--generator', 'stylegan', '--style-norm', 'instance'], "invalid choice: 'instance'"),
    (['--generator', 'stylegan', '--mapping-layers', '-1'], 'expected an integer >= 0'),
    (['--generator', 'stylegan', '--mapping-lr-mul', '0'], 'a positive finite number'),
    (['--generator', 'stylegan', '--style-norm', 'none'], '--style-norm none needs --synthesis-input dense'),
    (['--generator', 'stylegan', '--center-w', 'yes'], 'unrecognized arguments: yes'),
])
def test_bad_flags_are_one_line_errors(tmp_path, argv, message):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'train_progressive.py'), '--data-dir', str(tmp_path)] +
                          argv + ['--out', str(tmp_path / 'x')], capture_output=True, text=True)
    assert proc.returncode == 2 and message in proc.stderr and 'Traceback' not in proc.stderr
    assert not os.path.exists(tmp_path / 'x')


def test_missing_mnist_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'train_progressive.py'), '--data-dir',
                           str(tmp_path / 'none'), '--out', str(tmp_path / 'x')], capture_output=True, text=True)
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# -- StyleGAN (Karras et al. 2019) ------------------------------------------------------------------------------
from ganlib.rng import RandomStream  # noqa: E402
from models.stylegan import NoiseInjection, StyleGenerator, StyleLayer, adain, modulated_conv  # noqa: E402


def _style(mixing=0.9, n_mapping=3):
    return StyleGenerator(6, 16, 1, 8, n_mapping, mixing=mixing, seed=3, rng=numpy.random.RandomState(8))


def test_adain_against_numpy_and_its_gradient():
    rng = numpy.random.RandomState(9)
    x, ys, yb = rng.randn(2, 3, 4, 4), rng.randn(2, 3), rng.randn(2, 3)
    mu = x.mean(axis=(2, 3), keepdims=True)
    sigma = numpy.sqrt(((x - mu) ** 2).mean(axis=(2, 3), keepdims=True) + 1e-8)
    expect = ys[:, :, None, None] * (x - mu) / sigma + yb[:, :, None, None]
    numpy.testing.assert_allclose(adain(x, ys, yb).array, expect, rtol=1e-10)
    gradient_check.check_backward(adain, (x, ys, yb), rng.randn(*x.shape), atol=1e-5, rtol=1e-5)


def test_noise_injection_adds_the_per_channel_scaled_noise_image():
    link = NoiseInjection(3)
    assert (link.weight.array == 0).all()  # starts switched off
    link.weight.array[:] = [0.5, -1.0, 2.0]
    x = numpy.zeros((2, 3, 4, 4), numpy.float32)
    noise = numpy.random.RandomState(10).randn(2, 1, 4, 4).astype(numpy.float32)
    out = link(x, noise).array
    for c, b in enumerate([0.5, -1.0, 2.0]):
        numpy.testing.assert_allclose(out[:, c], b * noise[:, 0], rtol=1e-6)
    gen = _style()
    shapes = [n.shape for n in gen.noise_inputs(2, RandomStream(0))]
    assert shapes == [(2, 1, 4, 4)] * 2 + [(2, 1, 8, 8)] * 2 + [(2, 1, 16, 16)] * 2  # one image per layer


def test_mapping_network_depth_and_learning_rate_multiplier():
    gen = _style(n_mapping=5)
    assert len(gen.mapping) == 5 and gen.n_styles == 6
    layer = gen.mapping[0]
    assert layer.scale == pytest.approx(0.01 * math.sqrt(2) / math.sqrt(6))
    assert abs(float(layer.W.array.std()) - 100.0) < 30.0  # stored N(0, 1/0.01²): effective N(0, 2/fan_in)
    assert gen.map(gen.make_hidden(4, 0)).shape == (4, 6)
    flat = _style(n_mapping=0)  # the ablation: w is the pixel-normalised z
    z = flat.make_hidden(4, 0)
    numpy.testing.assert_allclose(flat.map(z).array, z / numpy.sqrt((z ** 2).mean(axis=1, keepdims=True) + 1e-8),
                                  rtol=1e-6)
    assert len(flat.mapping) == 0 and flat.dtype == numpy.float32
    with pytest.raises(ValueError, match='depth >= 0'):
        StyleGenerator(6, 16, 1, 8, 0, w_dim=5)


def test_mapping_learning_rate_multiplier_scales_only_the_step_of_the_effective_weights():
    """--mapping-lr-mul 1 vs the paper's 0.01: the same effective mapping at initialisation (W stored
    N(0, 1/λ²), used × λ·He/√fan_in), and one Adam step moves the effective weights 100 times further."""
    paper = StyleGenerator(6, 16, 1, 8, 2, seed=3, rng=numpy.random.RandomState(8))
    fast = StyleGenerator(6, 16, 1, 8, 2, seed=3, rng=numpy.random.RandomState(8), mapping_lr_mul=1.0)
    z = paper.make_hidden(5, 0)
    numpy.testing.assert_allclose(fast.map(z).array, paper.map(z).array, rtol=1e-5, atol=1e-6)
    moved = []
    for gen in (paper, fast):
        before = [layer.W.array * layer.scale for layer in gen.mapping]
        opt = chainer.optimizers.Adam(alpha=1e-3)
        opt.setup(gen)
        gen.cleargrads()
        chainer.functions.sum(gen.map(z) ** 2).backward()
        opt.update()
        moved.append([numpy.abs(layer.W.array * layer.scale - b).mean() for layer, b in zip(gen.mapping, before)])
    # Adam's first step is ±α per stored element, so the effective weights move by α·scale: a ratio of 1 / 0.01
    numpy.testing.assert_allclose(numpy.array(moved[1]) / numpy.array(moved[0]), 100.0, rtol=1e-2)
    with pytest.raises(ValueError, match='multiplier must be > 0'):
        StyleGenerator(6, 16, 1, 8, 2, mapping_lr_mul=0.0)


def test_truncation_in_w_pulls_towards_the_mean():
    gen = _style()
    gen.w_avg[:] = numpy.arange(6, dtype=numpy.float32)
    w = gen.map(gen.make_hidden(3, 1))
    numpy.testing.assert_allclose(gen.truncate(w, 0.0).array, numpy.tile(gen.w_avg, (3, 1)))
    numpy.testing.assert_allclose(gen.truncate(w, 1.0).array, w.array, rtol=1e-5, atol=1e-6)
    d1 = numpy.linalg.norm(gen.truncate(w, 0.5).array - gen.w_avg, axis=1)
    numpy.testing.assert_allclose(d1, 0.5 * numpy.linalg.norm(w.array - gen.w_avg, axis=1), rtol=1e-5)


def test_center_w_feeds_the_synthesis_network_w_minus_its_running_mean():
    """--center-w: G(z) is the plain generator's synthesis of w − w̄ (w̄ updated first in training, then a
    constant), and truncation gives ψ (w − w̄): ψ = 0 feeds every z the zero vector."""
    plain = StyleGenerator(6, 16, 1, 8, 3, mixing=0.0, seed=3, rng=numpy.random.RandomState(8))
    centred = StyleGenerator(6, 16, 1, 8, 3, mixing=0.0, seed=3, rng=numpy.random.RandomState(8), center_w=True)
    z = plain.make_hidden(4, 2)
    w = plain.map(z).array
    out = centred(z).array  # training mode: w̄ ← 0.005 · mean(w) first
    w_bar = 0.005 * w.mean(axis=0)
    numpy.testing.assert_allclose(centred.w_avg, w_bar, rtol=1e-5, atol=1e-8)
    noise = plain.noise_inputs(4, plain.noise_stream)  # the same draws as the centred generator's
    expect = plain.synthesize([w - w_bar] * plain.n_styles, noise).array
    numpy.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-6)
    assert not numpy.allclose(out, plain.synthesize([w] * plain.n_styles, noise).array, atol=1e-4)
    centred.w_avg[:] = plain.w_avg[:] = numpy.arange(6, dtype=numpy.float32)
    with chainer.using_config('train', False):
        for psi in (None, 0.5, 0.0):
            got = centred(z, psi=psi, noise_seed=7).array
            scale = 1.0 if psi is None else psi
            want = plain.synthesize([scale * (w - plain.w_avg)] * plain.n_styles,
                                    plain.noise_inputs(4, RandomStream(7))).array
            numpy.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)  # w̄ up to 5: float32 rounding
    centred.cleargrads()
    chainer.functions.sum(centred(z) ** 2).backward()  # w̄ is a constant: the mapping still gets its gradient
    assert all(numpy.abs(layer.W.grad).sum() > 0 for layer in centred.mapping)


def test_w_average_is_a_running_mean_in_training_only():
    gen = _style(mixing=0.0)
    z = gen.make_hidden(4, 2)
    w = gen.map(z).array
    gen(z)
    numpy.testing.assert_allclose(gen.w_avg, 0.005 * w.mean(axis=0), rtol=1e-5, atol=1e-8)
    with chainer.using_config('train', False):
        gen(z)
    numpy.testing.assert_allclose(gen.w_avg, 0.005 * w.mean(axis=0), rtol=1e-5, atol=1e-8)


def test_style_mixing_takes_the_layers_after_a_crossover_from_a_second_latent(monkeypatch):
    gen = _style(mixing=1.0)
    z = gen.make_hidden(2, 4)
    mix = RandomStream(4)  # the generator's mixing stream: seed + 1 = 4
    draw = float(mix.uniform(0.0, 1.0, (1,), numpy)[0])
    cut = 1 + int(mix.integers(2 * gen.stage + 1, (1,), numpy)[0])
    z2 = gen.make_hidden(2, mix)
    seen = {}
    monkeypatch.setattr(gen, 'synthesize', lambda ws, noise: seen.setdefault('ws', ws))
    gen(z)
    w, w2 = gen.map(z).array, gen.map(z2).array
    assert draw < 1.0 and 1 <= cut < 6
    for i, wi in enumerate(seen['ws']):
        numpy.testing.assert_allclose(wi.array, w if i < cut else w2, rtol=1e-6, err_msg=str(i))
    gen_off = _style(mixing=0.0)
    monkeypatch.setattr(gen_off, 'synthesize', lambda ws, noise: seen.__setitem__('off', ws))
    gen_off(z)
    assert all(wi is seen['off'][0] for wi in seen['off'])


def test_style_generator_fades_in_like_pggan():
    gen = _style()
    z = gen.make_hidden(2, 5)
    with chainer.using_config('train', False):
        gen.set_stage(1, 0.25)
        out = gen(z, noise_seed=3).array
        w = gen.map(z)
        noise = gen.noise_inputs(2, RandomStream(3))
        h = gen.layers[1](gen.layers[0](chainer.functions.broadcast_to(gen.const, (2, 8, 4, 4)), w, noise[0]),
                          w, noise[1])
        new = gen.to_rgb[1](gen.layers[3](gen.layers[2](upsample(h), w, noise[2]), w, noise[3])).array
        old = upsample(gen.to_rgb[0](h)).array
    numpy.testing.assert_allclose(out, 0.75 * old + 0.25 * new, rtol=1e-5, atol=1e-6)


def test_dense_synthesis_input_is_pggans_dense_layer_of_the_first_layers_w():
    """--synthesis-input dense (StyleGAN Table 1, C): no constant; the 4 × 4 input is EqualizedLinear(w_0) with gain
    √2/4, reshaped, then layer 0's noise, bias, LReLU and AdaIN; it follows w_0 and not the later styles."""
    gen = StyleGenerator(6, 16, 1, 8, 2, seed=3, rng=numpy.random.RandomState(8), synthesis_input='dense')
    assert not hasattr(gen, 'const') and gen.input_dense.scale == pytest.approx(math.sqrt(2) / 4 / math.sqrt(6))
    gen.set_stage(0, 1.0)
    rng = numpy.random.RandomState(4)
    w0, w1, w0b = (rng.randn(2, 6).astype(numpy.float32) for _ in range(3))
    noise = gen.noise_inputs(2, RandomStream(5))
    dense = (w0 @ (gen.input_dense.W.array * gen.input_dense.scale).T).reshape(2, 8, 4, 4)
    expected = gen.to_rgb[0](gen.layers[1](gen.layers[0](dense, w0, noise[0]), w1, noise[1])).array
    got = gen.synthesize([w0, w1] + [w1] * (gen.n_styles - 2), noise).array
    numpy.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    other = gen.synthesize([w0b, w1] + [w1] * (gen.n_styles - 2), noise).array
    assert numpy.abs(other - got).max() > 1e-3  # the input follows w_0
    with pytest.raises(ValueError, match='synthesis input'):
        StyleGenerator(6, 16, 1, 8, 2, synthesis_input='learned')


def _modulated_conv_numpy(x, W, b, s, eps=1e-8):
    """StyleGAN2 Eqs. 1 and 3 written out: per sample n, w'' = s_i w / sqrt(sum_{i,k,l} (s_i w)^2 + eps), then a
    3 x 3 'same' convolution with it."""
    n, _, h, w = x.shape
    xp = numpy.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = numpy.zeros((n, W.shape[0], h, w))
    for m in range(n):
        mod = W * s[m][None, :, None, None]
        mod = mod / numpy.sqrt((mod ** 2).sum(axis=(1, 2, 3), keepdims=True) + eps)
        for i in range(h):
            for j in range(w):
                out[m, :, i, j] = numpy.einsum('ckl,ockl->o', xp[m, :, i:i + 3, j:j + 3], mod)
    return out + b[None, :, None, None]


def test_modulated_conv_is_stylegan2s_demodulated_per_sample_weight_and_its_gradient():
    rng = numpy.random.RandomState(11)
    conv = EqualizedConv2D(3, 4, 3, rng=rng)
    conv.b.array[:] = rng.randn(4)
    x, s = rng.randn(2, 3, 5, 5), rng.rand(2, 3) + 0.5
    conv.to_device('@numpy')
    for p in conv.params():
        p.array = p.array.astype(numpy.float64)
    expect = _modulated_conv_numpy(x, conv.W.array * conv.scale, conv.b.array, s)
    numpy.testing.assert_allclose(modulated_conv(x, conv, s).array, expect, rtol=1e-10, atol=1e-12)
    # the style's overall size and the He constant cancel in the demodulation: only directions matter
    numpy.testing.assert_allclose(modulated_conv(x, conv, 7.0 * s).array, expect, rtol=1e-7, atol=1e-7)
    gradient_check.check_backward(lambda a, t: modulated_conv(a, conv, t), (x, s), rng.randn(2, 4, 5, 5),
                                  (conv.W, conv.b), atol=1e-6, rtol=1e-6)


def test_demodulation_gives_unit_variance_outputs_for_unit_variance_inputs():
    """Eq. 3's purpose: with i.i.d. N(0, 1) inputs, every output map has std ≈ 1 whatever the style's size."""
    rng = numpy.random.RandomState(12)
    conv = EqualizedConv2D(16, 8, 3, rng=rng)
    x = rng.randn(64, 16, 12, 12).astype(numpy.float32)
    s = (rng.rand(64, 16) * 20).astype(numpy.float32)
    inner = modulated_conv(x, conv, s).array[:, :, 1:-1, 1:-1]  # padding lowers the border's energy
    numpy.testing.assert_allclose(inner.std(axis=(0, 2, 3)), 1.0, rtol=0.05)


def test_demod_style_layers_skip_adain_and_the_input_layer_has_no_style():
    """--style-norm demod: layer 0 (no conv) is √2 · LReLU(const + noise + bias) with no style at all; a conv layer
    is √2 · LReLU(modulated_conv(h, A(w)) + noise + bias), A(w) = s with its bias starting at 1."""
    rng = numpy.random.RandomState(13)
    first = StyleLayer(4, 4, 6, conv=False, rng=rng, style_norm='demod')
    layer = StyleLayer(4, 5, 6, rng=rng, style_norm='demod')
    assert first.affine is None and first.style_scale(numpy.zeros((2, 6), numpy.float32)) is None
    numpy.testing.assert_array_equal(layer.affine.b.array, numpy.ones(4, numpy.float32))
    layer.bias.array[:] = rng.randn(5)
    layer.noise.weight.array[:] = rng.randn(5)
    h, w = rng.randn(2, 4, 4, 4).astype(numpy.float32), rng.randn(2, 6).astype(numpy.float32)
    noise = rng.randn(2, 1, 4, 4).astype(numpy.float32)
    s = w @ (layer.affine.W.array * layer.affine.scale).T + 1.0
    pre = modulated_conv(h, layer.conv, s).array + layer.noise.weight.array[None, :, None, None] * noise + \
        layer.bias.array[None, :, None, None]
    expect = numpy.sqrt(2.0) * numpy.where(pre > 0, pre, 0.2 * pre)
    numpy.testing.assert_allclose(layer(h, w, noise).array, expect, rtol=1e-5, atol=1e-5)
    numpy.testing.assert_allclose(layer.style_scale(w).array, s, rtol=1e-5, atol=1e-6)
    pre0 = h + first.bias.array[None, :, None, None]
    numpy.testing.assert_allclose(first(h, w, noise).array, numpy.sqrt(2.0) * numpy.where(pre0 > 0, pre0, 0.2 * pre0),
                                  rtol=1e-6)
    with pytest.raises(ValueError, match='style norm'):
        StyleGenerator(6, 16, 1, 8, 2, style_norm='instance')



def test_style_norm_none_is_pggans_layer_fed_only_through_the_dense_input():
    """--style-norm none: every layer is pixel_norm(LReLU(conv(h) + noise + bias)) with no style; z reaches the
    image through w_0's dense input alone, so the later styles change nothing."""
    rng = numpy.random.RandomState(14)
    layer = StyleLayer(3, 5, 6, rng=rng, style_norm='none')
    assert layer.affine is None and layer.style_scale(numpy.zeros((2, 6), numpy.float32)) is None
    layer.bias.array[:] = rng.randn(5)
    layer.noise.weight.array[:] = rng.randn(5)
    h, noise = rng.randn(2, 3, 4, 4).astype(numpy.float32), rng.randn(2, 1, 4, 4).astype(numpy.float32)
    pre = layer.conv(h).array + layer.noise.weight.array[None, :, None, None] * noise + \
        layer.bias.array[None, :, None, None]
    act = numpy.where(pre > 0, pre, 0.2 * pre)
    expect = act / numpy.sqrt((act ** 2).mean(axis=1, keepdims=True) + 1e-8)
    numpy.testing.assert_allclose(layer(h, None, noise).array, expect, rtol=1e-5, atol=1e-6)
    gen = StyleGenerator(6, 16, 1, 8, 2, seed=3, rng=rng, synthesis_input='dense', style_norm='none')
    gen.set_stage(2, 1.0)
    w0, w1, w2 = (rng.randn(2, 6).astype(numpy.float32) for _ in range(3))
    noise = gen.noise_inputs(2, RandomStream(5))
    base = gen.synthesize([w0] + [w1] * (gen.n_styles - 1), noise).array
    numpy.testing.assert_array_equal(gen.synthesize([w0] + [w2] * (gen.n_styles - 1), noise).array, base)
    assert numpy.abs(gen.synthesize([w2] + [w1] * (gen.n_styles - 1), noise).array - base).max() > 1e-3
    with pytest.raises(ValueError, match='dense synthesis input'):
        StyleGenerator(6, 16, 1, 8, 2, style_norm='none')

def test_a_run_saved_before_synthesis_input_existed_resumes_only_with_the_constant(tmp_path):
    """Older StyleGAN runs' args.json has no synthesis_input: --resume takes them as --synthesis-input const."""
    from ganlib import cli
    from ganlib.run import check_resume
    snapshot = tmp_path / 'snapshot_iter_5'
    with open(str(snapshot), 'wb') as f:
        numpy.savez(f, x=numpy.zeros(1))  # a snapshot without RunConfig's copy: args.json beside it is read
    old = {'generator': 'stylegan', 'lr': 3e-4}
    (tmp_path / 'args.json').write_text(json.dumps(old))
    check_resume(str(snapshot), dict(old, synthesis_input='const'))
    with pytest.raises(cli.CleanExit, match='--synthesis-input dense .snapshot: const.'):
        check_resume(str(snapshot), dict(old, synthesis_input='dense'))
    check_resume(str(snapshot), {'generator': 'stylegan', 'lr': 3e-4})  # other scripts never had the flag
    check_resume(str(snapshot), dict(old, synthesis_input='const', style_norm='adain'))
    with pytest.raises(cli.CleanExit, match='--style-norm demod .snapshot: adain.'):
        check_resume(str(snapshot), dict(old, synthesis_input='const', style_norm='demod'))
    check_resume(str(snapshot), dict(old, synthesis_input='const', mapping_lr_mul=0.01))
    with pytest.raises(cli.CleanExit, match='--mapping-lr-mul 1.0 .snapshot: 0.01.'):
        check_resume(str(snapshot), dict(old, synthesis_input='const', mapping_lr_mul=1.0))
    check_resume(str(snapshot), dict(old, synthesis_input='const', center_w=False))
    with pytest.raises(cli.CleanExit, match='--center-w True .snapshot: False.'):
        check_resume(str(snapshot), dict(old, synthesis_input='const', center_w=True))
    check_resume(str(snapshot), dict(old, synthesis_input='const', fm_layer='conv'))  # train_anime.py's, session 31
    with pytest.raises(cli.CleanExit, match='--fm-layer md .snapshot: conv.'):
        check_resume(str(snapshot), dict(old, synthesis_input='const', fm_layer='md'))


@pytest.mark.parametrize('flags', [['--blur', '--synthesis-input', 'dense'],
                                   ['--style-norm', 'demod', '--mapping-lr-mul', '1'],
                                   ['--synthesis-input', 'dense', '--style-norm', 'none', '--center-w']])
def test_train_stylegan_writes_its_figures_and_resumes_exactly(tmp_path, flags):
    data = make_tiny_mnist(str(tmp_path / 'mnist'))
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    style = ['--generator', 'stylegan', '--mapping-layers', '2'] + flags
    train_progressive.main(TINY + style + ['--data-dir', data, '--out', a])
    saved = json.load(open(os.path.join(a, 'args.json')))
    assert saved['blur'] == ('--blur' in flags)
    assert saved['synthesis_input'] == ('dense' if 'dense' in flags else 'const')
    assert saved['style_norm'] == (flags[flags.index('--style-norm') + 1] if '--style-norm' in flags else 'adain')
    assert saved['mapping_lr_mul'] == (1.0 if '--mapping-lr-mul' in flags else 0.01)
    assert saved['center_w'] == ('--center-w' in flags)
    for name in ('style_mixing.png', 'noise_variation.png', 'samples/phase_4_16px.png'):
        assert os.path.isfile(os.path.join(a, name)), name
    train_progressive.main(TINY + style + ['--data-dir', data, '--out', b, '--resume',
                                           os.path.join(a, 'snapshot_iter_7')])
    full, resumed = numpy.load(os.path.join(a, 'snapshot_iter_15')), numpy.load(os.path.join(b, 'snapshot_iter_15'))
    keys = [k for k in full.files if k.startswith('updater/')]
    assert any('mix_rng' in k for k in keys) and any('w_avg' in k for k in keys)
    for k in keys:
        numpy.testing.assert_array_equal(full[k], resumed[k], err_msg=k)
    if saved['style_norm'] != 'adain':  # the diagnostic reads these runs: a layer without a style shows None
        from benchmarks import stylegan_style_spread
        spreads = stylegan_style_spread.main([a, '--samples', '8'])[-1]['style_spread']
        if saved['style_norm'] == 'demod':  # layer 0 has no conv and so no style
            assert spreads[0] is None and all(v > 0 for v in spreads[1:])
        else:
            assert spreads == [None] * len(spreads)


def test_ns_r1_loss_is_the_non_saturating_loss_with_r1_on_reals(tmp_path):
    """--loss ns-r1 (StyleGAN's FFHQ setting): StandardGANLoss, R1 γ = --gradient-penalty, no WGAN-GP; the run logs
    the penalty as dis/gp."""
    from ganlib.losses import StandardGANLoss
    data = make_tiny_mnist(str(tmp_path / 'mnist'))
    args = train_progressive.parse_args(TINY + ['--data-dir', data, '--loss', 'ns-r1', '--gradient-penalty', '5',
                                                 '--out', str(tmp_path / 'a')])
    _, _, updater = train_progressive.build(args, train_progressive.load_images(args), chainer.get_device('@numpy'))
    assert isinstance(updater.loss, StandardGANLoss) and updater.r1_gamma == 5.0 and updater.gp_lambda == 0.0
    train_progressive.main(TINY + ['--data-dir', data, '--loss', 'ns-r1', '--out', str(tmp_path / 'b')])
    log = json.load(open(str(tmp_path / 'b' / 'log')))
    assert all(entry['dis/gp'] > 0 for entry in log)
    assert json.load(open(str(tmp_path / 'b' / 'args.json')))['loss'] == 'ns-r1'


def test_style_spread_diagnostic_reads_every_generator_snapshot(tmp_path):
    """benchmarks/stylegan_style_spread.py: one row per gen_iter_N.npz, at the run's (stage, α), with the style
    spread of every active layer; a PGGAN run is refused in one line."""
    from benchmarks import stylegan_style_spread
    data = make_tiny_mnist(str(tmp_path / 'mnist'))
    run = str(tmp_path / 'style')
    train_progressive.main(TINY + ['--generator', 'stylegan', '--mapping-layers', '2', '--snapshot-every', '5',
                                   '--data-dir', data, '--out', run])
    rows = stylegan_style_spread.main([run, '--samples', '16'])
    assert [r['iteration'] for r in rows] == [5, 10, 15]
    # 8 images per iteration, phases of 24: 40 images = stage 1 fading in (16/24), 80 = stage 2 fading in (8/24)
    assert [(r['stage'], r['alpha']) for r in rows] == [(1, pytest.approx(2 / 3)), (2, pytest.approx(1 / 3)),
                                                       (2, 1.0)]
    assert all(len(r['style_spread']) == 2 * (r['stage'] + 1) == len(r['pattern_spread']) for r in rows)
    assert all(0.0 <= v <= 1.0 + 1e-6 for r in rows for v in r['pattern_spread'])
    pattern = numpy.random.RandomState(2).randn(1, 3, 4, 4)
    same = numpy.repeat(pattern * 2.0 + 1.0, 6, axis=0) * numpy.arange(1, 7)[:, None, None, None]  # scaled copies
    assert stylegan_style_spread.pattern_spread(same) == pytest.approx(0.0, abs=1e-9)
    flipped = numpy.concatenate([pattern, -pattern])  # z-mean pattern flat: the whole variance is between samples
    assert stylegan_style_spread.pattern_spread(flipped) == pytest.approx(1.0, rel=1e-6)
    assert all(-1.0 <= r['w_cosine'] <= 1.0 and r['image_std'] > 0 and 1.0 <= r['w_dims'] <= 6.0 for r in rows)
    # the participation ratio (Σλ)² / Σλ²: variances 4, 1, 0 along orthogonal axes give 25 / 17; a line gives 1
    axes = numpy.linalg.qr(numpy.random.RandomState(3).randn(3, 3))[0]
    signs = numpy.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], float)  # zero mean, unit variance per column
    x = (signs * [2.0, 1.0]) @ axes[:2]
    assert stylegan_style_spread.effective_dims(x) == pytest.approx(25.0 / 17.0, rel=1e-9)
    assert stylegan_style_spread.effective_dims(numpy.outer(numpy.arange(5.0), [1.0, -2.0, 0.5])) == \
        pytest.approx(1.0, rel=1e-9)
    pg = str(tmp_path / 'pg')
    train_progressive.main(TINY + ['--data-dir', data, '--out', pg])
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'stylegan_style_spread.py'), pg],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and 'not a StyleGAN run' in proc.stderr and 'Traceback' not in proc.stderr
    missing = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', 'stylegan_style_spread.py'),
                              str(tmp_path / 'none')], capture_output=True, text=True)
    assert missing.returncode == 2 and 'no args.json' in missing.stderr and 'Traceback' not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
