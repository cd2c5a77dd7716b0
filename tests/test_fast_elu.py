"""models.fast_elu gives the same bytes as Chainer's own F.elu (outputs and gradients, every float dtype, α of
both signs, non-contiguous inputs, both forward passes), the equation's values, Chainer's gradients
(gradient_check, first and second order), and is what the DCGAN discriminator's ELU uses on NumPy arrays;
its bitwise select equals numpy.where."""
import chainer
import chainer.functions as F
import numpy
import pytest
from chainer import gradient_check

from models.dcgan import DCGANDiscriminator
from models import fast_elu
from models.fast_elu import ELU, elu, select


@pytest.fixture(params=['whole-array expm1', 'masked expm1'], autouse=True)
def forward_pass(request, monkeypatch):
    """Every test runs with each forward pass, whichever this CPU would pick."""
    monkeypatch.setitem(fast_elu._PROBE, 'vectorised', request.param == 'whole-array expm1')
    return request.param


def _inputs(dtype, contiguous):
    rng = numpy.random.RandomState(3)
    x = (rng.standard_normal((4, 3, 7, 5)) * 4).astype(dtype)
    x.flat[:6] = [0.0, -0.0, -30.0, 1e-8, -1e-8, 88.0]  # zeros of both signs, saturation, tiny, large positive
    if not contiguous:
        x = numpy.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
        assert not x.flags.c_contiguous
    return x


def _forward_backward(fn, x, gy):
    v = chainer.Variable(x)
    y = fn(v)
    y.grad = gy
    y.backward()
    return y.array, v.grad


@pytest.mark.parametrize('dtype', [numpy.float16, numpy.float32, numpy.float64])
@pytest.mark.parametrize('alpha', [1.0, 0.3, -0.7])
@pytest.mark.parametrize('contiguous', [True, False])
def test_same_bytes_as_chainer_forward_and_backward(dtype, alpha, contiguous):
    x = _inputs(dtype, contiguous)
    gy = numpy.random.RandomState(4).standard_normal(x.shape).astype(dtype)
    y, gx = _forward_backward(lambda v: elu(v, alpha), x, gy)
    y_ref, gx_ref = _forward_backward(lambda v: F.elu(v, alpha), x, gy)
    assert y.dtype == y_ref.dtype == dtype
    assert y.tobytes() == y_ref.tobytes()
    assert gx.tobytes() == gx_ref.tobytes()


@pytest.mark.parametrize('dtype', [numpy.float16, numpy.float32, numpy.float64])
def test_select_equals_numpy_where(dtype):
    rng = numpy.random.RandomState(7)
    a = (rng.standard_normal(1001) * 100).astype(dtype)
    b = (rng.standard_normal(1001) * 100).astype(dtype)
    a[:8] = [numpy.nan, -0.0, 0.0, numpy.inf, -numpy.inf, 0.0, -0.0, numpy.nan]
    b[:8] = [0.0, 0.0, -0.0, numpy.nan, 1.0, -numpy.inf, numpy.nan, -0.0]
    mask = rng.uniform(size=1001) < 0.5
    mask[:8] = [True, True, True, True, False, False, False, False]
    for other in (b, dtype(1)):
        want = numpy.where(mask, a, other)
        got = select(mask, a.copy(), other)
        assert got.dtype == dtype and got.tobytes() == want.tobytes()


def test_the_gradient_node_is_this_modules():
    y = elu(chainer.Variable(numpy.array([-1.0, 2.0], numpy.float32)))
    gx, = chainer.grad([y], [y.creator_node.inputs[0].get_variable()], enable_double_backprop=True)
    assert any(type(n) is fast_elu.ELUGrad for n in _function_nodes(gx))


def test_the_probe_answers_once_with_a_bool(monkeypatch):
    monkeypatch.delitem(fast_elu._PROBE, 'vectorised')
    first = fast_elu.expm1_is_vectorised()
    assert isinstance(first, bool) and fast_elu._PROBE['vectorised'] is first


def test_values_follow_the_equation():
    """f(x) = x for x > 0, α (exp(x) − 1) otherwise (Clevert et al. 2016, eq. 1), in float64."""
    x = _inputs(numpy.float64, True)
    with numpy.errstate(over='ignore'):
        want = numpy.where(x > 0, x, 0.3 * (numpy.exp(x) - 1))
    numpy.testing.assert_allclose(elu(x, 0.3).array, want, rtol=1e-9, atol=1e-15)
    assert numpy.signbit(elu(numpy.array([-0.0]), 1.0).array[0])  # −0.0 stays −0.0, as in Chainer


@pytest.mark.parametrize('alpha', [1.0, -0.7])
def test_gradient_check_first_and_second_order(alpha):
    rng = numpy.random.RandomState(5)
    x = rng.uniform(-2, 2, (3, 4))
    x[numpy.abs(x) < 0.05] = 0.5  # away from the kink, where finite differences are not the derivative
    gy, ggx = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    f = lambda v: elu(v, alpha)  # noqa: E731
    gradient_check.check_backward(f, x, gy, eps=1e-6, atol=1e-7, rtol=1e-7)
    gradient_check.check_double_backward(f, x, gy, ggx, eps=1e-6, atol=1e-6, rtol=1e-6)


def _function_nodes(y):
    seen, stack, nodes = set(), [y.creator_node], []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        stack.extend(i.creator_node for i in node.inputs)
    return nodes


def test_dcgan_discriminator_uses_it_on_numpy_arrays():
    d = DCGANDiscriminator(size=32, ch=8, activation='elu', input_noise=0.0, minibatch_discrimination=False)
    x = numpy.random.RandomState(6).uniform(-1, 1, (2, 3, 32, 32)).astype(numpy.float32)
    with chainer.using_config('train', False):
        nodes = _function_nodes(d(x))
    elus = [n for n in nodes if isinstance(n, F.activation.elu.ELU)]
    assert len(elus) == 3 and all(type(n) is ELU for n in elus)
