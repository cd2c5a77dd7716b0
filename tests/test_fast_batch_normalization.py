"""models.fast_batch_normalization gives the same bytes as Chainer's own batch normalisation (outputs, running
statistics, every gradient, double backprop; float16/32/64, 2-D and 4-D inputs, without γ or β, a given axis,
non-contiguous inputs), follows Ioffe & Szegedy's equations (numpy reference, gradient_check), leaves evaluation to
Chainer, and is what the networks' batch norm uses."""
import chainer
import chainer.links as L
import numpy
import pytest
from chainer import gradient_check
from chainer.functions.normalization import batch_normalization as chainer_bn

from models import fast_batch_normalization as fbn

CASES = [  # (input shape, link keyword arguments)
    ((6, 5, 4, 3), {}),
    ((7, 9), {}),
    ((6, 5, 4, 3), dict(use_gamma=False, use_beta=False)),
    ((6, 5, 4, 3), dict(use_gamma=False)),
    ((6, 5, 4, 3), dict(axis=(0, 2, 3), decay=0.95, eps=1e-4)),
    ((5, 4, 3), dict(axis=0)),
]


def _links(size, kwargs, dtype):
    ref = L.BatchNormalization(size, dtype=dtype, **kwargs)
    new = fbn.BatchNormalization(size, dtype=dtype, **kwargs)
    rng = numpy.random.RandomState(1)
    for link in (ref, new):
        if link.gamma is not None:
            link.gamma.array[...] = rng.uniform(0.5, 1.5, link.gamma.shape) if link is ref else ref.gamma.array
        if link.beta is not None:
            link.beta.array[...] = rng.uniform(-1, 1, link.beta.shape) if link is ref else ref.beta.array
    return ref, new


def _param_shape(shape, kwargs):
    axis = kwargs.get('axis')
    if axis is None:
        return shape[1]
    axis = (axis,) if isinstance(axis, int) else axis
    return tuple(d for i, d in enumerate(shape) if i not in axis)


def _x(shape, dtype, contiguous=True, seed=2):
    x = (numpy.random.RandomState(seed).standard_normal(shape) * 3 + 1).astype(dtype)
    if not contiguous:
        x = numpy.asfortranarray(x)
        assert not x.flags.c_contiguous
    return x


def _train_step(link, x, gy, ggx):
    """Forward, first-order gradients (with a graph) and one double-backprop pass; every array it gives."""
    v = chainer.Variable(x)
    with chainer.using_config('train', True):
        y = link(v)
    params = [p for p in (link.gamma, link.beta) if p is not None]
    grads = chainer.grad([y], [v] + params, grad_outputs=[gy], enable_double_backprop=True)
    gg = chainer.grad([chainer.functions.sum(grads[0] * ggx)], [v] + params)
    second = [g.array for g in gg if g is not None]
    return [y.array] + [g.array for g in grads] + second + [link.avg_mean, link.avg_var]


@pytest.mark.parametrize('dtype', [numpy.float16, numpy.float32, numpy.float64])
@pytest.mark.parametrize('shape, kwargs', CASES)
@pytest.mark.parametrize('contiguous', [True, False])
def test_same_bytes_as_chainer(dtype, shape, kwargs, contiguous):
    ref, new = _links(_param_shape(shape, kwargs), kwargs, dtype)
    gy = _x(shape, dtype, seed=3)
    ggx = _x(shape, dtype, seed=4)
    for step in range(2):  # the second step starts from updated running statistics
        x = _x(shape, dtype, contiguous, seed=10 + step)
        want = _train_step(ref, x, gy, ggx)
        got = _train_step(new, x, gy, ggx)
        assert len(want) == len(got)
        for w, g in zip(want, got):
            assert w.dtype == g.dtype and w.shape == g.shape
            assert w.tobytes() == g.tobytes()


def test_the_function_uses_the_numpy_impl_and_keeps_x_hat():
    x = _x((4, 3, 2, 2), numpy.float32)
    gamma, beta = numpy.ones(3, numpy.float32), numpy.zeros(3, numpy.float32)
    y = fbn.batch_normalization(x, gamma, beta)
    node = y.creator_node
    assert type(node._impl) is fbn.NumpyImpl
    assert node.forward_data.shape == x.shape
    ref = chainer.functions.batch_normalization(x, gamma, beta)
    assert type(ref.creator_node._impl) is chainer_bn.GeneralBatchNormalizationImpl


def test_follows_the_equations():
    """y = γ (x − μ_B) / √(σ²_B + ε) + β over the batch (Ioffe & Szegedy 2015, Algorithm 1), float64."""
    x = _x((8, 3, 2, 2), numpy.float64)
    gamma, beta = numpy.array([0.5, 1.0, 2.0]), numpy.array([0.1, -0.2, 0.3])
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mu) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    want = gamma[None, :, None, None] * (x - mu) / numpy.sqrt(var + 1e-5) + beta[None, :, None, None]
    got = fbn.batch_normalization(x, gamma, beta, eps=1e-5).array
    numpy.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_gradient_check_first_and_second_order():
    rng = numpy.random.RandomState(5)
    x = rng.standard_normal((5, 3))
    gamma, beta = rng.uniform(0.5, 1.5, 3), rng.standard_normal(3)
    gy, ggx = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    ggamma, ggbeta = rng.standard_normal(3), rng.standard_normal(3)
    f = lambda x, g, b: fbn.batch_normalization(x, g, b)  # noqa: E731
    gradient_check.check_backward(f, (x, gamma, beta), gy, eps=1e-6, atol=1e-7, rtol=1e-6)
    gradient_check.check_double_backward(f, (x, gamma, beta), gy, (ggx, ggamma, ggbeta), eps=1e-6, atol=1e-6,
                                         rtol=1e-5)


def test_evaluation_and_the_first_call_are_chainers():
    link = fbn.BatchNormalization(axis=0)  # sized by the first input
    x = _x((4, 3), numpy.float32)
    with chainer.using_config('train', True):
        first = link(x)
    assert type(first.creator_node._impl) is chainer_bn.GeneralBatchNormalizationImpl
    with chainer.using_config('train', True):
        second = link(x)
    assert type(second.creator_node._impl) is fbn.NumpyImpl
    with chainer.using_config('train', False):
        y = link(x)
    assert isinstance(y.creator_node, chainer_bn.FixedBatchNormalization)


def _bn_links(chain):
    return [link for link in chain.links() if isinstance(link, L.BatchNormalization)]


def test_the_networks_use_it():
    from models.dcgan import DCGANDiscriminator, DCGANGenerator
    from models.conditional import ConditionalGenerator
    from models.mlp import MLPGenerator
    from models.ssl_mnist import PaperSSLGenerator, SSLGenerator
    nets = [DCGANGenerator(size=32, ch=64), DCGANDiscriminator(size=32, ch=8), SSLGenerator(), PaperSSLGenerator(),
            MLPGenerator(z_dim=2, hidden=(8, 8), batch_norm=True), ConditionalGenerator(size=32, ch=16),
            ConditionalGenerator(size=32, ch=16, shared_embedding=8)]
    for net in nets:
        links = _bn_links(net)
        assert links, type(net).__name__
        assert all(type(link) is fbn.BatchNormalization for link in links), type(net).__name__
