#!/usr/bin/env python
"""DCGAN on a folder of face images (the anime-face experiments of the three posts).

Writes, under --out:
  args.json, log (LogReport JSON), loss.png (PlotReport), metrics.json (wall time, ms/iteration)
  samples/epoch_XXXX.png   a grid from the same fixed latents every --sample-every epochs (epoch 0: untrained)
  snapshot_iter_N          trainer snapshots (G, D, both optimisers, iterators, RNGs) for --resume
  gen_iter_N.npz           the generator alone, for analogy.py

Examples (the posts' variants):
  python train_anime.py --data-dir faces/ --out result/anime_dcgan
  python train_anime.py --data-dir faces/ --minibatch-discrimination --out result/anime_md
  python train_anime.py --data-dir faces/ --unroll 5 --minibatch-discrimination --out result/anime_k5_md
  python train_anime.py --data-dir faces/ --loss lsgan --out result/anime_lsgan
  python train_anime.py --data-dir faces/ --loss wgan --weight-clip 0.01 --optimizer rmsprop --n-critic 5
  python train_anime.py --data-dir MNIST_DIR --dataset mnist --preset lsgan-mnist --g-norm none   # the LSGAN
      post's MNIST failure (G without batch norm); drop --g-norm none for the fix
"""
import os
import sys
import time

import ganlib.compat  # noqa: F401  (before chainer)

import chainer
import numpy
from chainer import training
from chainer.training import extensions

from ganlib import cli, distributed, options, presets, run
from ganlib.extensions import SampleGrid, mnist_score
from ganlib.images import ImageFolderDataset, ImageFolderError
from ganlib.losses import parse_abc
from ganlib.mnist import IDXError, load_mnist, mnist_at, to_unit_range
from ganlib.stacked_mnist import StackedMNIST
from ganlib.updaters import GANUpdater
from models.dcgan import ACTIVATIONS, FM_LAYERS, NORMALIZATIONS, DCGANDiscriminator, DCGANGenerator

# The posts' original code (ganlib/presets.py).  D-only presets (activation, input noise, init):
NETWORKS = {
    'improved': dict(d_activation='elu', d_noise=0.3, init='normal:0.001'),   # Improved-GAN / unrolled posts
    'lsgan': dict(d_activation='leaky_relu', d_noise=0.0, init='normal:0.01'),  # LSGAN post
}
# Whole runs: 96 x 96, z 50 ~ U[-1, 1], G from 512 maps, D 32-64-128-256, Adam 1e-4 beta1 0.5, batch 128.  Only the
# unrolled post gives a length (300 epochs); the other two reused the same data and get it too.  The posts'
# variants add flags: --feature-matching, --minibatch-discrimination (B 50, C 5).
POST_RUN = dict(size=96, z_dim=50, z_dist='uniform', g_ch=512, d_ch=32, lr=1e-4, beta1=0.5, batch_size=128,
                epochs=300, md_kernels=50, md_dim=5)
PRESETS = dict(
    NETWORKS,
    **{'improved-gan-post': dict(POST_RUN, loss='gan', unroll=0, **NETWORKS['improved']),
       'unrolled-post': dict(POST_RUN, loss='gan', unroll=5, unroll_cache='params', **NETWORKS['improved']),
       'lsgan-post': dict(POST_RUN, loss='lsgan', lsgan_abc='0,1,1', unroll=0, **NETWORKS['lsgan']),
       # The LSGAN post's MNIST run, which "never trained": its face networks and optimiser at 32 x 32 on MNIST with
       # the generator it had, without batch norm (its author's later diagnosis); --g-norm batch is the fix.  The
       # post gives no length or MNIST net sizes: G from 256 maps, 20 epochs.
       'lsgan-mnist-post': dict(POST_RUN, dataset='mnist', size=32, g_ch=256, epochs=20, loss='lsgan',
                                lsgan_abc='0,1,1', unroll=0, g_norm='none', **NETWORKS['lsgan'])})
KEY_SETTINGS = ('preset', 'dataset', 'size', 'g_norm', 'z_dim', 'z_dist', 'loss', 'unroll', 'pack', 'd_activation',
                'd_noise', 'init', 'lr', 'batch_size', 'epochs', 'minibatch_discrimination', 'feature_matching', 'fm_layer')


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='train_anime.py')
    a = p.add_argument
    a('--data-dir', required=True, help='folder of PNG/JPEG images, searched recursively (or the MNIST IDX '
      'folder for --dataset stacked-mnist)')
    a('--dataset', choices=('folder', 'stacked-mnist', 'mnist'), default='folder',
      help='folder: the images under --data-dir; stacked-mnist: three MNIST digits as RGB (1,000 modes); '
           'mnist: the MNIST training digits, one channel, padded to 32 x 32')
    a('--stacked-size', type=cli.positive_int, default=128000, help='stacked-MNIST examples (default 128,000)')
    a('--size', type=int, choices=(32, 64, 96), default=None,
      help='image size (default 64 for a folder, 32 for stacked-mnist and mnist; the posts used 96)')
    a('--max-images', type=cli.positive_int, default=None, help='stop after N readable images (sorted paths)')
    a('--preset', choices=('auto',) + tuple(PRESETS), default='auto',
      help="improved-gan-post, unrolled-post, lsgan-post, lsgan-mnist-post: everything that post's run used "
           "(explicit flags still win); improved, lsgan: D activation, input noise and init only; auto (default): lsgan for --loss lsgan")
    a('--z-dim', type=cli.positive_int, default=50, help='latent size (50 as in the posts)')
    a('--z-dist', choices=('uniform', 'normal'), default='uniform', help='latent distribution (posts: uniform)')
    a('--g-ch', type=cli.positive_int, default=512, help="G's first feature maps (halved per layer; default 512)")
    a('--d-ch', type=cli.positive_int, default=32, help="D's first feature maps (doubled per layer; default 32)")
    a('--d-activation', choices=ACTIVATIONS, default=None, help='(preset)')
    a('--d-noise', type=cli.nonnegative_float, default=None, help="std of the Gaussian noise added to D's input (preset)")
    a('--init', default=None, help='weight init, e.g. normal:0.02 (preset)')
    a('--g-norm', choices=('batch', 'none'), default='batch',
      help="normalisation in G: batch (default), none (the LSGAN post's failing MNIST generator)")
    a('--score-samples', type=cli.nonnegative_int, default=2000,
      help='--dataset mnist: samples scored every epoch with the MNIST classifier (FID, IS, classes; 0: none)')
    a('--classifier-cache', default=None, help="where the MNIST classifier is cached (default: evaluate.py's)")
    a('--d-norm', choices=NORMALIZATIONS, default=None,
      help="normalisation in D: batch (the posts), layer, none (default: batch; layer with --gradient-penalty)")
    a('--self-attention', action='store_true', help='SAGAN self-attention block in G and D')
    a('--feature-matching', action='store_true', help='G minimises feature matching (Salimans et al. 3.1)')
    a('--fm-layer', choices=FM_LAYERS, default='conv',
      help="D's features that --feature-matching matches: conv, its last conv features (default); md, those with "
           "the minibatch features appended (needs --minibatch-discrimination)")
    options.add_minibatch_arguments(a)
    a('--pack', type=cli.positive_int, default=1,
      help='PacGAN packing m (PacDCGAN): D judges m images stacked along the channels; a batch is --batch-size '
           'packs of m images (default 1)')
    options.add_unrolling_arguments(a, 0, '; the post: 5')
    a('--lsgan-abc', default='0,1,1', help='LSGAN targets a,b,c')
    a('--lr', type=cli.positive_float, default=1e-4, help='learning rate (posts: Adam 1e-4)')
    a('--beta1', type=cli.adam_beta, default=0.5, help='Adam beta1 in [0, 1) (default 0.5)')
    a('--batch-size', type=cli.positive_int, default=128, help='(posts: 128)')
    a('--epochs', type=cli.positive_int, default=20, help='epochs of --iterations-per-epoch updates (default 20)')
    a('--iterations-per-epoch', type=cli.positive_int, default=None,
      help='generator updates per epoch (default: images // batch size)')
    a('--sample-every', type=cli.positive_int, default=1,
      help='sample grid (and MNIST scores) every N epochs and at the end')
    a('--snapshot-every', type=cli.positive_int, default=1, help='snapshots every N epochs and at the end')
    a('--log-every', type=cli.positive_int, default=10, help='log/print every N iterations')
    a('--grid', type=cli.positive_int, default=8, help='sample grid is N x N (default 8)')
    run.add_arguments(p, 'result/anime')
    options.add_arguments(p, began=False)
    distributed.add_arguments(p)
    args = p.parse_args(argv)
    explicit = presets.explicit_dests(p, argv)
    presets.apply(args, NETWORKS['lsgan' if args.loss == 'lsgan' else 'improved'] if args.preset == 'auto' else
                  PRESETS[args.preset], explicit)
    try:
        args.lsgan_abc = parse_abc(args.lsgan_abc)
    except ValueError as e:
        p.error(str(e))
    if args.size is None:
        args.size = 64 if args.dataset == 'folder' else 32
    if args.dataset == 'mnist' and args.size != 32:
        p.error('--dataset mnist trains at 32 x 32 (the digits padded): use --size 32')
    if args.d_norm is None:  # the penalty is per example: no batch norm in the critic (Gulrajani et al. §4)
        args.d_norm = 'layer' if args.gradient_penalty else 'batch'
    if args.gradient_penalty and args.d_norm == 'batch':
        p.error('--gradient-penalty needs a critic without batch norm (--d-norm layer or none; Gulrajani et al. §4)')
    if args.pack > 1 and args.gradient_penalty:
        p.error('--pack with --gradient-penalty: the penalty is defined per example, a packed D judges m at once')
    if args.fm_layer != 'conv' and not (args.feature_matching and args.minibatch_discrimination):
        p.error('--fm-layer {} needs --feature-matching and --minibatch-discrimination'.format(args.fm_layer))
    problem = options.validate(args) or distributed.validate(args)
    if problem:
        p.error(problem)
    return run.check_paths(p, args)


def load_dataset(args, quiet=False):
    shown = []

    def progress(i, n):
        if not quiet and (i % 1000 == 0 or i == n):
            print('\rloading images: {}/{}'.format(i, n), end='', flush=True)
            shown.append(i)
    if args.dataset in ('stacked-mnist', 'mnist'):
        try:
            (x, y), _ = load_mnist(args.data_dir)
        except (IDXError, ValueError) as e:
            raise cli.CleanExit(str(e))
        if args.dataset == 'mnist':
            dataset = mnist_at(to_unit_range(x[:args.max_images]), 32)
        else:
            dataset = StackedMNIST(x[:args.max_images], y[:args.max_images], args.stacked_size, args.size,
                                   seed=args.seed + 11)
    else:
        try:
            dataset = ImageFolderDataset(args.data_dir, args.size, args.max_images, progress=progress)
        except ImageFolderError as e:
            raise cli.CleanExit(str(e))
        finally:
            if shown:
                print()
    if len(dataset) < args.batch_size * args.pack:
        raise cli.CleanExit('{} usable images, fewer than one batch of {} (lower --batch-size{})'.format(
            len(dataset), args.batch_size * args.pack, ' or --pack' if args.pack > 1 else ''))
    return dataset


def build(args, dataset, device, comm=None):
    """G, D and the updater; with a ChainerMN ``comm``, data-parallel (``ganlib.distributed``)."""
    rng = numpy.random.RandomState(args.seed)
    try:
        channels = 1 if args.dataset == 'mnist' else 3
        gen = DCGANGenerator(args.z_dim, args.size, args.g_ch, args.z_dist, args.init, args.self_attention, rng=rng,
                             normalization=args.g_norm, channels=channels)
        dis = DCGANDiscriminator(args.size, args.d_ch, args.d_activation, args.d_noise, args.init,
                                 (args.md_kernels, args.md_dim) if args.minibatch_discrimination else None,
                                 args.self_attention, seed=args.seed + 5, rng=rng, normalization=args.d_norm,
                                 channels=channels, pack=args.pack, fm_layer=args.fm_layer)
    except ValueError as e:
        raise cli.CleanExit(str(e))
    opt_gen, opt_dis = distributed.wrap_optimizers(comm, *options.setup(args, gen, dis, device, rng))
    if distributed.size(comm) > 1:  # this rank's own input noise
        dis.noise.stream = dis.noise.stream.fork(distributed.rank(comm))
    global_batch = args.batch_size * args.pack * distributed.size(comm)
    sampler = chainer.iterators.ShuffleOrderSampler(numpy.random.RandomState(args.seed + 1))
    iterator = chainer.iterators.SerialIterator(dataset, global_batch, order_sampler=sampler)
    per_epoch = args.iterations_per_epoch or max(1, len(dataset) // global_batch)
    updater = GANUpdater(iterator, opt_gen, opt_dis, options.build_loss(args), unroll_k=args.unroll,
                         unroll_mode=args.unroll_mode, restore_optimizer_state=args.unroll_cache == 'full',
                         feature_matching=args.feature_matching, seed=args.seed + 2,
                         iterations_per_epoch=per_epoch, n_critic=args.n_critic,
                         gradient_penalty=args.gradient_penalty or 0.0, device=device,
                         shard=distributed.shard(comm))
    return gen, dis, updater


def main(argv=None):
    args = parse_args(argv)
    comm = distributed.create(args)
    writer = distributed.is_writer(comm)
    device = cli.get_device(distributed.device_spec(args.device, comm))
    dataset = load_dataset(args, args.quiet or not writer)
    skipped = getattr(dataset, 'skipped', [])
    if writer and not args.quiet and hasattr(dataset, 'summary'):
        print(dataset.summary())
    if writer and skipped:
        print('skipped {} unreadable file(s), e.g. {}: {}'.format(len(skipped), *skipped[0]))
    gen, dis, updater = build(args, dataset, device, comm)
    config = run.config_dict(args)
    if writer:
        print('settings: ' + presets.describe(args, KEY_SETTINGS))

    trainer = training.Trainer(updater, (args.epochs, 'epoch'), out=args.out)
    last = args.epochs * updater.iterations_per_epoch
    log_trigger = lambda: run.EveryOrEnd(args.log_every, 'iteration', last)  # noqa: E731  (short runs log too)
    sample_trigger = lambda: run.EveryOrEnd(args.sample_every, 'epoch', last)  # noqa: E731  (and draw, score)
    if writer:  # the other ranks only train
        trainer.extend(extensions.LogReport(trigger=log_trigger()))
        trainer.extend(SampleGrid(gen, args.out, args.grid, seed=args.seed + 3, truncation=args.truncation),
                       trigger=sample_trigger())
        run.snapshots(trainer, args.snapshot_every, 'epoch', last, gen)
        if extensions.PlotReport.available():
            trainer.extend(extensions.PlotReport(['gen/loss', 'dis/loss'], 'iteration', trigger=log_trigger(),
                                                 file_name='loss.png'))
        if args.dataset == 'mnist' and args.score_samples:
            scores = mnist_score(args, gen, device)
            trainer.extend(scores, trigger=sample_trigger())
            if extensions.PlotReport.available():
                trainer.extend(extensions.PlotReport(['eval/fid'], 'epoch', trigger=sample_trigger(),
                                                     file_name='fid.png'))
        if not args.quiet:
            extra = ['dis/gp'] if args.gradient_penalty else []
            trainer.extend(run.print_report(['epoch', 'iteration', 'gen/loss', 'dis/loss'] + extra +
                                            ['elapsed_time']), trigger=log_trigger())
            trainer.extend(run.progress(last, 1))
    start_iteration = run.begin(trainer, args, config, {'gen': gen, 'dis': dis}, log_trigger(), writer)

    start = time.time()
    run.train(trainer)
    wall = time.time() - start
    if not writer:
        return None
    done = updater.iteration - start_iteration
    result = dict(iterations=updater.iteration, epochs=updater.epoch, images=len(dataset),
                  skipped_files=len(skipped), wall_time_s=round(wall, 2),
                  ms_per_iteration=round(1000 * wall / max(1, done), 1), device=str(device),
                  ranks=distributed.size(comm), resumed_from=args.resume, config=config)
    cli.save_json(os.path.join(args.out, 'metrics.json'), result)
    print('{} iterations in {:.1f}s ({:.1f} ms/iteration); wrote {}'.format(
        done, wall, result['ms_per_iteration'], args.out))
    return result


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
