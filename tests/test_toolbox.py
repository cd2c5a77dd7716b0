"""The stabilisation toolbox: each loss / penalty / constraint against its equation."""
import chainer
import chainer.functions as F
import chainer.links as L
import numpy
import pytest
from chainer import gradient_check

from ganlib.began import BEGANUpdater, began_k_update, convergence_measure
from ganlib.losses import HingeLoss, StandardGANLoss, WassersteinLoss, get_loss
from ganlib.mog import MixtureIterator, array_converter, ring
from ganlib.regularizers import (OrthogonalRegularization, WeightClipping, add_historical_averaging, filter_axis,
                                 add_spectral_norm, gradient_penalty, interpolate, orthogonal_regularization,
                                 r1_penalty, spectral_norm_hooks, truncate)
from ganlib.unrolled import WeightCache
from ganlib.rng import RandomStream
from models import MLPAutoencoder, MLPDiscriminator, MLPGenerator, SelfAttention
from tests.helpers import make_gan

Y_REAL = numpy.array([2.0, -1.0, 0.5, 0.0, 30.0])
Y_FAKE = numpy.array([-3.0, 1.5, 0.2, -0.7, -40.0])


def log_sigmoid(x):
    return -numpy.logaddexp(0, -x)


def bce(y, t):
    return -(t * log_sigmoid(y) + (1 - t) * log_sigmoid(-y))


@pytest.mark.parametrize('alpha, beta', [(1.0, 0.0), (0.9, 0.0), (0.9, 0.1), (0.7, 0.3)])
def test_label_smoothing_is_cross_entropy_with_soft_targets(alpha, beta):
    loss = get_loss('gan', real_target=alpha, fake_target=beta)
    d = bce(Y_REAL, alpha).mean() + bce(Y_FAKE, beta).mean()
    assert float(loss.d_loss(Y_REAL, Y_FAKE).array) == pytest.approx(d, rel=1e-12)
    assert float(loss.g_loss(Y_FAKE).array) == pytest.approx(bce(Y_FAKE, 1.0).mean(), rel=1e-12)


def test_one_sided_smoothing_moves_the_optimal_real_logit_to_logit_alpha():
    # d/dy BCE(y, α) = σ(y) − α = 0 at y = log(α / (1 − α)) (Salimans et al. §3.4: D*(x) = α p/(p + q)).
    y = chainer.Variable(numpy.array([numpy.log(0.9 / 0.1)]))
    StandardGANLoss(0.9, 0.0).d_loss(y, numpy.array([-50.0])).backward()
    assert abs(float(y.grad[0])) < 1e-12


def test_bad_smoothing_targets_are_rejected():
    with pytest.raises(ValueError, match='label smoothing'):
        StandardGANLoss(0.4, 0.6)
    with pytest.raises(ValueError, match='not lsgan'):
        get_loss('lsgan', real_target=0.9)


def test_wasserstein_and_hinge_losses_vs_numpy():
    w, h = WassersteinLoss(), HingeLoss()
    assert float(w.d_loss(Y_REAL, Y_FAKE).array) == pytest.approx(Y_FAKE.mean() - Y_REAL.mean(), rel=1e-12)
    assert float(w.g_loss(Y_FAKE).array) == pytest.approx(-Y_FAKE.mean(), rel=1e-12)
    d = numpy.maximum(0, 1 - Y_REAL).mean() + numpy.maximum(0, 1 + Y_FAKE).mean()
    assert float(h.d_loss(Y_REAL, Y_FAKE).array) == pytest.approx(d, rel=1e-12)
    assert float(h.g_loss(Y_FAKE).array) == pytest.approx(-Y_FAKE.mean(), rel=1e-12)
    assert isinstance(get_loss('wgan'), WassersteinLoss) and isinstance(get_loss('hinge'), HingeLoss)


def _tiny_dis(seed=0, activation='tanh'):
    with chainer.using_config('dtype', numpy.float64):
        return MLPDiscriminator(2, (6, 5), activation, 'he:0.8', 1.0, rng=numpy.random.RandomState(seed))


def _numeric_input_grad(dis, x, h=1e-6):
    g = numpy.zeros_like(x)
    for idx in numpy.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        with chainer.no_backprop_mode():
            g[idx] = (dis(xp).array[idx[0]] - dis(xm).array[idx[0]]) / (2 * h)
    return g


def test_gradient_penalty_equals_finite_difference_estimate():
    dis = _tiny_dis()
    rng = numpy.random.RandomState(1)
    x_real, x_fake = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    penalty, norms = gradient_penalty(dis, x_real, x_fake, RandomStream(5), lam=10.0)
    eps = RandomStream(5).uniform(0, 1, (4,), numpy, numpy.float64)  # the stream the penalty draws from
    x_hat = eps[:, None] * x_real + (1 - eps[:, None]) * x_fake
    numpy.testing.assert_allclose(interpolate(x_real, x_fake, eps), x_hat)
    g = _numeric_input_grad(dis, x_hat)
    ref_norms = numpy.sqrt((g ** 2).sum(axis=1))
    numpy.testing.assert_allclose(norms.array, ref_norms, rtol=1e-6)
    assert float(penalty.array) == pytest.approx(10 * ((ref_norms - 1) ** 2).mean(), rel=1e-6)


def test_gradient_penalty_backpropagates_into_the_discriminator():
    """Double backprop: d penalty / d W equals a finite-difference estimate."""
    dis = _tiny_dis(seed=2)
    rng = numpy.random.RandomState(3)
    x_real, x_fake = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))

    def value():
        return gradient_penalty(dis, x_real, x_fake, RandomStream(9), lam=10.0)[0]

    dis.cleargrads()
    value().backward()
    W = dis.hidden[0].W
    analytic = W.grad.copy()
    h = 1e-6
    for idx in [(0, 0), (2, 1), (5, 0)]:
        old = W.array[idx]
        W.array[idx] = old + h
        up = float(value().array)
        W.array[idx] = old - h
        down = float(value().array)
        W.array[idx] = old
        assert analytic[idx] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8)


def test_r1_penalty_against_a_quadratic_critic_and_its_parameter_gradient():
    """D(x) = c·‖x‖² has ∇_x D = 2c·x: R1 = γ/2 · mean(4c²‖x‖²) and dR1/dc = γ/2 · mean(8c‖x‖²)."""
    c = chainer.Parameter(numpy.array(0.7))
    dis = lambda x: c * F.sum(x * x, axis=1)  # noqa: E731
    x = numpy.random.RandomState(4).standard_normal((5, 3))
    sq = (x ** 2).sum(axis=1)
    penalty, squared = r1_penalty(dis, x, gamma=10.0)
    numpy.testing.assert_allclose(squared.array, 4 * 0.49 * sq, rtol=1e-12)
    assert float(penalty.array) == pytest.approx(5.0 * numpy.mean(4 * 0.49 * sq), rel=1e-12)
    penalty.backward()
    assert float(c.grad) == pytest.approx(5.0 * numpy.mean(8 * 0.7 * sq), rel=1e-12)


def test_updater_refuses_two_penalties_or_a_negative_r1():
    for kw, message in ((dict(gradient_penalty=10.0, r1=10.0), 'choose one'), (dict(r1=-1.0), 'R1 weight')):
        with pytest.raises(ValueError, match=message):
            make_gan(**kw)


def test_r1_in_the_updater_is_reported_as_dis_gp_and_changes_the_discriminator_step():
    """One iteration with r1 > 0 reports a positive dis/gp and moves D differently from the same seed without it."""
    runs = {}
    for r1 in (0.0, 10.0):
        gen, dis, upd = make_gan(seed=3, r1=r1)
        reporter = chainer.reporter.Reporter()
        reporter.add_observer('dis', dis)
        reporter.add_observer('gen', gen)
        observation = {}
        with reporter.scope(observation):
            upd.update()
        runs[r1] = observation, {k: p.array.copy() for k, p in dis.namedparams()}
    assert 'dis/gp' not in runs[0.0][0] and float(runs[10.0][0]['dis/gp'].array) > 0
    assert any(not numpy.array_equal(runs[0.0][1][k], runs[10.0][1][k]) for k in runs[0.0][1])


def test_gradient_penalty_is_zero_for_a_unit_slope_linear_critic():
    lin = L.Linear(2, 1, initialW=numpy.array([[0.6, 0.8]]), nobias=True)
    dis = lambda x: F.reshape(lin(x), (-1,))  # noqa: E731  ‖∇‖ = ‖(0.6, 0.8)‖ = 1
    x = numpy.random.RandomState(0).standard_normal((5, 2)).astype(numpy.float32)
    penalty, norms = gradient_penalty(dis, x, -x, RandomStream(0))
    numpy.testing.assert_allclose(norms.array, 1.0, rtol=1e-5)
    assert float(penalty.array) == pytest.approx(0.0, abs=1e-8)


def test_weight_clipping_clips_after_each_update():
    _, dis, upd = make_gan(seed=1)
    opt = upd.get_optimizer('dis')
    opt.add_hook(WeightClipping(0.05))
    before = {path: p.array.copy() for path, p in dis.namedparams()}
    upd.discriminator_step()
    for path, p in dis.namedparams():
        assert numpy.abs(p.array).max() <= 0.05 + 1e-7, path
    # entries far from the bound move exactly as unclipped Adam would: compare with an unhooked twin
    _, dis2, upd2 = make_gan(seed=1)
    upd2.discriminator_step()
    for (path, p), (_, q) in zip(dis.namedparams(), dis2.namedparams()):
        numpy.testing.assert_array_equal(p.array, numpy.clip(q.array, -0.05, 0.05), err_msg=path)
    assert any(not numpy.array_equal(before[k], p.array) for k, p in dis.namedparams())
    with pytest.raises(ValueError):
        WeightClipping(0)


def test_spectral_norm_of_hooked_weight_is_one_after_power_iterations():
    dis = MLPDiscriminator(2, (16, 16), 'relu', 'he:0.8', 1.0, rng=numpy.random.RandomState(0))
    hooked = add_spectral_norm(dis, numpy.random.RandomState(1))
    assert hooked == ['/hidden/0', '/hidden/1', '/out']
    x = numpy.random.RandomState(2).standard_normal((8, 2)).astype(numpy.float32)
    for _ in range(60):  # each training-mode forward is one power iteration
        dis(x)
    for path, hook in spectral_norm_hooks(dis):
        link = dict(dis.namedlinks())[path]
        with chainer.using_config('train', False):
            w_sn = hook.normalize_weight(link).array
        assert numpy.linalg.svd(w_sn, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-3), path
        assert numpy.linalg.svd(link.W.array, compute_uv=False)[0] > 1.01  # the raw weight is not normalised
    # u is a seeded persistent from the start: reproducible and carried by the unrolled cache
    dis2 = MLPDiscriminator(2, (16, 16), 'relu', 'he:0.8', 1.0, rng=numpy.random.RandomState(0))
    add_spectral_norm(dis2, numpy.random.RandomState(1))
    dis3 = MLPDiscriminator(2, (16, 16), 'relu', 'he:0.8', 1.0, rng=numpy.random.RandomState(0))
    add_spectral_norm(dis3, numpy.random.RandomState(1))
    numpy.testing.assert_array_equal(dis2.out.W_u, dis3.out.W_u)
    cache = WeightCache(dis2)
    cache.save()
    u0 = dis2.out.W_u.copy()
    dis2(x)
    assert not numpy.array_equal(dis2.out.W_u, u0)
    cache.restore()
    numpy.testing.assert_array_equal(dis2.out.W_u, u0)


def test_orthogonal_regularization_vs_numpy_and_its_hook_gradient():
    rng = numpy.random.RandomState(0)
    W = rng.standard_normal((4, 3, 2, 2))
    ref = _ortho_reference([W[i] for i in range(4)], 1e-2)
    assert float(orthogonal_regularization(W, 1e-2).array) == pytest.approx(ref, rel=1e-12)
    gradient_check.check_backward(lambda w: orthogonal_regularization(w, 1e-2), W, numpy.array(1.0),
                                  eps=1e-6, atol=1e-6, rtol=1e-6)
    # the optimizer hook adds exactly ∇R
    link = L.Linear(5, 4, initialW=rng.standard_normal((4, 5)))
    p = chainer.Variable(link.W.array.copy())
    orthogonal_regularization(p, 1e-2).backward()
    opt = chainer.optimizers.SGD(lr=1.0)
    opt.setup(link)
    opt.add_hook(OrthogonalRegularization(1e-2))
    before = link.W.array.copy()
    link.cleargrads()
    link.W.grad = numpy.zeros_like(link.W.array)
    link.b.grad = numpy.zeros_like(link.b.array)
    opt.update()
    numpy.testing.assert_allclose(before - link.W.array, p.grad, rtol=1e-5, atol=1e-7)
    numpy.testing.assert_array_equal(link.b.array, numpy.zeros(4))  # biases untouched
    # a matrix with orthogonal rows has no penalty
    q, _ = numpy.linalg.qr(rng.standard_normal((5, 5)))
    assert float(orthogonal_regularization(q[:3] * 3.0, 1.0).array) == pytest.approx(0.0, abs=1e-10)


def _ortho_reference(filters, beta):
    """β Σ_{i≠j} (f_i · f_j)², written pair by pair from the filters (independent of the code's reshapes)."""
    return beta * sum(float(numpy.dot(a.ravel(), b.ravel())) ** 2
                      for i, a in enumerate(filters) for j, b in enumerate(filters) if i != j)


@pytest.mark.parametrize('make, filters_of', [
    (lambda rng: L.Linear(5, 3, initialW=rng.standard_normal((3, 5))), lambda W: [W[i] for i in range(W.shape[0])]),
    (lambda rng: L.Convolution2D(2, 3, 2, initialW=rng.standard_normal((3, 2, 2, 2))),
     lambda W: [W[i] for i in range(W.shape[0])]),
    (lambda rng: L.Deconvolution2D(2, 3, 2, initialW=rng.standard_normal((2, 3, 2, 2))),  # (in, out, kh, kw)
     lambda W: [W[:, j] for j in range(W.shape[1])]),
])
def test_orthogonal_regularization_is_over_output_filters_per_layer_type(make, filters_of):
    rng = numpy.random.RandomState(3)
    link = make(rng)
    W0 = link.W.array.astype(numpy.float64)
    ref = _ortho_reference(filters_of(W0), 0.1)
    assert float(orthogonal_regularization(W0, 0.1, filter_axis(link)).array) == pytest.approx(ref, rel=1e-10)
    # the hook's step (SGD, lr 1, zero data gradient) equals minus the finite-difference gradient of the reference
    numeric = numpy.zeros_like(W0)
    for idx in numpy.ndindex(W0.shape):
        wp, wm = W0.copy(), W0.copy()
        wp[idx] += 1e-6
        wm[idx] -= 1e-6
        numeric[idx] = (_ortho_reference(filters_of(wp), 0.1) - _ortho_reference(filters_of(wm), 0.1)) / 2e-6
    opt = chainer.optimizers.SGD(lr=1.0)
    opt.setup(link)
    opt.add_hook(OrthogonalRegularization(0.1))
    link.cleargrads()
    for p in link.params():
        p.grad = numpy.zeros_like(p.array)
    before = link.W.array.copy()
    opt.update()
    numpy.testing.assert_allclose(before - link.W.array, numeric, rtol=1e-4, atol=1e-5)


def test_historical_averaging_matches_numpy_simulation_and_serializes():
    with chainer.using_config('dtype', numpy.float64):
        link = L.Linear(2, 2, initialW=numpy.array([[1.0, -2.0], [0.5, 3.0]]), initial_bias=numpy.array([0.1, -0.1]))
    opt = chainer.optimizers.SGD(lr=0.1)
    opt.setup(link)
    hook = add_historical_averaging(opt, lam=0.5)
    theta = link.W.array.copy()
    history = [theta.copy()]
    g_data = numpy.array([[0.3, -0.2], [0.1, 0.4]])
    for _ in range(4):
        link.cleargrads()
        link.W.grad = g_data.copy()
        link.b.grad = numpy.zeros(2)
        opt.update()
        mean = numpy.mean(history, axis=0)
        theta = theta - 0.1 * (g_data + 2 * 0.5 * (theta - mean))
        history.append(theta.copy())
        numpy.testing.assert_allclose(link.W.array, theta, rtol=1e-12)
    numpy.testing.assert_allclose(hook.means['/W'], numpy.mean(history, axis=0), rtol=1e-12)
    assert hook.t == 4
    assert hook.penalty(link) == pytest.approx(
        0.5 * (((theta - numpy.mean(history, axis=0)) ** 2).sum() +
               ((link.b.array - hook.means['/b']) ** 2).sum()), rel=1e-12)
    # serialize round trip
    saved = {}

    class Saver(object):
        def __init__(self, prefix=''):
            self.prefix = prefix

        def __getitem__(self, key):
            return Saver(self.prefix + key + '/')

        def __call__(self, key, value):
            saved[self.prefix + key] = value.copy() if hasattr(value, 'copy') else value
            return value

    hook.serialize(Saver(), link)
    assert saved['t'] == 4 and numpy.array_equal(saved['W'], hook.means['/W'])


def test_truncation_resamples_exactly_the_out_of_range_entries():
    z = numpy.random.RandomState(0).standard_normal((50, 8))
    out = truncate(z, 0.7, RandomStream(1))
    inside = numpy.abs(z) <= 0.7
    numpy.testing.assert_array_equal(out[inside], z[inside])
    assert (out[~inside] != z[~inside]).all()
    assert numpy.abs(out).max() <= 0.7
    assert numpy.abs(z).max() > 0.7  # z itself is not modified
    gen = MLPGenerator(8, (4,), 2, rng=numpy.random.RandomState(0))
    assert numpy.abs(gen.make_hidden(100, RandomStream(2), truncation=0.5)).max() <= 0.5
    with pytest.raises(ValueError):
        truncate(z, 0.0, RandomStream(1))
    with pytest.raises(ValueError, match='normal latents'):
        MLPGenerator(8, (4,), 2, z_distribution='uniform').make_hidden(3, RandomStream(0), 1.0)


def test_began_k_update_and_convergence_measure():
    assert began_k_update(0.3, 0.4, 0.1, 0.5, 1e-3) == pytest.approx(0.3 + 1e-3 * (0.2 - 0.1))
    assert began_k_update(0.0, 0.0, 5.0, 0.5, 1.0) == 0.0
    assert began_k_update(0.99, 5.0, 0.0, 1.0, 1.0) == 1.0
    assert convergence_measure(0.4, 0.1, 0.5) == pytest.approx(0.4 + 0.1)


def test_autoencoder_reconstruction_error_vs_numpy():
    ae = MLPAutoencoder(2, (5,), 3, 'relu', 'he:0.8', 2.0, rng=numpy.random.RandomState(0))
    x = numpy.random.RandomState(1).standard_normal((4, 2)).astype(numpy.float32)
    rec = ae(x).array
    numpy.testing.assert_allclose(ae.reconstruction_error(x).array, numpy.abs(x / 2.0 - rec).mean(axis=1),
                                  rtol=1e-6)


def test_began_updater_keeps_k_in_unit_interval_and_serializes_it():
    rng = numpy.random.RandomState(0)
    gen = MLPGenerator(4, (8,), 2, rng=rng)
    dis = MLPAutoencoder(2, (8,), 3, rng=rng)
    opts = []
    for link in (gen, dis):
        opt = chainer.optimizers.Adam(alpha=1e-2)
        opt.setup(link)
        opts.append(opt)
    it = MixtureIterator(ring(std=0.05), 16, 10, seed=1)
    upd = BEGANUpdater(it, opts[0], opts[1], gamma=0.5, lambda_k=0.5, converter=array_converter, seed=2,
                       device=chainer.get_device('@numpy'))
    ks = []
    clipped = 0
    for _ in range(30):
        k_prev = float(upd.k)
        with chainer.using_config('train', True):
            obs = {}
            with chainer.reporter.Reporter().scope(obs):
                chainer.reporter.get_current_reporter().add_observer('dis', dis)
                chainer.reporter.get_current_reporter().add_observer('gen', gen)
                upd.update()
        ks.append(float(upd.k))
        # Eq. 4 with this iteration's L(x) (D step) and L(G(z_G)) (G step), written out in numpy
        val = lambda v: float(getattr(v, 'array', v))  # noqa: E731  (losses are reported as Variables)
        l_real, l_fake = val(obs['dis/loss_real']), val(obs['gen/loss'])
        unclipped = k_prev + 0.5 * (0.5 * l_real - l_fake)
        clipped += not 0.0 <= unclipped <= 1.0
        assert ks[-1] == pytest.approx(min(1.0, max(0.0, unclipped)), abs=1e-6)
        assert val(obs['dis/M']) == pytest.approx(l_real + abs(0.5 * l_real - l_fake), rel=1e-5)
        assert 0.0 <= val(obs['dis/k']) <= 1.0
    assert len(set(ks)) > 1  # k moves
    assert 0 < clipped < 30  # both the clipped and the free branch of Eq. 4 were exercised
    assert all(0.0 <= k <= 1.0 for k in ks)
    saved = {}
    upd.serialize(chainer.serializers.DictionarySerializer(saved))
    assert float(saved['began_k']) == float(upd.k)
    with pytest.raises(ValueError, match='autoencoder'):
        BEGANUpdater(it, opts[0], make_gan()[2].get_optimizer('dis'))


def _attention_reference(x, wf, wg, wh, wv, gamma):
    b, c, hh, ww = x.shape
    xs = x.reshape(b, c, -1)
    f, g, h = (numpy.einsum('oc,bcn->bon', w, xs) for w in (wf, wg, wh))
    s = numpy.einsum('bki,bkj->bij', f, g)
    e = numpy.exp(s - s.max(axis=1, keepdims=True))
    beta = e / e.sum(axis=1, keepdims=True)  # over i
    o = numpy.einsum('bki,bij->bkj', h, beta)
    o = numpy.einsum('ck,bkn->bcn', wv, o)
    return (gamma * o + xs).reshape(x.shape), beta.transpose(0, 2, 1)


def test_self_attention_vs_numpy_and_gradients():
    rng = numpy.random.RandomState(0)
    with chainer.using_config('dtype', numpy.float64):
        sa = SelfAttention(8, reduction=4, rng=rng)
    for p in sa.params():
        p.array = p.array.astype(numpy.float64)
    x = rng.standard_normal((2, 8, 3, 2))
    numpy.testing.assert_allclose(sa(x).array, x)  # γ = 0 at initialisation: identity
    sa.gamma.array[...] = 0.7
    y, beta = sa(x, return_attention=True)
    w = [l.W.array[:, :, 0, 0] for l in (sa.f, sa.g, sa.h, sa.v)]
    ref, ref_beta = _attention_reference(x, *w, 0.7)
    numpy.testing.assert_allclose(y.array, ref, rtol=1e-10)
    numpy.testing.assert_allclose(beta.array, ref_beta, rtol=1e-10)
    numpy.testing.assert_allclose(beta.array.sum(axis=2), 1.0)
    gradient_check.check_backward(sa, x, rng.standard_normal(x.shape), params=(sa.gamma, sa.f.W, sa.v.W),
                                  eps=1e-6, atol=1e-6, rtol=1e-5)


def test_n_critic_sets_discriminator_steps_per_iteration():
    _, _, upd = make_gan(seed=0, n_critic=3)
    for _ in range(2):
        upd.update()
    assert upd.get_optimizer('dis').t == 6 and upd.get_optimizer('gen').t == 2
    with pytest.raises(ValueError, match='choose one'):
        make_gan(seed=0, unroll_k=3, n_critic=2)
