"""The speed issue's overhead cuts are Chainer's own arithmetic, bit for bit: models.fused_mlp.FusedMLP against
F.linear / F.relu / F.leaky_relu, models.minibatch_discrimination.MinibatchFeatures against the composition of
Chainer's functions, ganlib.losses.SoftplusMean against F.mean(F.softplus(±y)), models.fast_softplus against
F.softplus, ganlib.flat_adam against chainer.optimizers.Adam (values, gradients, gradient_check, double backprop,
resume), ganlib.updaters.backward_to against loss.backward(), and a whole mixture-of-Gaussians training with
the cuts against one without them."""
import chainer
import chainer.functions as F
import chainer.links as L
import numpy
import pytest
from chainer import gradient_check

from ganlib import flat_adam
from ganlib.flat_adam import FlatAdam
from ganlib.losses import SoftplusMean, softplus_mean
from ganlib.regularizers import add_spectral_norm
from models import MLPDiscriminator, MLPGenerator
from ganlib.updaters import backward_to
from models.fast_softplus import InPlaceSoftplus, softplus as fast_softplus
from models.fused_mlp import FusedMLP, fusable, fused_mlp
from models.minibatch_discrimination import MinibatchDiscrimination, MinibatchFeatures
from tests.helpers import adam_state, assert_same_adam, assert_same_params, params


def _layers(sizes, seed, dtype=numpy.float32):
    rng = numpy.random.RandomState(seed)
    return [L.Linear(a, b, initialW=rng.standard_normal((b, a)).astype(dtype) * 0.5,
                     initial_bias=rng.standard_normal(b).astype(dtype) * 0.1) for a, b in zip(sizes[:-1], sizes[1:])]


def _composed(x, layers, activation, activate_last, scale, flatten):
    h = x * scale if scale is not None else x
    for i, layer in enumerate(layers):
        h = layer(h)
        if i < len(layers) - 1 or activate_last:
            h = F.relu(h) if activation == 'relu' else F.leaky_relu(h, slope=0.2)
    return F.reshape(h, (-1,)) if flatten else h


def _forward_backward(fn, x, layers, seed):
    for layer in layers:
        layer.cleargrads()
    xv = chainer.Variable(x.copy())
    y = fn(xv, layers)
    y.grad = numpy.random.RandomState(seed).standard_normal(y.shape).astype(y.dtype)
    y.backward()
    return [y.array, xv.grad] + [a for layer in layers for a in (layer.W.grad, layer.b.grad)]


@pytest.mark.parametrize('activation', ['relu', 'leaky_relu'])
@pytest.mark.parametrize('activate_last,scale,flatten,sizes,n', [
    (False, None, False, (5, 7, 6, 3), 4),
    (True, None, False, (5, 7), 4),          # one layer, activated
    (False, 0.5, True, (2, 8, 1), 6),        # D: x / 2, logits flattened
    (False, 1 / 3.0, True, (2, 8, 8, 1), 1),  # batch 1, a scale that is not a power of two
])
def test_fused_mlp_equals_chainer_bit_for_bit(activation, activate_last, scale, flatten, sizes, n):
    layers = _layers(sizes, seed=n + len(sizes))
    x = numpy.random.RandomState(n).standard_normal((n, sizes[0])).astype(numpy.float32)
    x[0, 0] = 0.0  # an input at the activation's kink is handled as Chainer does
    assert fusable(x, activation, layers)
    mine = _forward_backward(lambda v, ls: fused_mlp(v, ls, activation, activate_last, scale, flatten), x, layers, 3)
    ref = _forward_backward(lambda v, ls: _composed(v, ls, activation, activate_last, scale, flatten), x, layers, 3)
    for a, b in zip(mine, ref):
        numpy.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('slope', [0.0, 0.2])
def test_fused_mlp_gradient_check_and_double_backward(slope):
    rng = numpy.random.RandomState(1)
    sizes = (3, 5, 4, 2)
    x = rng.uniform(0.1, 1.0, (4, 3)) * rng.choice([-1, 1], (4, 3))
    params_ = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params_ += [rng.standard_normal((b, a)), rng.standard_normal(b) * 0.1]
    gy = rng.standard_normal((4 * 2,))
    ggs = [rng.standard_normal(a.shape) for a in [x] + params_]

    def f(*inputs):
        y, = FusedMLP(slope, False, scale=0.5, flatten=True).apply(inputs)
        return y
    gradient_check.check_backward(f, [x] + params_, gy, dtype=numpy.float64, atol=1e-5, rtol=1e-4)
    # the piecewise-linear activations make the second derivative zero almost everywhere, but not the
    # cross terms ∂²/∂W∂x: these flow through the composition the backward pass builds
    gradient_check.check_double_backward(f, [x] + params_, gy, ggs, dtype=numpy.float64, atol=1e-5, rtol=1e-4)


def test_fused_mlp_is_not_used_where_it_would_be_wrong():
    layers = _layers((2, 4, 1), seed=0)
    x = numpy.zeros((3, 2), numpy.float32)
    assert not fusable(x, 'tanh', layers)
    assert not fusable(x.reshape(3, 2, 1), 'relu', layers)
    assert not fusable(x, 'relu', _layers((2, 4), 0) + [L.Linear(4, 1, nobias=True)])
    assert not fusable(x, 'relu', [L.Linear(None, 4)])  # not initialised yet
    dis = MLPDiscriminator(2, (4,), 'relu', 'he:0.8', 2.0, rng=numpy.random.RandomState(0))
    assert fusable(x, 'relu', list(dis.hidden) + [dis.out])
    add_spectral_norm(dis, numpy.random.RandomState(1))  # a link hook rewrites W in Link.__call__
    assert not fusable(x, 'relu', list(dis.hidden) + [dis.out])


@pytest.mark.parametrize('kind', ['plain', 'features', 'md', 'ndarray', 'pack'])
def test_mlp_discriminator_fused_equals_unfused(kind):
    def build(fused):
        return MLPDiscriminator(2, (8, 8), 'leaky_relu', 'he:0.8', 1.7, (3, 2) if kind == 'md' else None,
                                rng=numpy.random.RandomState(5), pack=2 if kind == 'pack' else 1, fused=fused)
    x = numpy.random.RandomState(6).standard_normal((6, 2)).astype(numpy.float32)
    out = []
    for fused in (True, False):
        dis = build(fused)
        xv = x if kind == 'ndarray' else chainer.Variable(x.copy())
        if kind == 'features':
            y, h = dis(xv, return_features=True)
            loss = F.sum(y * y) + F.sum(h)
        else:
            y = dis(xv)
            loss = F.sum(y * y)
        dis.cleargrads()
        loss.backward()
        out.append([y.array] + ([] if kind == 'ndarray' else [xv.grad]) + [p.grad for _, p in sorted(dis.namedparams())])
    for a, b in zip(*out):
        numpy.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('exclude_self', [True, False])
@pytest.mark.parametrize('n,a,b,c', [(100, 128, 50, 5), (100, 128, 16, 4), (64, 32, 16, 4), (7, 9, 3, 7), (1, 4, 2, 3),
                                     (9, 4, 2, 6), (5, 6, 4, 1)])
def test_minibatch_features_node_equals_chainer_bit_for_bit(n, a, b, c, exclude_self):
    f0 = numpy.random.RandomState(0).standard_normal((n, a)).astype(numpy.float32)
    f0[n // 2] = f0[n - 1]  # a repeated sample: zero differences off the diagonal too (|·|'s kink, sign 0)
    gy = numpy.random.RandomState(2).standard_normal((n, a + b)).astype(numpy.float32)
    got = []
    for fused in (True, False):
        md = MinibatchDiscrimination(a, b, c, exclude_self=exclude_self, fused=fused,
                                     initialW=chainer.initializers.Normal(0.3, rng=numpy.random.RandomState(1)))
        md.cleargrads()
        f = chainer.Variable(f0.copy())
        y = md(f)
        y.grad = gy.copy()
        y.backward()
        o = md.minibatch_features(f0)
        assert isinstance(o.creator, MinibatchFeatures) == fused  # one node instead of nine
        got.append((y.array, f.grad, md.T.W.grad, md.T.b.grad))
    for x, y in zip(*got):
        assert x.tobytes() == y.tobytes()  # the signs of zeros included


def test_minibatch_features_node_gradient_check_and_double_backward():
    rng = numpy.random.RandomState(4)
    m = rng.permutation(60).reshape(4, 3, 5) * 0.05  # distinct entries: no difference sits on |·|'s kink
    gy, gg = rng.standard_normal((4, 3)), rng.standard_normal(m.shape)

    def f(x):
        o, = MinibatchFeatures(True).apply((x,))
        return o
    gradient_check.check_backward(f, m, gy, dtype=numpy.float64, atol=1e-6, rtol=1e-5)
    gradient_check.check_double_backward(f, m, gy, gg, dtype=numpy.float64, atol=1e-6, rtol=1e-5)


def test_minibatch_features_node_is_not_used_beyond_seven_kernel_dimensions_or_with_one_kernel():
    """NumPy sums 8 or more elements pairwise, so the node would not match the composition there."""
    x = numpy.ones((3, 4), numpy.float32)
    assert not isinstance(MinibatchDiscrimination(4, 2, 8).minibatch_features(x).creator, MinibatchFeatures)
    assert not isinstance(MinibatchDiscrimination(4, 1, 3).minibatch_features(x).creator, MinibatchFeatures)
    assert not isinstance(MinibatchDiscrimination(4, 2, 5, fused=False).minibatch_features(x).creator,
                          MinibatchFeatures)


@pytest.mark.parametrize('negate', [True, False])
def test_softplus_mean_equals_chainer_bit_for_bit(negate):
    y = numpy.random.RandomState(2).standard_normal(37).astype(numpy.float32) * 8
    got = []
    for fn in (lambda v: softplus_mean(v, negate), lambda v: F.mean(F.softplus(-v if negate else v))):
        v = chainer.Variable(y.copy())
        loss = 3 * fn(v)
        loss.backward()
        got.append((loss.array, v.grad))
    assert len(softplus_mean(chainer.Variable(y), negate).creator_node.inputs) == 1  # one node
    numpy.testing.assert_array_equal(got[0][0], got[1][0])
    numpy.testing.assert_array_equal(got[0][1], got[1][1])


def test_softplus_mean_gradient_check_and_double_backward():
    rng = numpy.random.RandomState(3)
    y = rng.standard_normal(6) * 3

    def f(v):
        loss, = SoftplusMean(True).apply((v,))
        return loss
    gradient_check.check_backward(f, y, rng.standard_normal(()), dtype=numpy.float64, atol=1e-6, rtol=1e-5)
    gradient_check.check_double_backward(f, y, rng.standard_normal(()), rng.standard_normal(6),
                                         dtype=numpy.float64, atol=1e-6, rtol=1e-5)


def _adam_run(opt_cls, steps, **hyper):
    rng = numpy.random.RandomState(4)
    link = chainer.Sequential(L.Linear(3, 5, initialW=rng.standard_normal((5, 3))), F.relu,
                             L.Linear(5, 2, initialW=rng.standard_normal((2, 5))))
    link.to_device('@numpy')
    opt = opt_cls(**hyper)
    opt.setup(link)
    for step in range(steps):
        x = rng.standard_normal((4, 3)).astype(numpy.float32)
        link.cleargrads()
        F.sum(link(x) ** 2).backward()
        if step == 2:
            link[0].b.grad = None  # a parameter without a gradient this step: Chainer uses zeros
        opt.update()
    return link, opt


@pytest.mark.parametrize('hyper', [dict(alpha=1e-2, beta1=0.5),
                                   dict(alpha=1e-2, weight_decay_rate=0.1, eta=0.5),   # θ ← a·θ + b·(step·m)
                                   dict(alpha=numpy.float64(1e-2))])                   # NumPy scalars: no out=
@pytest.mark.parametrize('chunk', [None, 7, 32])  # the default (one chunk here); 32 parameters in 5 chunks; 1 chunk
def test_flat_adam_equals_chainer_adam_bit_for_bit(hyper, chunk, monkeypatch):
    sizes = []
    if chunk is not None:
        monkeypatch.setattr(flat_adam, 'CHUNK', chunk)
        chunk_step = flat_adam._adam_chunk

        def recording_step(theta, *rest):
            sizes.append(theta.size)
            chunk_step(theta, *rest)
        monkeypatch.setattr(flat_adam, '_adam_chunk', recording_step)
    flat_link, flat_opt = _adam_run(FlatAdam, 12, **hyper)
    if chunk is not None and type(hyper['alpha']) is float:  # 11 in-place steps (the first is Chainer's own)
        assert sizes == 11 * ([7, 7, 7, 7, 4] if chunk == 7 else [32])
    ref_link, ref_opt = _adam_run(chainer.optimizers.Adam, 12, **hyper)
    assert_same_params(params(flat_link), params(ref_link))
    assert_same_adam(adam_state(flat_opt), adam_state(ref_opt))
    # the flat step really ran, and the parameters and moments are views into its flat arrays
    (views, flats) = flat_opt._flat
    assert all(numpy.shares_memory(p.array, flats[0]) for p in flat_link.params())


def test_flat_adam_after_a_reload_and_with_a_hook(tmp_path):
    link, opt = _adam_run(FlatAdam, 5)
    chainer.serializers.save_npz(str(tmp_path / 'opt.npz'), opt)
    chainer.serializers.save_npz(str(tmp_path / 'link.npz'), link)
    for reloaded in (False, True):
        other_link, other_opt = _adam_run(FlatAdam, 1)
        if reloaded:  # fresh arrays replace the flat views: the next step lays them out again
            other_link[0].W.array = other_link[0].W.array.copy()
        chainer.serializers.load_npz(str(tmp_path / 'link.npz'), other_link)
        chainer.serializers.load_npz(str(tmp_path / 'opt.npz'), other_opt)
        assert_same_params(params(other_link), params(link))
        assert_same_adam(adam_state(other_opt), adam_state(opt))
    ref_link, ref_opt = _adam_run(chainer.optimizers.Adam, 5)
    for o in (opt, ref_opt):  # a hook: FlatAdam takes Chainer's own path
        o.add_hook(chainer.optimizer_hooks.WeightDecay(0.01))
    for lnk, o in ((link, opt), (ref_link, ref_opt)):
        lnk.cleargrads()
        F.sum(lnk(numpy.ones((2, 3), numpy.float32)) ** 2).backward()
        o.update()
    assert_same_params(params(link), params(ref_link))


def test_mog_training_with_the_cuts_equals_training_without(monkeypatch):
    """60 updates of the post's plain and unrolled GANs: fused MLPs, the fused loss and FlatAdam against
    Chainer's functions and Adam (the state every published mixture-of-Gaussians number was made with)."""
    import train_mog
    from ganlib.run import training_config

    def run(cuts, argv):
        if not cuts:
            monkeypatch.setattr(FlatAdam, 'update', chainer.optimizers.Adam.update)
        args = train_mog.parse_args(argv + ['--quiet', '--out', 'never-written'])
        _, gen, dis, upd = train_mog.build(args)
        assert gen.fused and dis.fused and getattr(upd.loss, 'fused', False) == (args.loss == 'gan')
        if not cuts:
            gen.fused = dis.fused = upd.loss.fused = False
            if dis.md is not None:
                dis.md.fused = False
        with chainer.using_config('train', True), training_config():
            for _ in range(60):
                upd.update()
        monkeypatch.undo()
        return params(gen), params(dis), adam_state(upd.get_optimizer('dis'))
    for argv in (['--unroll', '0'], ['--unroll', '3', '--iterations-per-epoch', '20'],
                 ['--loss', 'lsgan', '--unroll', '0'],
                 ['--unroll', '0', '--minibatch-discrimination', '--md-kernels', '16', '--md-dim', '4']):
        a, b = run(True, argv), run(False, argv)
        assert_same_params(a[0], b[0])
        assert_same_params(a[1], b[1])
        assert_same_adam(a[2], b[2])


def _softplus_values():
    rng = numpy.random.RandomState(5)
    edges = [0.0, -0.0, 1e-30, -1e-30, 20.0, -20.0, 88.0, -88.0, 100.0, -100.0, 1e4, -1e4]
    return numpy.concatenate([rng.standard_normal(97) * 10, edges])


@pytest.mark.parametrize('dtype', [numpy.float32, numpy.float64])
@pytest.mark.parametrize('layout', ['contiguous', 'strided', 'scalar'])
def test_in_place_softplus_equals_chainer_bit_for_bit(dtype, layout):
    values = _softplus_values().astype(dtype)
    if layout == 'contiguous':
        x = values[:108].reshape(12, 9)
    elif layout == 'strided':
        x = values[:108].reshape(9, 12).T[::2]  # non-contiguous
    else:
        x = numpy.asarray(values[3])  # 0-d
    gy = numpy.random.RandomState(6).standard_normal(x.shape).astype(dtype)
    got = []
    for fn in (fast_softplus, F.softplus):
        v = chainer.Variable(x.copy())
        y = fn(v)
        y.grad = gy.copy()
        y.backward()
        got.append((y.array, v.grad))
    assert isinstance(fast_softplus(chainer.Variable(x)).creator, InPlaceSoftplus) == (x.ndim > 0)
    assert got[0][0].dtype == dtype and got[0][0].shape == x.shape
    numpy.testing.assert_array_equal(got[0][0], got[1][0])
    numpy.testing.assert_array_equal(got[0][1], got[1][1])
    assert numpy.all(numpy.isfinite(got[0][0])) and numpy.all(got[0][0] >= 0)


def test_in_place_softplus_gradient_check_and_double_backward():
    rng = numpy.random.RandomState(7)
    x = rng.standard_normal((3, 4)) * 3
    gradient_check.check_backward(fast_softplus, x, rng.standard_normal((3, 4)), dtype=numpy.float64,
                                  atol=1e-6, rtol=1e-5)
    gradient_check.check_double_backward(fast_softplus, x, rng.standard_normal((3, 4)),
                                         rng.standard_normal((3, 4)), dtype=numpy.float64, atol=1e-6, rtol=1e-5)
    numpy.testing.assert_allclose(fast_softplus(x).array, numpy.logaddexp(0, x), rtol=1e-12)  # log(1 + e^x)


def test_backward_to_gives_backwards_gradients_and_skips_the_other_network():
    """The generator step's gradients by ``backward_to(loss, gen)`` equal ``loss.backward()``'s bit for bit,
    also for a parameter used twice (StyleGAN's mapping net under style mixing), and D's stay None."""
    rng = numpy.random.RandomState(8)
    head = chainer.Sequential(L.Linear(3, 6, initialW=rng.standard_normal((6, 3))), F.relu,
                              L.Linear(6, 2, initialW=rng.standard_normal((2, 6))))
    dis = chainer.Sequential(L.Linear(2, 5, initialW=rng.standard_normal((5, 2))), fast_softplus,
                             L.Linear(5, 1, initialW=rng.standard_normal((1, 5))))
    z1, z2 = (rng.standard_normal((4, 3)).astype(numpy.float32) for _ in range(2))
    gen = chainer.ChainList(head, L.Linear(2, 2))  # /1/: generator parameters the loss does not reach

    def loss():  # head's parameters used twice
        return F.sum(F.softplus(-dis(head(z1)))) + F.mean(dis(head(z2)) ** 2)
    results = []
    for mode in ('backward', 'backward_to'):
        gen.cleargrads()
        dis.cleargrads()
        if mode == 'backward':
            loss().backward()
        else:
            backward_to(loss(), gen)
        results.append({name: None if p.grad is None else p.grad.copy() for name, p in gen.namedparams()})
        if mode == 'backward_to':
            assert all(p.grad is None for p in dis.params())
    assert results[0].keys() == results[1].keys()
    for name in results[0]:
        if name.startswith('/1/'):
            assert results[0][name] is None and results[1][name] is None
        else:
            numpy.testing.assert_array_equal(results[0][name], results[1][name])
