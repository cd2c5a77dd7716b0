#!/usr/bin/env python
"""Class-conditional GAN on MNIST with BigGAN's parts: conditional batch norm in G, a projection discriminator,
the hinge loss, spectral normalisation, TTUR, orthogonal initialisation and regularisation, the truncation trick.

Its own script because the class label runs through G, D, the update and the metrics: every epoch the
repository's MNIST classifier reports how often a sample is classified as the class it was generated for
(``eval/class_match``) and the classifier-feature FID, and D itself is scored as a classifier of real test
digits, argmax_y D(x, y) (``eval/d_label_accuracy``); the sample grid has one row per class.

--preset biggan-parts (the default) turns on BigGAN's choices (Brock et al. 2019, §3 and App. C): hinge loss,
spectral norm in D (and, unlike BigGAN, not in G — say --g-spectral-norm to add it), Adam β1 0, β2 0.999, TTUR
with D 4e-4 and G 1e-4 (SAGAN's rates), 2 D steps per G step, orthogonal init, orthogonal regularisation 1e-4 on
G; --preset none leaves every toolbox flag at its plain default.  --shared-embedding E and --hierarchical-z add
BigGAN's shared class embedding and hierarchical latent to G (off by default: per-class BN tables).

Writes, under --out: args.json, log, loss.png, class_match.png, samples/epoch_XXXX.png (row c = class c),
class_grid.png (the final grid), metrics.json, snapshot_iter_N (--resume).

  python train_conditional.py --data-dir MNIST_DIR --out result/conditional
  python train_conditional.py --data-dir MNIST_DIR --truncation 1.0 --out result/conditional_t1
"""
import os
import sys
import time

import ganlib.compat  # noqa: F401  (before chainer)

import chainer
import numpy
from chainer import training
from chainer.training import extensions

from ganlib import cli, options, presets, run
from ganlib.extensions import ClassGrid, LabelAccuracy, mnist_score
from ganlib.updaters import ConditionalGANUpdater
from models.conditional import ConditionalGenerator, ProjectionDiscriminator

PRESETS = {
    'biggan-parts': dict(loss='hinge', spectral_norm=True, beta1=0.0, beta2=0.999, lr_d=4e-4, lr_g=1e-4, n_critic=2,
                         init='orthogonal', ortho_reg=1e-4),
    'none': {},
}
KEY_SETTINGS = ('preset', 'loss', 'spectral_norm', 'lr_d', 'lr_g', 'beta1', 'beta2', 'n_critic', 'init', 'ortho_reg',
                'truncation', 'shared_embedding', 'hierarchical_z', 'z_dim', 'g_ch', 'd_ch', 'batch_size', 'epochs')


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='train_conditional.py')
    a = p.add_argument
    a('--data-dir', required=True, help='the MNIST IDX folder')
    a('--max-images', type=cli.positive_int, default=None, help='use the first N training digits only')
    a('--preset', choices=tuple(PRESETS), default='biggan-parts',
      help="biggan-parts (default): BigGAN's loss, norms, optimiser and regularisers; none: plain flags")
    a('--z-dim', type=cli.positive_int, default=128, help='latent size (default 128)')
    a('--shared-embedding', type=cli.nonnegative_int, default=0, metavar='E',
      help="BigGAN's shared class embedding of size E, mapped linearly to every CBN layer's gain and bias "
           "(BigGAN: 128; default 0: a gain and bias table per class in each layer)")
    a('--hierarchical-z', action='store_true',
      help="BigGAN's hierarchical latent: z split into 5 chunks, the first into G's input layer, one appended to "
           "the shared embedding per CBN layer (needs --shared-embedding)")
    a('--g-ch', type=cli.positive_int, default=32, help="G's feature maps (default 32)")
    a('--d-ch', type=cli.positive_int, default=32, help="D's first feature maps, doubled per stage (default 32)")
    a('--init', default='normal:0.02', help='weight init (the preset: orthogonal)')
    a('--lr', type=cli.positive_float, default=2e-4, help='learning rate where --lr-g/--lr-d are not set')
    a('--beta1', type=cli.adam_beta, default=0.5, help='Adam beta1 (the preset: 0)')
    a('--batch-size', type=cli.positive_int, default=64, help='images per update (default 64)')
    a('--epochs', type=cli.positive_int, default=10, help='epochs of --iterations-per-epoch updates (default 10)')
    a('--iterations-per-epoch', type=cli.positive_int, default=None, help='(default: digits // batch size)')
    a('--score-samples', type=cli.nonnegative_int, default=1000,
      help='samples (equal per class) scored by the MNIST classifier every epoch (default 1,000; 0: none)')
    a('--label-check', type=cli.nonnegative_int, default=1000,
      help='official test digits on which argmax_y D(x, y) is scored every epoch (eval/d_label_accuracy: has D '
           'learned the classes?) (default 1,000; 0: none)')
    a('--classifier-cache', default=None, help="where the MNIST classifier is cached (default: evaluate.py's)")
    a('--grid', type=cli.positive_int, default=10, help='columns of the class grid (default 10)')
    a('--snapshot-every', type=cli.positive_int, default=1, help='snapshot every N epochs and at the end')
    a('--log-every', type=cli.positive_int, default=50, help='log/print every N iterations')
    run.add_arguments(p, 'result/conditional')
    options.add_arguments(p, began=False)
    args = p.parse_args(argv)
    presets.apply(args, PRESETS[args.preset], presets.explicit_dests(p, argv))
    if args.gradient_penalty is not None:
        p.error('--gradient-penalty is not supported by the conditional updater (use --spectral-norm)')
    if args.hierarchical_z and not args.shared_embedding:
        p.error('--hierarchical-z appends latent chunks to the shared embedding: set --shared-embedding')
    if args.hierarchical_z and args.z_dim < 5:
        p.error('--hierarchical-z splits z into 5 chunks: --z-dim must be at least 5, got {}'.format(args.z_dim))
    args.z_dist = 'normal'
    problem = options.validate(args)
    if problem:
        p.error(problem)
    return run.check_paths(p, args)


def load_data(args):
    from ganlib.mnist import IDXError, load_mnist, mnist_at, to_unit_range
    try:
        (x, y), _ = load_mnist(args.data_dir)
    except (IDXError, ValueError) as e:
        raise cli.CleanExit(str(e))
    x, y = x[:args.max_images], y[:args.max_images]
    if len(x) < args.batch_size:
        raise cli.CleanExit('{} digits, fewer than one batch of {}'.format(len(x), args.batch_size))
    return chainer.datasets.TupleDataset(mnist_at(to_unit_range(x), 32), y.astype(numpy.int32))


def test_digits(args):
    """The first --label-check official test digits at 32 × 32 in [-1, 1] and their labels."""
    from ganlib.mnist import load_mnist, mnist_at, to_unit_range
    x, y = load_mnist(args.data_dir)[1]
    return mnist_at(to_unit_range(x[:args.label_check]), 32), y[:args.label_check].astype(numpy.int32)


def build(args, data, device):
    rng = numpy.random.RandomState(args.seed)
    try:
        gen = ConditionalGenerator(args.z_dim, 10, 1, args.g_ch, 32, args.init, rng=rng,
                                   shared_embedding=args.shared_embedding, hierarchical_z=args.hierarchical_z)
        dis = ProjectionDiscriminator(10, 1, args.d_ch, args.init, rng=rng)
    except ValueError as e:
        raise cli.CleanExit(str(e))
    opt_gen, opt_dis = options.setup(args, gen, dis, device, rng)
    sampler = chainer.iterators.ShuffleOrderSampler(numpy.random.RandomState(args.seed + 1))
    iterator = chainer.iterators.SerialIterator(data, args.batch_size, order_sampler=sampler)
    updater = ConditionalGANUpdater(iterator, opt_gen, opt_dis, options.build_loss(args), 10, seed=args.seed + 2,
                                    iterations_per_epoch=args.iterations_per_epoch or max(1, len(data) // args.batch_size),
                                    n_critic=args.n_critic, device=device)
    return gen, dis, updater


def main(argv=None):
    args = parse_args(argv)
    device = cli.get_device(args.device)
    data = load_data(args)
    gen, dis, updater = build(args, data, device)
    config = run.config_dict(args)
    print('settings: ' + presets.describe(args, KEY_SETTINGS))
    trainer = training.Trainer(updater, (args.epochs, 'epoch'), out=args.out)
    last = args.epochs * updater.iterations_per_epoch
    log_trigger = lambda: run.EveryOrEnd(args.log_every, 'iteration', last)  # noqa: E731
    grid = ClassGrid(gen, args.out, 10, args.grid, seed=args.seed + 3, truncation=args.truncation)
    scores = mnist_score(args, gen, device, n_classes=10) if args.score_samples else None
    if scores is not None:
        trainer.extend(scores)
    label_accuracy = LabelAccuracy(dis, *test_digits(args), n_classes=10) if args.label_check else None
    if label_accuracy is not None:
        trainer.extend(label_accuracy)
    trainer.extend(extensions.LogReport(trigger=log_trigger()))
    trainer.extend(grid, trigger=(1, 'epoch'))
    run.snapshots(trainer, args.snapshot_every, 'epoch', last)
    if extensions.PlotReport.available():
        trainer.extend(extensions.PlotReport(['gen/loss', 'dis/loss'], 'iteration', trigger=log_trigger(),
                                             file_name='loss.png'))
        if scores is not None:
            trainer.extend(extensions.PlotReport(['eval/class_match', 'eval/d_label_accuracy'], 'epoch',
                                                 file_name='class_match.png'))
    if not args.quiet:
        trainer.extend(run.print_report(['epoch', 'iteration', 'gen/loss', 'dis/loss', 'eval/class_match',
                                         'eval/d_label_accuracy', 'eval/fid', 'elapsed_time']), trigger=log_trigger())
        trainer.extend(run.progress(last, 10))
    start_iteration = run.begin(trainer, args, config, {'gen': gen, 'dis': dis}, log_trigger())

    start = time.time()
    run.train(trainer)
    wall = time.time() - start
    grid.save(updater.epoch, updater.iteration, path=os.path.join(args.out, 'class_grid.png'),
              caption='rows: classes 0-9; columns: the same z; epoch {}, iteration {}'.format(updater.epoch,
                                                                                            updater.iteration))
    result = dict(iterations=updater.iteration, epochs=updater.epoch, wall_time_s=round(wall, 2),
                  ms_per_iteration=round(1000 * wall / max(1, updater.iteration - start_iteration), 1),
                  device=str(device), resumed_from=args.resume, config=config)
    if scores is not None:
        result['final'] = scores.evaluate()
        if args.truncation:
            result['truncated'] = dict(scores.evaluate(args.truncation), threshold=args.truncation)
    if label_accuracy is not None:
        result['d_label_accuracy'] = label_accuracy.evaluate()
    cli.save_json(os.path.join(args.out, 'metrics.json'), result)
    final = result.get('final')
    print('{} iterations in {:.1f}s{}; wrote {}'.format(
        updater.iteration - start_iteration, wall,
        ', class match {:.1%}, FID {:.2f}'.format(final['class_match'], final['fid']) if final else '', args.out))
    return result


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
