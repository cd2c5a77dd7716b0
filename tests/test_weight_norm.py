"""Weight normalisation (Salimans & Kingma 2016) and the Improved-GAN paper's own MNIST networks."""
import chainer
import numpy
import pytest
from chainer import gradient_check

from ganlib.rng import RandomStream
from models import PaperSSLDiscriminator, PaperSSLGenerator, WeightNormLinear


def np_weight(v, g):
    return v * (g / numpy.sqrt((v ** 2).sum(axis=1)))[:, None]


@pytest.mark.parametrize('train_scale', [False, True])
def test_forward_matches_numpy(train_scale):
    rng = numpy.random.RandomState(0)
    link = WeightNormLinear(5, 3, train_scale=train_scale, rng=rng)
    g = numpy.array([0.5, 2.0, 3.0], numpy.float32)
    (link.g.array if train_scale else link.g)[...] = g
    link.b.array[...] = [0.1, -0.2, 0.3]
    x = rng.randn(4, 5).astype(numpy.float32)
    expected = x @ np_weight(link.v.array, g).T + link.b.array
    numpy.testing.assert_allclose(link(x).array, expected, rtol=1e-5, atol=1e-6)
    names = {name for name, _ in link.namedparams()}
    assert names == ({'/v', '/b', '/g'} if train_scale else {'/v', '/b'})
    # rows of the effective weight have norm g, whatever the scale of v
    link.v.array *= 7.0
    numpy.testing.assert_allclose(numpy.linalg.norm(link.weight().array, axis=1), g, rtol=1e-5)


def test_gradients():
    rng = numpy.random.RandomState(1)
    link = WeightNormLinear(4, 3, train_scale=True, rng=rng)
    link.cleargrads()
    with chainer.using_config('dtype', numpy.float64):
        link.to_device('@numpy')
    for p in link.params():
        p.array = p.array.astype(numpy.float64)
    link.g.array[...] = rng.uniform(0.5, 2, 3)
    x = rng.randn(5, 4)
    gy = rng.randn(5, 3)
    gradient_check.check_backward(link, x, gy, params=(link.v, link.g, link.b), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_data_dependent_init_normalises_the_batch():
    rng = numpy.random.RandomState(2)
    link = WeightNormLinear(6, 4, rng=rng)
    x = (3 * rng.randn(50, 6) + 1).astype(numpy.float32)
    out = link.data_init(x)
    a = link(x).array
    numpy.testing.assert_allclose(a, out, rtol=1e-4, atol=1e-4)
    numpy.testing.assert_allclose(a.mean(axis=0), 0, atol=1e-4)
    numpy.testing.assert_allclose(a.std(axis=0), 1, rtol=1e-4)
    # the fixed scale is a persistent: it goes into snapshots and comes back
    saved = {}

    class Dict(chainer.serializer.Serializer):
        def __getitem__(self, key):
            return self

        def __call__(self, key, value):
            saved[key] = numpy.array(value)
            return value
    link.serialize(Dict())
    numpy.testing.assert_array_equal(saved['g'], link.g)


def test_paper_discriminator_and_generator():
    rng = numpy.random.RandomState(3)
    dis = PaperSSLDiscriminator(hidden=(16, 8, 8), rng=rng, seed=1)
    x = rng.uniform(-1, 1, (40, 784)).astype(numpy.float32)
    dis.data_init(x)
    with chainer.using_config('train', False):
        y, h = dis(x, return_features=True)
        y2 = dis(x)
    assert y.shape == (40, 10) and h.shape == (40, 8) and (h.array >= 0).all()  # features after the ReLU
    numpy.testing.assert_array_equal(y.array, y2.array)  # no noise at test time
    assert not numpy.array_equal(dis(x).array, dis(x).array)  # noise in training
    # data-dependent init (noise on, as the original): the logits start near zero mean, unit variance
    with chainer.using_config('train', True):
        logits = dis(x).array
    assert abs(logits.mean()) < 0.5 and 0.3 < logits.std() < 3
    gen = PaperSSLGenerator(z_dim=6, hidden=(12, 12), rng=rng)
    z = gen.make_hidden(5, RandomStream(0))
    assert z.shape == (5, 6) and z.min() >= 0 and z.max() <= 1  # U[0, 1] as the original
    out = gen(z).array
    assert out.shape == (5, 784) and numpy.abs(out).max() <= 1
    # 2·sigmoid(a) − 1 with a the weight-normalised output pre-activation
    with chainer.using_config('train', True):
        h = z
        for layer, bn in zip(gen.hidden, gen.bns):
            h = chainer.functions.softplus(bn(layer(h)))
        a = gen.out(h).array
    numpy.testing.assert_allclose(gen(z).array, 2 / (1 + numpy.exp(-a)) - 1, rtol=1e-5, atol=1e-6)
