"""Small builders shared by the tests."""
import chainer
import numpy

from ganlib.losses import StandardGANLoss
from ganlib.mog import MixtureIterator, array_converter, ring
from ganlib.updaters import GANUpdater
from models import MLPDiscriminator, MLPGenerator


def make_gan(seed=0, unroll_k=0, batch_size=16, activation='relu', dtype=numpy.float32, md=None, **kw):
    """A tiny MoG GAN (z=4, widths 8) and its updater, fully determined by ``seed``."""
    rng = numpy.random.RandomState(seed)
    with chainer.using_config('dtype', dtype):
        gen = MLPGenerator(4, (8, 8), 2, activation, 'he:0.8', 'normal', rng=rng)
        dis = MLPDiscriminator(2, (8,), activation, 'he:0.8', 2.0, md, rng=rng)
    opts = []
    for link in (gen, dis):
        opt = chainer.optimizers.Adam(alpha=1e-2, beta1=0.5)
        opt.setup(link)
        opts.append(opt)
    it = MixtureIterator(ring(std=0.05), batch_size, 10, seed=seed + 1)
    upd = GANUpdater(it, opts[0], opts[1], kw.pop('loss', StandardGANLoss()), unroll_k=unroll_k, seed=seed + 2,
                     converter=array_converter, device=chainer.get_device('@numpy'), **kw)
    return gen, dis, upd


def params(link):
    return {path: p.array.copy() for path, p in link.namedparams()}


def adam_state(opt):
    out = {'t': opt.t}
    for path, p in opt.target.namedparams():
        st = p.update_rule.state
        out[path] = (p.update_rule.t, None if st is None else {k: v.copy() for k, v in st.items()})
    return out


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for k in a:
        numpy.testing.assert_array_equal(a[k], b[k], err_msg=k)


def assert_same_adam(a, b):
    assert a['t'] == b['t']
    for k in a:
        if k == 't':
            continue
        assert a[k][0] == b[k][0], k
        assert (a[k][1] is None) == (b[k][1] is None), k
        if a[k][1] is not None:
            for name in a[k][1]:
                numpy.testing.assert_array_equal(a[k][1][name], b[k][1][name], err_msg=k + name)
