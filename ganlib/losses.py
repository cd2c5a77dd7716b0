"""Adversarial losses, all in one place.  D outputs raw scores (logits) y; every loss is a batch mean.

Each loss object has ``d_loss(y_real, y_fake)`` and ``g_loss(y_fake)``; ``get_loss(name)`` builds one.
"""
import ganlib.compat  # noqa: F401

import chainer
import chainer.functions as F
import numpy
from chainer import function_node
from chainer.utils import force_array


class SoftplusMean(function_node.FunctionNode):
    """E[softplus(±y)] as one node on NumPy arrays: Chainer 7.8.1's ``Neg``, ``Softplus`` and ``Mean`` forward
    and their backward (``MulConstant``, ``BroadcastTo``, ``SoftplusGrad``, ``Neg``), the same NumPy operations
    in the same order, so the loss and ∂loss/∂y are bit-identical to ``F.mean(F.softplus(-y))``'s, with one node
    instead of 3 forward and 4 backward.  A gradient of this gradient differentiates the composition instead.

    Caveat: fewer nodes change the graph's depths, and so the order in which Chainer sums the gradient terms of
    a variable that receives three or more (a D applied three times: the semi-supervised D, a gradient penalty).
    Float addition is not associative, so such runs differ from unfused ones in the last bits.  It is therefore
    opt-in (``StandardGANLoss(fused=True)``), used by ``train_mog.py`` where runs were checked bit-exact."""

    def __init__(self, negate):
        self.negate = negate

    def forward(self, inputs):
        y, = inputs
        self.retain_inputs((0,))
        x = force_array(-y) if self.negate else y
        bx = 1.0 * x
        sp = force_array((numpy.fmax(bx, 0) + numpy.log1p(numpy.exp(-numpy.fabs(bx)))) * 1.0, x.dtype)
        self._x = x
        return force_array(sp.mean()),

    def backward(self, indexes, grad_outputs):
        gy, = grad_outputs
        if chainer.config.enable_backprop:
            y, = self.get_retained_inputs()
            return chainer.grad([_softplus_mean(y, self.negate)], [y], grad_outputs=[gy],
                                enable_double_backprop=True)
        x = self._x
        g = force_array(gy.array.dtype.type(1.0 / x.size) * gy.array)
        g = numpy.broadcast_to(g, x.shape)
        gx = force_array((1 - 1 / (1 + numpy.exp(1.0 * x))) * g, x.dtype)
        return chainer.Variable(force_array(-gx) if self.negate else gx, requires_grad=False),


def _softplus_mean(y, negate=False):
    return F.mean(F.softplus(-y if negate else y))


def softplus_mean(y, negate=False):
    """E[softplus(−y)] (``negate``) or E[softplus(y)]: one :class:`SoftplusMean` node for a NumPy Variable,
    Chainer's functions otherwise (CuPy: the GPU path is unchanged)."""
    if isinstance(y, chainer.Variable) and type(y.array) is numpy.ndarray:
        loss, = SoftplusMean(negate).apply((y,))
        return loss
    return _softplus_mean(y, negate)


class StandardGANLoss(object):
    """Goodfellow et al. 2014, Eq. 1, with the non-saturating generator loss (§3).

    L_D = −E[log σ(y_real)] − E[log(1 − σ(y_fake))] = E[softplus(−y_real)] + E[softplus(y_fake)]
    L_G = −E[log σ(y_fake)] = E[softplus(−y_fake)]   (binary cross-entropy via softplus, as the posts)

    Label smoothing (Salimans et al. 2016, §3.4): D's targets become ``real_target`` = α and
    ``fake_target`` = β, L_D = E[BCE(y_real, α)] + E[BCE(y_fake, β)] with
    BCE(y, t) = t·softplus(−y) + (1 − t)·softplus(y).  One-sided: α = 0.9, β = 0 (the paper's advice:
    smoothing the fake target too moves the optimum D towards G's samples); two-sided: β > 0.
    The generator loss is unchanged.
    """
    name = 'gan'
    requires_sigmoid_output = True

    def __init__(self, real_target=1.0, fake_target=0.0, fused=False):
        self.real_target, self.fake_target = float(real_target), float(fake_target)
        self.fused = fused  # E[softplus] as one node (SoftplusMean; its caveat)
        if not (0.0 <= self.fake_target < self.real_target <= 1.0):
            raise ValueError('label smoothing needs 0 <= fake target < real target <= 1, got {} and {}'.format(
                self.fake_target, self.real_target))

    def _softplus_mean(self, y, negate=False):
        return softplus_mean(y, negate) if self.fused else _softplus_mean(y, negate)

    def _bce(self, y, t):
        if t == 1.0:
            return self._softplus_mean(y, negate=True)
        if t == 0.0:
            return self._softplus_mean(y)
        return t * self._softplus_mean(y, negate=True) + (1.0 - t) * self._softplus_mean(y)

    def d_loss(self, y_real, y_fake):
        return self._bce(y_real, self.real_target) + self._bce(y_fake, self.fake_target)

    def g_loss(self, y_fake):
        return self._softplus_mean(y_fake, negate=True)

    def __repr__(self):
        return 'StandardGANLoss(real_target={}, fake_target={})'.format(self.real_target, self.fake_target)


class LSGANLoss(object):
    """Mao et al. 2017, "Least Squares GANs", Eq. 2.

    L_D = ½ E[(D(x) − b)²] + ½ E[(D(G(z)) − a)²],   L_G = ½ E[(D(G(z)) − c)²]
    with a, b, c = 0, 1, 1 (the LSGAN post) or −1, 1, 0 (Eq. 8, the Pearson χ² choice).
    D(x) is the raw (linear) output.
    """
    name = 'lsgan'
    requires_sigmoid_output = False

    def __init__(self, a=0.0, b=1.0, c=1.0):
        self.a, self.b, self.c = float(a), float(b), float(c)

    def d_loss(self, y_real, y_fake):
        return 0.5 * F.mean((y_real - self.b) ** 2) + 0.5 * F.mean((y_fake - self.a) ** 2)

    def g_loss(self, y_fake):
        return 0.5 * F.mean((y_fake - self.c) ** 2)

    def __repr__(self):
        return 'LSGANLoss(a={}, b={}, c={})'.format(self.a, self.b, self.c)


def feature_matching_loss(h_real, h_fake):
    """Salimans et al. 2016, §3.1: ‖E_x f(x) − E_z f(G(z))‖²₂ on D's last hidden layer f.

    The batch means of the real features are treated as constants (no gradient reaches D).
    """
    mean_real = F.mean(h_real, axis=0)
    mean_real = mean_real.array if hasattr(mean_real, 'array') else mean_real
    return F.sum((mean_real - F.mean(h_fake, axis=0)) ** 2)


class WassersteinLoss(object):
    """Arjovsky et al. 2017, "Wasserstein GAN", Eq. 3 / Algorithm 1: the critic maximises
    E[f(x)] − E[f(G(z))], i.e. L_D = E[y_fake] − E[y_real], and L_G = −E[y_fake].
    Needs a Lipschitz constraint: weight clipping (WGAN) or the gradient penalty (WGAN-GP).
    ``drift`` ε adds PGGAN's ε E[D(x)²] over the real batch to L_D (Karras et al. 2018, App. A.1: 0.001),
    which keeps the critic's output near zero."""
    name = 'wgan'
    requires_sigmoid_output = False

    def __init__(self, drift=0.0):
        self.drift = float(drift)

    def d_loss(self, y_real, y_fake):
        loss = F.mean(y_fake) - F.mean(y_real)
        return loss + self.drift * F.mean(F.square(y_real)) if self.drift else loss

    def g_loss(self, y_fake):
        return -F.mean(y_fake)

    def __repr__(self):
        return 'WassersteinLoss(drift={})'.format(self.drift)


class HingeLoss(object):
    """Hinge adversarial loss (Lim & Ye 2017; Miyato et al. 2018, Eq. 16–17; SAGAN, Eq. 3):
    L_D = E[relu(1 − y_real)] + E[relu(1 + y_fake)],  L_G = −E[y_fake]."""
    name = 'hinge'
    requires_sigmoid_output = False

    def d_loss(self, y_real, y_fake):
        return F.mean(F.relu(1.0 - y_real)) + F.mean(F.relu(1.0 + y_fake))

    def g_loss(self, y_fake):
        return -F.mean(y_fake)

    def __repr__(self):
        return 'HingeLoss()'


LOSSES = ('gan', 'lsgan', 'wgan', 'hinge')


def parse_abc(text):
    """'0,1,1' → (0.0, 1.0, 1.0); raises ValueError with a clear message."""
    parts = str(text).split(',')
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ValueError('LSGAN a,b,c must be three comma-separated numbers, got {!r}'.format(text))
    return values


def get_loss(name, lsgan_abc=(0.0, 1.0, 1.0), real_target=1.0, fake_target=0.0, fused=False):
    """Build the loss called ``name`` (one of ``LOSSES``); ``real_target``/``fake_target``: label
    smoothing, only meaningful for ``gan``; ``fused``: ``gan``'s one-node E[softplus] (:class:`SoftplusMean`)."""
    if (real_target, fake_target) != (1.0, 0.0) and name != 'gan':
        raise ValueError('label smoothing applies to the cross-entropy loss (--loss gan), not {}'.format(name))
    if name == 'gan':
        return StandardGANLoss(real_target, fake_target, fused)
    if name == 'lsgan':
        a, b, c = lsgan_abc
        return LSGANLoss(a, b, c)
    if name == 'wgan':
        return WassersteinLoss()
    if name == 'hinge':
        return HingeLoss()
    raise ValueError('unknown loss {!r} (choose {})'.format(name, ', '.join(LOSSES)))


# -- semi-supervised K-class discriminator (Salimans et al. 2016, §5) ---------------------------------
def log_z(logits):
    """log Z(x) = log Σ_k exp l_k(x) (logsumexp, no overflow for large logits)."""
    return F.logsumexp(logits, axis=1)


def ssl_log_d(logits):
    """log D(x) with D(x) = Z/(Z + 1): log D = log Z − softplus(log Z) = −softplus(−log Z)."""
    return -F.softplus(-log_z(logits))


def ssl_d_loss(logits_labeled, labels, logits_unlabeled, logits_fake, unlabeled_weight=1.0):
    """Salimans et al. 2016, §5, L = L_supervised + w · L_unsupervised:
    cross-entropy(l(x_lab), y) − w (E log D(x_unl) + E log(1 − D(G(z)))), where
    −log D = softplus(−log Z) and −log(1 − D) = softplus(log Z).
    w = 1 is the paper's equation and the posts' code; the paper's own code halves L_unsupervised (w = 0.5)."""
    supervised = F.softmax_cross_entropy(logits_labeled, labels)
    unsupervised = F.mean(F.softplus(-log_z(logits_unlabeled))) + F.mean(F.softplus(log_z(logits_fake)))
    return supervised + unlabeled_weight * unsupervised


def ssl_g_adversarial_loss(logits_fake):
    """Non-saturating −E log D(G(z)) = E softplus(−log Z(G(z)))."""
    return F.mean(F.softplus(-log_z(logits_fake)))


def feature_matching_pairwise_loss(h_real, h_fake):
    """The posts' original code: real and fake rows matched pairwise, mean over rows of ‖f(x_i) − f(G(z_i))‖²
    (real features constant)."""
    target = h_real.array if hasattr(h_real, 'array') else h_real
    return F.sum((h_fake - target) ** 2) / h_fake.shape[0]
