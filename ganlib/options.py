"""The stabilisation toolbox as shared command-line options: one definition, used by every training script.

``add_arguments(parser)`` adds the flags, ``validate(args)`` rejects combinations that make no sense
with a one-line reason, ``make_optimizers(args, gen, dis)`` builds the two optimisers (TTUR: separate
learning rates) and ``apply(args, gen, dis, opt_gen, opt_dis, rng)`` attaches the constraints and
penalties: weight clipping, spectral normalisation, orthogonal regularisation, historical averaging.
"""
import ganlib.compat  # noqa: F401

import chainer

from ganlib import cli
from ganlib.flat_adam import FlatAdam
from ganlib.losses import LOSSES, get_loss
from ganlib.regularizers import (OrthogonalRegularization, WeightClipping, add_historical_averaging,
                                 add_spectral_norm)

ALL_LOSSES = LOSSES + ('began',)
OPTIMIZERS = ('adam', 'rmsprop')


def add_arguments(parser, losses=True, began=True, optimizers=True, truncation=True):
    """The toolbox flags.  ``losses=False`` leaves out the adversarial-loss flags (the semi-supervised
    discriminator has its own loss); ``began=False`` leaves out BEGAN; ``optimizers=False`` the
    optimiser/TTUR flags (for scripts with their own learning-rate schedule)."""
    g = parser.add_argument_group('stabilisation toolbox')
    a = g.add_argument
    if losses:
        a('--loss', choices=ALL_LOSSES if began else LOSSES, default='gan',
          help='gan (non-saturating), lsgan, wgan, hinge' + (', began (autoencoder D)' if began else ''))
        a('--label-smoothing', type=_unit, default=1.0, metavar='ALPHA',
          help="one-sided label smoothing: D's real target (e.g. 0.9; default 1 = off; --loss gan)")
        a('--fake-label', type=_unit, default=0.0, metavar='BETA',
          help="D's fake target (> 0: two-sided label smoothing; default 0; --loss gan)")
        a('--n-critic', type=cli.positive_int, default=1, help='D steps per G step (WGAN: 5; default 1)')
        a('--weight-clip', type=cli.positive_float, default=None, metavar='C',
          help='clip D parameters to [-C, C] after each step (WGAN: 0.01; --loss wgan)')
        a('--gradient-penalty', type=cli.positive_float, default=None, metavar='LAMBDA',
          help='WGAN-GP gradient penalty weight (10 in the paper; --loss wgan or hinge)')
        if began:
            a('--began-gamma', type=_unit, default=0.5, help='BEGAN diversity ratio gamma (default 0.5)')
            a('--began-lambda-k', type=cli.positive_float, default=1e-3, help='BEGAN k_t learning rate (1e-3)')
    a('--spectral-norm', action='store_true', help='spectral normalisation of every D weight (Miyato et al.)')
    if optimizers:
        a('--optimizer', choices=OPTIMIZERS, default='adam', help='adam (default) or rmsprop (the WGAN paper)')
        a('--lr-d', type=cli.positive_float, default=None, help='D learning rate (TTUR; default --lr)')
        a('--lr-g', type=cli.positive_float, default=None, help='G learning rate (TTUR; default --lr)')
        a('--beta2', type=cli.adam_beta, default=0.999, help='Adam beta2 (default 0.999; TTUR/SN-GAN use 0.9)')
    a('--ortho-reg', type=cli.positive_float, default=None, metavar='BETA',
      help="BigGAN's relaxed orthogonal regularisation of G's weights (1e-4 in BigGAN)")
    a('--historical-averaging', type=cli.positive_float, default=None, metavar='LAMBDA',
      help='historical averaging weight for both players (Salimans et al. 3.3)')
    if truncation:
        a('--truncation', type=cli.positive_float, default=None, metavar='T',
          help='truncation trick when sampling for figures/metrics: redraw |z| > T (normal z only)')
    return g


def add_unrolling_arguments(add, default, note, cache=True):
    """Unrolled GANs' flags (Metz et al. 2017, §2): --unroll K with ``default`` (``note`` ends its help: the posts' K),
    --unroll-mode and, with ``cache``, --unroll-cache.  ``add`` is a parser's (or a group's) ``add_argument``."""
    from ganlib.updaters import UNROLL_MODES
    add('--unroll', type=cli.nonnegative_int, default=default,
        help='unrolling steps K (0 or 1: plain GAN; default {}{})'.format(default, note))
    add('--unroll-mode', choices=UNROLL_MODES, default='first-order',
        help="first-order (default): the post's cache, K steps of D, restore; second-order: back-propagate "
             'through the K steps')
    if cache:
        add('--unroll-cache', choices=('full', 'params'), default='full',
            help='what the first-order mode restores: full (default), parameters and Adam state; params, the '
                 "parameters only (the post's code)")


def add_minibatch_arguments(add):
    """Minibatch discrimination's flags (Salimans et al. 2016, §3.2): the layer, its B kernels of C dims."""
    add('--minibatch-discrimination', action='store_true',
        help='minibatch discrimination layer in D (Salimans et al. 3.2)')
    add('--md-kernels', type=cli.positive_int, default=50, help='minibatch discrimination kernels B (default 50)')
    add('--md-dim', type=cli.positive_int, default=5, help='minibatch discrimination kernel size C (default 5)')


def _unit(text):
    try:
        value = float(text)
    except ValueError:
        raise cli.argparse.ArgumentTypeError('expected a number in [0, 1], got {!r}'.format(text))
    if not 0.0 <= value <= 1.0:
        raise cli.argparse.ArgumentTypeError('expected a number in [0, 1], got {}'.format(value))
    return value


def validate(args):
    """Return None, or a one-line message for the first invalid combination of flags in ``args``."""
    loss = getattr(args, 'loss', None)
    unroll = getattr(args, 'unroll', 0) or 0
    smoothing = (getattr(args, 'label_smoothing', 1.0), getattr(args, 'fake_label', 0.0))
    clip, gp = getattr(args, 'weight_clip', None), getattr(args, 'gradient_penalty', None)
    if smoothing != (1.0, 0.0) and loss != 'gan':
        return 'label smoothing (--label-smoothing/--fake-label) needs the cross-entropy loss (--loss gan)'
    if smoothing[1] >= smoothing[0]:
        return '--fake-label must be below --label-smoothing (the real target)'
    if clip is not None and gp is not None:
        return 'choose one Lipschitz constraint: --weight-clip (WGAN) or --gradient-penalty (WGAN-GP)'
    if clip is not None and loss != 'wgan':
        return '--weight-clip is the WGAN critic constraint: use it with --loss wgan'
    if gp is not None and loss not in ('wgan', 'hinge'):
        return ('--gradient-penalty needs a critic with an unbounded linear output (--loss wgan or hinge); '
                'with --loss {} D is read through a sigmoid/least-squares target'.format(loss))
    if loss == 'wgan' and clip is None and gp is None and not getattr(args, 'spectral_norm', False):
        return '--loss wgan needs a Lipschitz constraint: --weight-clip C, --gradient-penalty LAMBDA or --spectral-norm'
    if getattr(args, 'n_critic', 1) > 1 and unroll >= 2:
        return '--n-critic > 1 and --unroll >= 2 both set the discriminator steps; choose one'
    if loss == 'began':
        for flag, bad in (('--unroll >= 2', unroll >= 2), ('--feature-matching', getattr(args, 'feature_matching', False)),
                          ('--minibatch-discrimination', getattr(args, 'minibatch_discrimination', False))):
            if bad:
                return '--loss began (autoencoder discriminator) cannot be combined with ' + flag
    if getattr(args, 'historical_averaging', None) is not None and unroll >= 2:
        return ("--historical-averaging with --unroll >= 2: the discarded look-ahead steps would enter D's "
                'running average; use one or the other')
    if gp is not None and getattr(args, 'minibatch_discrimination', False):
        return ('--gradient-penalty needs a per-example critic (Gulrajani et al. §4): not with '
                '--minibatch-discrimination')
    if getattr(args, 'unroll_mode', 'first-order') == 'second-order' and unroll >= 1:
        if getattr(args, 'spectral_norm', False) or gp is not None:
            return '--unroll-mode second-order supports neither --spectral-norm nor --gradient-penalty'
        if clip is not None:  # the clip is an optimizer hook; the differentiable look-ahead steps have none
            return '--unroll-mode second-order cannot apply --weight-clip inside the look-ahead steps; use first-order'
        if getattr(args, 'optimizer', 'adam') != 'adam':
            return '--unroll-mode second-order differentiates through Adam steps only (not --optimizer {})'.format(
                args.optimizer)
    if getattr(args, 'truncation', None) is not None and getattr(args, 'z_dist', 'normal') != 'normal':
        return '--truncation needs normal latents (--z-dist normal)'
    return None


def build_loss(args, fused=False):
    """The loss object of ``args`` (None for BEGAN, whose updater owns its loss); ``fused``: see ``get_loss``."""
    if args.loss == 'began':
        return None
    return get_loss(args.loss, getattr(args, 'lsgan_abc', (0.0, 1.0, 1.0)), args.label_smoothing, args.fake_label,
                    fused)


def make_optimizers(args, gen, dis):
    """Optimisers for G and D: Adam(lr, β1, β2) or RMSprop(lr); learning rates --lr-g / --lr-d (TTUR,
    Heusel et al. 2017) default to --lr."""
    opts = {}
    for name, link, lr in (('gen', gen, args.lr_g or args.lr), ('dis', dis, args.lr_d or args.lr)):
        if args.optimizer == 'rmsprop':
            opt = chainer.optimizers.RMSprop(lr=lr)
        else:
            opt = FlatAdam(alpha=lr, beta1=args.beta1, beta2=args.beta2)  # Chainer's Adam, one step for all
        opt.setup(link)
        opts[name] = opt
    return opts['gen'], opts['dis']


def apply(args, gen, dis, opt_gen, opt_dis, rng):
    """Attach the toolbox's constraints and penalties named in ``args``; returns a list of what was added."""
    added = []
    if getattr(args, 'spectral_norm', False):
        paths = add_spectral_norm(dis, rng)
        added.append('spectral norm on D {}'.format(', '.join(paths)))
    if getattr(args, 'weight_clip', None) is not None:
        opt_dis.add_hook(WeightClipping(args.weight_clip))
        added.append('weight clipping {}'.format(args.weight_clip))
    if getattr(args, 'ortho_reg', None) is not None:
        opt_gen.add_hook(OrthogonalRegularization(args.ortho_reg))
        added.append('orthogonal regularisation {} on G'.format(args.ortho_reg))
    if getattr(args, 'historical_averaging', None) is not None:
        add_historical_averaging(opt_gen, args.historical_averaging)
        add_historical_averaging(opt_dis, args.historical_averaging)
        added.append('historical averaging {}'.format(args.historical_averaging))
    return added


def setup(args, gen, dis, device, rng):
    """Send G and D to ``device``, build their optimisers (``make_optimizers``) and attach the toolbox
    (``apply``); returns (opt_gen, opt_dis)."""
    gen.to_device(device)
    dis.to_device(device)
    opt_gen, opt_dis = make_optimizers(args, gen, dis)
    apply(args, gen, dis, opt_gen, opt_dis, rng)
    return opt_gen, opt_dis
