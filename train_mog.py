#!/usr/bin/env python
"""Mixture-of-Gaussians GAN experiment (the Unrolled-GAN and LSGAN posts).

Trains an MLP GAN on a ring / double ring / grid of 2-D Gaussians and writes, under --out:
  log            Chainer LogReport JSON (losses and mode metrics every epoch)
  metrics.json   final modes captured, high-quality %, reverse KL, wall time, the full config
  kde.png        scatter + KDE of 10,000 samples at epochs 0, 1, 5, 10, ... (one row)
  loss.png, modes.png   loss and modes-captured curves (drawn every --plot-every epochs and at the end)
  machine.json   the CPU, BLAS kernel and versions of every start and resume
  samples/       the plotted samples (.npy) — plot_mog.py puts several runs in one figure
  snapshot_iter_N         trainer snapshots for --resume

Example: the post's comparison, plain GAN (K=0) vs unrolled (K=5), z=256:
  python train_mog.py --unroll 0 --out result/mog_k0 && python train_mog.py --unroll 5 --out result/mog_k5
  python plot_mog.py result/mog_k0 result/mog_k5 -o result/mog_compare.png
"""
import os
import sys
import time

import ganlib.compat  # noqa: F401  (before chainer)

import chainer
import numpy
from chainer import training
from chainer.training import extensions

from ganlib import cli, distributed, presets, run
from ganlib.extensions import CurvePlot, MixtureEvaluator, SampleSaver, sample_epochs
from ganlib import options
from ganlib.began import BEGANUpdater
from ganlib.losses import parse_abc
from ganlib.mog import DATASETS, DEFAULT_STD, MixtureIterator, array_converter, make_mixture
from ganlib.plots import load_sample_history, mog_run_label, pick_epochs, plot_kde_rows
from ganlib.updaters import GANUpdater
from models import MLPAutoencoder, MLPDiscriminator, MLPGenerator

# The posts' settings (the original Chainer code; see ganlib/presets.py).  Network/optimiser-only presets:
NETWORKS = {
    'unrolled': dict(d_hidden=(128,), d_activation='relu', init='he:0.8', lr=1e-3, input_scale='auto'),
    'lsgan': dict(d_hidden=(128, 128), d_activation='leaky_relu', init='normal:0.01', lr=1e-4, input_scale=1.0),
}
# Whole runs.  Both posts: ring of 8 (radius 2, σ 0.2 as intended; add --original-std-bug for the σ² the code drew),
# G z 256 N(0, I) → 128 ReLU → 128 ReLU → 2, Adam β1 0.5, batch 100, 200 epochs × 500 iterations, KDE every 5 epochs.
# The LSGAN post gives no length: it gets the unrolled post's.
POST_RUN = dict(dataset='ring', std=0.2, radius=2.0, z_dim=256, z_dist='normal', g_hidden=(128, 128), beta1=0.5,
                batch_size=100, epochs=200, iterations_per_epoch=500, plot_every=5, unroll_mode='first-order',
                unroll_cache='params')  # the original cached parameters only
# The PacGAN paper's synthetic setting (Lin et al. 2018, §5; their code's configs): G z 2 N(0, I) → 4 × 400
# (Linear without bias → BN → ReLU) → 2; D 3 × 200 maxout (5 pieces) → 1; all weights N(0, 0.02); Adam 1e-4,
# β1 0.8; batch 100 (packs); 400 epochs over 100,000 samples = 1,000 iterations each; the ALI code's
# simultaneous updates; 2,500 samples for the metrics.  --pack m gives PacGAN-m.  Its data (PACGAN_DATA): ring of
# 8 at radius 1, σ 0.01; grid 5 × 5 at {−4, …, 4}, σ 0.05.  Deviations: fresh samples every batch instead of a
# fixed set of 100,000; G's BN statistics over the m · 100 fakes of a step (the code ran G once per pack slot).
PACGAN_RUN = dict(dataset='ring', z_dim=2, z_dist='normal', g_hidden=(400,) * 4, g_batch_norm=True,
                  d_hidden=(200,) * 3, d_activation='maxout', maxout_pieces=5, init='normal:0.02', input_scale=1.0,
                  lr=1e-4, beta1=0.8, beta2=0.999, batch_size=100, epochs=400, iterations_per_epoch=1000, unroll=0,
                  loss='gan', simultaneous=True, eval_samples=2500, plot_every=50)
PACGAN_DATA = {'ring': dict(radius=1.0, std=0.01), 'grid': dict(radius=2.0, std=0.05)}
PRESETS = dict(
    NETWORKS,
    **{'unrolled-post': dict(POST_RUN, loss='gan', unroll=5, **NETWORKS['unrolled']),
       'unrolled-post-plain': dict(POST_RUN, loss='gan', unroll=1, **NETWORKS['unrolled']),  # the post's K = 1
       'lsgan-post': dict(POST_RUN, loss='lsgan', lsgan_abc='0,1,1', unroll=0, **NETWORKS['lsgan']),
       'pacgan': PACGAN_RUN})
KEY_SETTINGS = ('preset', 'dataset', 'std', 'radius', 'original_std_bug', 'z_dim', 'loss', 'unroll', 'pack',
                'simultaneous', 'g_batch_norm', 'd_hidden', 'd_activation', 'lr', 'beta1', 'batch_size', 'epochs',
                'iterations_per_epoch')


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='train_mog.py')
    a = p.add_argument
    a('--dataset', choices=DATASETS, default='ring', help='ring of 8, double ring of 10, or 5x5 grid (default ring)')
    a('--std', type=cli.positive_float, default=None,
      help='component standard deviation (default: ring/double_ring 0.2, grid 0.05)')
    a('--radius', type=cli.positive_float, default=None, help='ring radius / grid spacing (default 2)')
    a('--original-std-bug', action='store_true', help="reproduce the posts' sampler bug: sigma = std**2")
    a('--z-dim', type=cli.positive_int, default=256, help='latent size (256 as in the posts; 16 also used)')
    a('--z-dist', choices=('normal', 'uniform'), default='normal', help='latent distribution (default normal)')
    a('--lsgan-abc', default='0,1,1', help='LSGAN targets a,b,c (0,1,1 or -1,1,0)')
    a('--preset', choices=('auto',) + tuple(PRESETS), default='auto',
      help="unrolled-post, unrolled-post-plain (K=1), lsgan-post, pacgan (the PacGAN paper's ring/grid setting; "
           "add --pack 2 or 4 for PacGAN-m): everything that run used (explicit flags still win); unrolled, lsgan: networks and optimiser only; auto (default): the unrolled networks, or "
           "for --loss lsgan the LSGAN post's networks without unrolling")
    a('--d-hidden', type=cli.int_list, default=None, help='D hidden widths, e.g. 128 or 128,128 (preset)')
    a('--g-hidden', type=cli.int_list, default=(128, 128), help='G hidden widths (default 128,128)')
    a('--g-batch-norm', action='store_true', help='batch norm after every G hidden layer (PacGAN)')
    a('--d-activation', choices=('relu', 'leaky_relu', 'tanh', 'maxout'), default=None, help='(preset)')
    a('--maxout-pieces', type=cli.positive_int, default=5, help='pieces per maxout unit (default 5)')
    a('--pack', type=cli.positive_int, default=1,
      help='PacGAN packing m: D judges m samples concatenated; a batch is --batch-size packs (default 1)')
    a('--simultaneous', action=cli.argparse.BooleanOptionalAction, default=False,
      help="ALI/PacGAN code's update: D and G gradients at the same point, both step (no unrolling; the pacgan "
           "preset's; --no-simultaneous: alternating steps)")
    a('--init', default=None, help='weight init: he:0.8, normal:0.01, lecun, orthogonal (preset)')
    a('--lr', type=cli.positive_float, default=None, help='Adam learning rate for G and D (preset)')
    a('--beta1', type=cli.adam_beta, default=0.5, help='Adam beta1 in [0, 1) (default 0.5)')
    options.add_unrolling_arguments(a, 5, ', as in the post')
    a('--feature-matching', action='store_true', help='G minimises feature matching (Salimans et al. 3.1)')
    options.add_minibatch_arguments(a)
    a('--batch-size', type=cli.positive_int, default=100, help='samples per update (default 100, as the post)')
    a('--epochs', type=cli.positive_int, default=20,
      help='epochs of --iterations-per-epoch generator updates (default 20; the post ran 200)')
    a('--iterations-per-epoch', type=cli.positive_int, default=500, help='generator updates per epoch (default 500)')
    a('--eval-samples', type=cli.positive_int, default=2500, help='samples for the mode metrics (2,500)')
    a('--plot-samples', type=cli.positive_int, default=10000, help='samples per KDE panel (10,000)')
    a('--plot-every', type=cli.positive_int, default=5,
      help='KDE panels at epochs 0, 1 and every N; loss.png and modes.png are redrawn every N epochs')
    a('--snapshot-every', type=cli.positive_int, default=10, help='trainer snapshot every N epochs and at the end')
    run.add_arguments(p, 'result/mog')
    options.add_arguments(p)
    distributed.add_arguments(p)
    args = p.parse_args(argv)
    explicit = presets.explicit_dests(p, argv)
    if args.preset == 'auto':  # the LSGAN post never unrolled
        values = dict(NETWORKS['lsgan'], unroll=0) if args.loss == 'lsgan' else NETWORKS['unrolled']
    else:
        values = PRESETS[args.preset]
    presets.apply(args, values, explicit)
    if args.preset == 'pacgan':
        presets.apply(args, PACGAN_DATA.get(args.dataset, {}), explicit)
    if args.std is None:
        args.std = DEFAULT_STD[args.dataset]
    try:
        args.lsgan_abc = parse_abc(args.lsgan_abc)
    except ValueError as e:
        p.error(str(e))
    problem = options.validate(args) or distributed.validate(args) or _validate(args)
    if problem:
        p.error(problem)
    return run.check_paths(p, args)


def _validate(args):
    """A one-line reason for a combination this script cannot train, or None."""
    if args.simultaneous and (args.unroll >= 2 or args.n_critic > 1 or
                              (args.unroll >= 1 and args.unroll_mode == 'second-order')):
        return '--simultaneous takes one D and one G step at the same point: not with --unroll >= 2 or --n-critic > 1'
    if args.simultaneous and args.loss == 'began':
        return '--simultaneous is not defined for --loss began (its own update rule)'
    if args.pack > 1 and args.loss == 'began':
        return '--pack needs a discriminator with one decision per pack, not the BEGAN autoencoder'
    return None


def build(args, device=None, comm=None):
    """Mixture, models, optimisers, iterator and updater for ``args`` (no output written); with a ChainerMN
    ``comm``, data-parallel (``ganlib.distributed``: this rank's slice of global batches of N·batch-size)."""
    device = device or chainer.get_device('@numpy')
    mixture = make_mixture(args.dataset, args.std, args.radius, args.original_std_bug)
    rng = numpy.random.RandomState(args.seed)
    input_scale = mixture.scale if args.input_scale == 'auto' else args.input_scale
    # One-node MLPs (models.fused_mlp) and E[softplus] (ganlib.losses.SoftplusMean) are bit-exact with Chainer's
    # functions, except where a gradient of a gradient (the penalty, second-order unrolling) or a third gradient
    # term changes the order of a sum: keep those runs unfused.
    fused = not (args.gradient_penalty or args.unroll_mode == 'second-order')
    try:
        gen = MLPGenerator(args.z_dim, args.g_hidden, 2, 'relu', args.init, args.z_dist, rng=rng,
                           batch_norm=args.g_batch_norm, fused=fused)
        if args.loss == 'began':
            dis = MLPAutoencoder(2, args.d_hidden, 8, args.d_activation, args.init, input_scale, rng=rng)
        else:
            dis = MLPDiscriminator(2, args.d_hidden, args.d_activation, args.init, input_scale,
                                   (args.md_kernels, args.md_dim) if args.minibatch_discrimination else None,
                                   rng=rng, maxout_pieces=args.maxout_pieces, pack=args.pack, fused=fused)
    except ValueError as e:
        raise cli.CleanExit(str(e))
    opt_gen, opt_dis = distributed.wrap_optimizers(comm, *options.setup(args, gen, dis, device, rng))
    iterator = MixtureIterator(mixture, args.batch_size * args.pack * distributed.size(comm), args.iterations_per_epoch,
                               seed=args.seed + 1, device=device)
    common = dict(unroll_k=args.unroll, unroll_mode=args.unroll_mode,
                  restore_optimizer_state=args.unroll_cache == 'full',
                  feature_matching=args.feature_matching, seed=args.seed + 2,
                  iterations_per_epoch=args.iterations_per_epoch, n_critic=args.n_critic,
                  converter=array_converter, device=device, shard=distributed.shard(comm))
    if args.loss == 'began':
        updater = BEGANUpdater(iterator, opt_gen, opt_dis, gamma=args.began_gamma, lambda_k=args.began_lambda_k,
                               **common)
    else:
        updater = GANUpdater(iterator, opt_gen, opt_dis, options.build_loss(args, fused),
                             gradient_penalty=args.gradient_penalty or 0.0, simultaneous=args.simultaneous, **common)
    return mixture, gen, dis, updater


def main(argv=None):
    args = parse_args(argv)
    comm = distributed.create(args)
    device = cli.get_device(distributed.device_spec(args.device, comm))
    mixture, gen, dis, updater = build(args, device, comm)
    writer = distributed.is_writer(comm)
    config = run.config_dict(args)
    if writer:
        print('settings: ' + presets.describe(args, KEY_SETTINGS))

    trainer = training.Trainer(updater, (args.epochs, 'epoch'), out=args.out)
    evaluator = MixtureEvaluator(gen, mixture, args.eval_samples, seed=args.seed + 3)
    if writer:  # the other ranks only train
        trainer.extend(evaluator, trigger=(1, 'epoch'))
        trainer.extend(SampleSaver(gen, args.out, args.plot_samples, seed=args.seed + 4),
                       trigger=training.triggers.ManualScheduleTrigger(sample_epochs(args.epochs, args.plot_every),
                                                                       'epoch'))
        trainer.extend(extensions.LogReport(trigger=(1, 'epoch')))
        run.snapshots(trainer, args.snapshot_every, 'epoch', args.epochs * args.iterations_per_epoch)
        if extensions.PlotReport.available():
            for keys, name in ((['gen/loss', 'dis/loss'], 'loss.png'), (['eval/modes'], 'modes.png')):
                trainer.extend(CurvePlot(keys, 'epoch', draw_every=args.plot_every, file_name=name))
        if not args.quiet:
            extra = ['dis/k', 'dis/M'] if args.loss == 'began' else ['dis/gp'] if args.gradient_penalty else []
            trainer.extend(run.print_report(['epoch', 'iteration', 'gen/loss', 'dis/loss'] + extra +
                                            ['eval/modes', 'eval/hq', 'eval/rev_kl', 'eval/balanced_hq',
                                             'elapsed_time']))
            trainer.extend(run.progress(args.epochs * args.iterations_per_epoch, 50))
    start_iteration = run.begin(trainer, args, config, {'gen': gen, 'dis': dis}, (1, 'epoch'), writer)

    start = time.time()
    run.train(trainer)
    wall = time.time() - start
    if not writer:
        return None

    final = evaluator.evaluate()
    truncated = evaluator.evaluate(truncation=args.truncation) if args.truncation else None
    history = load_sample_history(args.out)
    chosen = pick_epochs([e for e, _ in history], max_panels=8)
    panels = [('epoch {}'.format(e), s) for e, s in history if e in chosen]
    plot_kde_rows([(mog_run_label(vars(args)), panels)], os.path.join(args.out, 'kde.png'), mixture.extent, mixture.means)
    result = dict(final, dataset=args.dataset, std=mixture.std, iterations=updater.iteration,
                  wall_time_s=round(wall, 2), resumed_from=args.resume,
                  ms_per_iteration=round(1000 * wall / max(1, updater.iteration - start_iteration), 3),
                  config=config)
    if truncated is not None:
        result['truncated'] = dict(truncated, threshold=args.truncation)
    cli.save_json(os.path.join(args.out, 'metrics.json'), result)
    print('final: {modes}/{n_modes} modes, {hq:.1%} high quality, reverse KL {rev_kl:.3f} '
          '(high-quality samples only {rev_kl_hq:.3f}), balanced high quality {balanced_hq:.1%}; wall {wall:.1f}s; wrote {out}'.format(wall=wall, out=args.out, **final))
    if truncated is not None:
        print('with truncation {}: {modes}/{n_modes} modes, {hq:.1%} high quality, reverse KL {rev_kl:.3f}'.format(
            args.truncation, **truncated))
    return result


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
