"""The unrolled update: cache/restore, D ends at θ_D^(1), G sees θ_D^(K), second-order gradient."""
import chainer
import chainer.links as L
import numpy
import pytest

from ganlib.unrolled import WeightCache, substituted_params, unroll_discriminator
from tests.helpers import adam_state, assert_same_adam, assert_same_params, make_gan, params


def _train_steps(upd, n):
    for _ in range(n):
        upd.discriminator_step()


def test_cache_restores_parameters_and_adam_state_bit_exactly():
    _, dis, upd = make_gan(seed=3)
    opt = upd.get_optimizer('dis')
    _train_steps(upd, 3)
    cache = WeightCache(dis, opt)
    cache.save()
    before_p, before_s = params(dis), adam_state(opt)
    arrays = {path: p.array for path, p in dis.namedparams()}
    _train_steps(upd, 4)
    assert not numpy.array_equal(params(dis)['/out/W'], before_p['/out/W'])
    assert adam_state(opt)['t'] == before_s['t'] + 4
    cache.restore()
    assert_same_params(params(dis), before_p)
    assert_same_adam(adam_state(opt), before_s)
    # in place: the optimizer still points at the very same arrays
    assert all(p.array is arrays[path] for path, p in dis.namedparams())
    # restore can be repeated from the same cache
    _train_steps(upd, 2)
    cache.restore()
    assert_same_params(params(dis), before_p)


def test_params_only_cache_keeps_optimizer_state_like_the_original_code():
    _, dis, upd = make_gan(seed=4)
    opt = upd.get_optimizer('dis')
    _train_steps(upd, 2)
    cache = WeightCache(dis, opt, include_optimizer=False, include_persistents=False)
    cache.save()
    before_p, before_s = params(dis), adam_state(opt)
    _train_steps(upd, 3)
    cache.restore()
    assert_same_params(params(dis), before_p)
    assert adam_state(opt)['t'] == before_s['t'] + 3  # moments absorbed the discarded steps
    assert not numpy.array_equal(adam_state(opt)['/out/W'][1]['m'], before_s['/out/W'][1]['m'])


def test_cache_restores_batchnorm_running_statistics():
    bn = L.BatchNormalization(3)
    cache = WeightCache(bn)
    x = numpy.random.RandomState(0).randn(5, 3).astype(numpy.float32)
    bn(x)
    cache.save()
    mean, var, n = bn.avg_mean.copy(), bn.avg_var.copy(), bn.N
    bn(x * 3 + 1)
    assert not numpy.array_equal(bn.avg_mean, mean)
    cache.restore()
    numpy.testing.assert_array_equal(bn.avg_mean, mean)
    numpy.testing.assert_array_equal(bn.avg_var, var)
    assert bn.N == n


def test_restore_before_save_is_an_error():
    with pytest.raises(RuntimeError):
        WeightCache(L.Linear(2, 2)).restore()


def test_unrolled_update_ends_at_theta1_and_updates_g_against_thetaK():
    k = 5
    gen_a, dis_a, upd_a = make_gan(seed=7, unroll_k=k)
    upd_a.update()

    # Plain update from the same state: its single D step is θ_D^(1).
    _, dis_b, upd_b = make_gan(seed=7, unroll_k=0)
    upd_b.update()
    assert_same_params(params(dis_a), params(dis_b))
    assert_same_adam(adam_state(upd_a.get_optimizer('dis')), adam_state(upd_b.get_optimizer('dis')))

    # By hand: K D steps, then one G step against θ_D^(K) (same batches and latents).
    gen_c2, dis_c2, upd_c2 = make_gan(seed=7, unroll_k=0)
    _train_steps(upd_c2, k)
    z = upd_c2.sample_z(16)
    loss = upd_c2.loss.g_loss(dis_c2(gen_c2(z)))
    gen_c2.cleargrads()
    loss.backward()
    upd_c2.get_optimizer('gen').update()
    assert_same_params(params(gen_a), params(gen_c2))
    # and θ_D^(K) really differs from θ_D^(1)
    assert not numpy.array_equal(params(dis_c2)['/out/W'], params(dis_a)['/out/W'])


def test_k0_equals_k1_equals_plain():
    runs = []
    for k in (0, 1):
        gen, dis, upd = make_gan(seed=11, unroll_k=k)
        for _ in range(5):
            upd.update()
        runs.append((params(gen), params(dis), adam_state(upd.get_optimizer('dis'))))
    assert_same_params(runs[0][0], runs[1][0])
    assert_same_params(runs[0][1], runs[1][1])
    assert_same_adam(runs[0][2], runs[1][2])


def test_unrolled_differs_from_plain_for_generator():
    g0, _, u0 = make_gan(seed=12, unroll_k=0)
    g5, _, u5 = make_gan(seed=12, unroll_k=5)
    # Adam's first step is about lr * sign(grad) whatever the gradient, so compare after a few steps:
    # G trained against θ_D^(5) must end measurably elsewhere (lr 1e-3 scale), not only by rounding.
    for _ in range(3):
        u0.update()
        u5.update()
    assert numpy.abs(params(g0)['/out/W'] - params(g5)['/out/W']).max() > 1e-3


def test_substituted_params_are_used_and_put_back():
    lin = L.Linear(2, 1)
    lin.W.array[...] = 1
    lin.b.array[...] = 0
    x = numpy.ones((1, 2), numpy.float32)
    w = chainer.Variable(numpy.full((1, 2), 3, numpy.float32))
    with substituted_params(lin, {'/W': w}):
        assert lin(x).array.item() == 6.0
    assert lin(x).array.item() == 2.0
    assert isinstance(lin.W, chainer.Parameter)


def _surrogate(gen, dis, opt, loss, x_reals, z_ds, z_g):
    """f_K(θ_G) = L_G(G(z_g); θ_D^(K)(θ_G)) with fixed data (Metz et al. 2017, Eq. 6–7)."""
    batches = [(x, gen(z)) for x, z in zip(x_reals, z_ds)]
    d_loss = lambda d, xr, xf: loss.d_loss(d(xr), d(xf))  # noqa: E731
    params_k, _, _ = unroll_discriminator(dis, opt, d_loss, batches)
    with substituted_params(dis, params_k):
        return loss.g_loss(dis(gen(z_g)))


def test_second_order_gradient_matches_finite_differences():
    gen, dis, upd = make_gan(seed=5, activation='tanh', dtype=numpy.float64, batch_size=8)
    opt = upd.get_optimizer('dis')
    rng = numpy.random.RandomState(0)
    x_reals = [rng.randn(8, 2) * 2 for _ in range(3)]
    z_ds = [rng.randn(8, 4) for _ in range(3)]
    z_g = rng.randn(8, 4)
    f = _surrogate(gen, dis, opt, upd.loss, x_reals, z_ds, z_g)
    gen.cleargrads()
    dis.cleargrads()
    f.backward()
    W = gen.out.W
    analytic = W.grad.copy()
    numeric = numpy.zeros_like(analytic)
    h = 1e-6
    for idx in numpy.ndindex(W.shape):
        old = W.array[idx]
        W.array[idx] = old + h
        fp = float(_surrogate(gen, dis, opt, upd.loss, x_reals, z_ds, z_g).array)
        W.array[idx] = old - h
        fm = float(_surrogate(gen, dis, opt, upd.loss, x_reals, z_ds, z_g).array)
        W.array[idx] = old
        numeric[idx] = (fp - fm) / (2 * h)
    numpy.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-7)
    # the first-order gradient (θ_D^(K) held constant) is a different number
    params_k, _, _ = unroll_discriminator(dis, opt, lambda d, a, b: upd.loss.d_loss(d(a), d(b)),
                                       [(x, gen(z).array) for x, z in zip(x_reals, z_ds)])
    fixed = {p: chainer.Variable(v.array) for p, v in params_k.items()}
    gen.cleargrads()
    with substituted_params(dis, fixed):
        upd.loss.g_loss(dis(gen(z_g))).backward()
    assert not numpy.allclose(gen.out.W.grad, analytic, rtol=1e-3)


def _replay(stream):
    """A copy of a RandomStream at the same point (it is counter-based: the state is two integers)."""
    from ganlib.rng import RandomStream
    copy = RandomStream(0)
    copy.key, copy.counter = stream.state()
    return copy


@pytest.mark.parametrize('k', [1, 2])
def test_updater_second_order_g_step_follows_the_finite_difference_gradient(k):
    """The updater's own G step (SGD for G, so ΔW = −lr ∂f_K/∂W) against finite differences of
    f_K(θ_G) = L_G(G(z); θ_D^(K)(θ_G)) on the batches and latents the updater draws (Metz et al. Eq. 12)."""
    gen, dis, upd = make_gan(seed=21, unroll_k=k, unroll_mode='second-order', activation='tanh',
                             dtype=numpy.float64, batch_size=8)
    lr = 0.05
    sgd = chainer.optimizers.SGD(lr=lr)
    sgd.setup(gen)
    upd._optimizers['gen'] = sgd
    upd.converter = lambda batch, device: device.send(batch.astype(numpy.float64))
    it = upd.get_iterator('main')
    data, latents = _replay(it.rng), _replay(upd.rng)
    x_reals, z_ds = [], []
    for _ in range(k):
        x_reals.append(it.mixture.sample(8, data).astype(numpy.float64))
        z_ds.append(gen.make_hidden(8, latents).astype(numpy.float64))
    z_g = gen.make_hidden(8, latents).astype(numpy.float64)
    opt = upd.get_optimizer('dis')
    W = gen.out.W
    before = W.array.copy()
    numeric = numpy.zeros_like(before)
    h = 1e-6
    for idx in numpy.ndindex(W.shape):
        W.array[idx] = before[idx] + h
        fp = float(_surrogate(gen, dis, opt, upd.loss, x_reals, z_ds, z_g).array)
        W.array[idx] = before[idx] - h
        fm = float(_surrogate(gen, dis, opt, upd.loss, x_reals, z_ds, z_g).array)
        W.array[idx] = before[idx]
        numeric[idx] = (fp - fm) / (2 * h)
    upd.update()
    numpy.testing.assert_allclose((before - W.array) / lr, numeric, rtol=1e-4, atol=1e-7)
    # and it is not the first-order step (which at K = 1 is the plain GAN's)
    g1, _, u1 = make_gan(seed=21, unroll_k=k, activation='tanh', dtype=numpy.float64, batch_size=8)
    sgd1 = chainer.optimizers.SGD(lr=lr)
    sgd1.setup(g1)
    u1._optimizers['gen'] = sgd1
    u1.converter = upd.converter
    u1.update()
    assert numpy.abs(g1.out.W.array - W.array).max() > 1e-9  # float64 rounding is ~1e-16 here


def test_second_order_update_moves_d_to_theta1_like_plain():
    _, dis_a, upd_a = make_gan(seed=9, unroll_k=3, unroll_mode='second-order')
    upd_a.update()
    _, dis_b, upd_b = make_gan(seed=9, unroll_k=0)
    upd_b.update()
    for path, p in dis_a.namedparams():
        numpy.testing.assert_allclose(p.array, dict(dis_b.namedparams())[path].array, rtol=1e-5, atol=1e-6)
    assert upd_a.get_optimizer('dis').t == 1


def test_differentiable_adam_step_matches_chainer_adam():
    _, dis, upd = make_gan(seed=13)
    opt = upd.get_optimizer('dis')
    _train_steps(upd, 2)  # non-trivial moments and t
    x_real = upd.next_real()
    with chainer.no_backprop_mode():
        x_fake = upd.get_optimizer('gen').target(upd.sample_z(16)).array
    params_1, _, _ = unroll_discriminator(dis, opt, upd.d_loss, [(x_real, x_fake)])
    expected = {p: v.array.copy() for p, v in params_1.items()}
    loss = upd.d_loss(dis, x_real, x_fake)
    dis.cleargrads()
    loss.backward()
    opt.update()
    for path, p in dis.namedparams():
        numpy.testing.assert_allclose(p.array, expected[path], rtol=1e-5, atol=1e-6)


def test_bad_unroll_arguments():
    with pytest.raises(ValueError):
        make_gan(unroll_k=-1)
    with pytest.raises(ValueError):
        make_gan(unroll_k=2, unroll_mode='third-order')
    _, dis, upd = make_gan()
    with pytest.raises(ValueError):
        unroll_discriminator(dis, chainer.optimizers.RMSprop().setup(dis), upd.d_loss, [])
