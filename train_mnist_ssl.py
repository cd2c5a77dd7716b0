#!/usr/bin/env python
"""Semi-supervised MNIST with a K-class GAN discriminator (the Improved-GAN post; the unrolled post reused it).

The discriminator is a 10-class classifier trained on a few labelled digits per class plus unlabelled and
generated digits; the generator is trained with feature matching.  Writes, under --out:
  log                  LogReport JSON (losses, validation accuracy, learning rate)
  accuracy.png         validation accuracy curve; plot_curves.py puts several runs on one plot
  metrics.json         final validation and test accuracy, the split, wall time, the full config
  samples.png          a grid of generated digits
  snapshot_iter_N      trainer snapshots for --resume

  python train_mnist_ssl.py --data-dir ../shared/data/mnist --labels 100 --out result/ssl100
"""
import argparse
import os
import sys
import time

import ganlib.compat  # noqa: F401  (before chainer)

import chainer
import numpy
from chainer import training
from chainer.training import extensions

from ganlib import cli, distributed, run
from ganlib.averaging import ParameterAverage
from ganlib.flat_adam import FlatAdam
from ganlib.mnist import DEFAULT_CACHE, DEFAULT_MIRROR, IDXError, download_mnist, load_mnist, ssl_split, to_unit_range
from ganlib.semi_supervised import (G_LOSSES, AccuracyEvaluator, PiecewiseConstantLR, SemiSupervisedGANUpdater,
                                    accuracy, tile_to)
from ganlib import options
from models import PaperSSLDiscriminator, PaperSSLGenerator, SSLDiscriminator, SSLGenerator


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='train_mnist_ssl.py')
    a = p.add_argument
    a('--data-dir', default=None, help='folder with the four MNIST IDX files (.gz or not)')
    a('--download', action='store_true', help='without --data-dir: download MNIST (MD5-checked) into --cache-dir')
    a('--mirror', default=DEFAULT_MIRROR, help='download base URL')
    a('--cache-dir', default=DEFAULT_CACHE, help='where --download stores MNIST (default {})'.format(DEFAULT_CACHE))
    a('--model', choices=('post', 'paper'), default='post',
      help="post: the posts' Chainer networks (default); paper: the Improved-GAN paper's own code (weight-normalised "
           "ReLU D with 5 hidden layers and data-dependent init, z 100, lr 3e-3, unlabelled loss halved)")
    a('--labels', type=cli.positive_int, default=100, help='labelled digits in all, a multiple of 10 (default 100)')
    a('--n-validation', type=int, default=None,
      help='held-out validation digits (default: 10,000 of 60,000, or a tenth of a smaller training set)')
    options.add_unrolling_arguments(a, 0, '; the post tried 5', cache=False)
    a('--g-loss', choices=G_LOSSES, default='fm',
      help="fm: the paper's feature matching of batch means; fm-pairwise+adv: the original code; adv")
    options.add_minibatch_arguments(a)
    a('--z-dim', type=cli.positive_int, default=None, help='default 50 (post) or 100 (paper)')
    a('--d-hidden', type=cli.int_list, default=None,
      help='D hidden widths (default 1000,500,250 for post, 1000,500,250,250,250 for paper)')
    a('--unlabeled-weight', type=cli.positive_float, default=None,
      help='weight w of the unsupervised D loss (default 1 for post, 0.5 for paper as its code)')
    a('--max-unlabeled', type=cli.positive_int, default=None,
      help='use only the first N unlabelled digits of the split (the unlabelled-count study; default all)')
    a('--g-hidden', type=cli.int_list, default=(500, 500), help='G hidden widths (default 500,500)')
    a('--batch-size', type=cli.positive_int, default=100,
      help='labelled and unlabelled digits per update, each (default 100)')
    a('--epochs', type=cli.positive_int, default=30, help='epochs of --iterations-per-epoch updates (default 30)')
    a('--iterations-per-epoch', type=cli.positive_int, default=500, help='updates per epoch (default 500)')
    a('--lr-schedule', default=None,
      help='epoch:alpha,... (default: the post 0:1e-3,10:3e-4,50:1e-4; the paper 0:3e-3)')
    a('--beta1', type=cli.adam_beta, default=0.5, help='Adam beta1 in [0, 1) (default 0.5)')
    a('--eval-every', type=cli.positive_int, default=500, help='validation accuracy every N iterations')
    a('--eval-average', type=cli.positive_float, default=None, metavar='RATE',
      help="also evaluate a running average of D's parameters (Polyak averaging at RATE; the paper's code: 1e-4)")
    a('--snapshot-every', type=cli.positive_int, default=10, help='snapshot every N epochs and at the end')
    run.add_arguments(p, 'result/mnist_ssl')
    a('--score', action='store_true',
      help="also score G's samples: MNIST-classifier FID, Inception-style score, class histogram (evaluate.py)")
    a('--score-samples', type=cli.positive_int, default=10000, help='samples for --score (default 10,000)')
    a('--classifier-cache', default=None, help='MNIST classifier cache for --score (default ~/.cache/...)')
    options.add_arguments(p, losses=False, optimizers=False, truncation=False)
    distributed.add_arguments(p)
    args = p.parse_args(argv)
    problem = options.validate(args) or distributed.validate(args)
    if problem:
        p.error(problem)
    if args.labels % 10:
        p.error('--labels must be a multiple of 10 (the same number per class), got {}'.format(args.labels))
    paper = args.model == 'paper'
    if paper and getattr(args, 'spectral_norm', False):
        p.error("--spectral-norm needs --model post (the paper's discriminator is weight-normalised already)")
    for name, post_value, paper_value in (('z_dim', 50, 100), ('d_hidden', (1000, 500, 250), (1000, 500, 250, 250, 250)),
                                          ('unlabeled_weight', 1.0, 0.5),
                                          ('lr_schedule', '0:1e-3,10:3e-4,50:1e-4', '0:3e-3')):
        if getattr(args, name) is None:
            setattr(args, name, paper_value if paper else post_value)
    try:
        args.lr_schedule = cli.lr_schedule(args.lr_schedule)
    except argparse.ArgumentTypeError:
        p.error('--lr-schedule must look like 0:1e-3,10:3e-4,50:1e-4')
    if args.eval_average is not None and args.eval_average > 1:
        p.error('--eval-average must be a rate in (0, 1], got {}'.format(args.eval_average))
    if args.data_dir is None and not args.download:
        p.error('give --data-dir DIR (the four MNIST IDX files) or --download')
    return run.check_paths(p, args)


def load_data(args):
    try:
        data_dir = args.data_dir or download_mnist(args.cache_dir, args.mirror)
        (x_train, y_train), (x_test, y_test) = load_mnist(data_dir)
        n_val = args.n_validation
        if n_val is None:
            n_val = 10000 if len(y_train) >= 60000 else len(y_train) // 10
        lab, unl, val = ssl_split(y_train, args.labels, args.seed, n_val)
        unl = unl[:args.max_unlabeled]
        if len(unl) < args.batch_size:
            raise ValueError('{} unlabelled digits, fewer than one batch of {}'.format(len(unl), args.batch_size))
    except (IDXError, ValueError) as e:
        raise cli.CleanExit(str(e))
    x_train, x_test = to_unit_range(x_train), to_unit_range(x_test)
    return dict(x_lab=x_train[lab], y_lab=y_train[lab], x_unl=x_train[unl], x_val=x_train[val], y_val=y_train[val],
                x_test=x_test, y_test=y_test, split=dict(labeled=len(lab), unlabeled=len(unl), validation=len(val),
                                                         test=len(y_test), data_dir=data_dir))


def build(args, data, device, comm=None):
    """G, D, optimizers and updater; with a ChainerMN ``comm``, data-parallel (``ganlib.distributed``)."""
    rng = numpy.random.RandomState(args.seed)
    md = (args.md_kernels, args.md_dim) if args.minibatch_discrimination else None
    if args.model == 'paper':
        gen = PaperSSLGenerator(args.z_dim, args.g_hidden, rng=rng)
        dis = PaperSSLDiscriminator(args.d_hidden, minibatch_discrimination=md, seed=args.seed + 5, rng=rng)
    else:
        gen = SSLGenerator(args.z_dim, args.g_hidden, rng=rng)
        dis = SSLDiscriminator(args.d_hidden, minibatch_discrimination=md, seed=args.seed + 5, rng=rng)
    gen.to_device(device)
    dis.to_device(device)
    if args.model == 'paper':  # data-dependent init on 500 training digits, as the original (a resume overwrites it)
        dis.data_init(data['x_unl'][:500])
    opts = []
    for link in (gen, dis):
        opt = FlatAdam(alpha=args.lr_schedule[0][1], beta1=args.beta1)
        opt.setup(link)
        opts.append(opt)
    options.apply(args, gen, dis, opts[0], opts[1], rng)
    opts = list(distributed.wrap_optimizers(comm, *opts))
    if distributed.size(comm) > 1:  # this rank's own noise-layer stream
        dis.noise.stream = dis.noise.stream.fork(distributed.rank(comm))
    global_batch = args.batch_size * distributed.size(comm)
    order = lambda s: chainer.iterators.ShuffleOrderSampler(numpy.random.RandomState(args.seed + s))  # noqa: E731
    unl_iter = chainer.iterators.SerialIterator(data['x_unl'], global_batch, order_sampler=order(1))
    x_lab, y_lab = tile_to(global_batch, data['x_lab'], data['y_lab'])
    lab_iter = chainer.iterators.SerialIterator(chainer.datasets.TupleDataset(x_lab, y_lab), global_batch,
                                                order_sampler=order(2))
    updater = SemiSupervisedGANUpdater(unl_iter, lab_iter, opts[0], opts[1], g_loss_kind=args.g_loss,
                                       unlabeled_weight=args.unlabeled_weight,
                                       unroll_k=args.unroll, unroll_mode=args.unroll_mode, seed=args.seed + 3,
                                       iterations_per_epoch=args.iterations_per_epoch, device=device,
                                       shard=distributed.shard(comm))
    return gen, dis, opts, updater


def save_sample_grid(gen, path, seed, n=100):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from ganlib.extensions import generate
    from ganlib.rng import RandomStream
    imgs = generate(gen, n, RandomStream(seed)).reshape(n, 28, 28)
    side = int(numpy.sqrt(n))
    grid = imgs[:side * side].reshape(side, side, 28, 28).transpose(0, 2, 1, 3).reshape(side * 28, side * 28)
    plt.imsave(path, (grid + 1) / 2, cmap='gray', vmin=0, vmax=1)


def score_samples(args, gen, data, device):
    """FID / IS / class histogram of G's samples in the repository's MNIST-classifier feature space."""
    from ganlib.classifier import DEFAULT_CLASSIFIER_CACHE, load_or_train
    from ganlib.scoring import generate_images, mnist_scores
    classifier, info = load_or_train(data['split']['data_dir'], args.classifier_cache or DEFAULT_CLASSIFIER_CACHE,
                                     device=device)
    images = generate_images(gen, args.score_samples, args.seed + 9)
    scores = mnist_scores(classifier, images, data['x_test'])
    scores['classifier_test_accuracy'] = info['test_accuracy']
    return scores


def main(argv=None):
    args = parse_args(argv)
    comm = distributed.create(args)
    writer = distributed.is_writer(comm)
    device = cli.get_device(distributed.device_spec(args.device, comm))
    data = load_data(args)
    gen, dis, opts, updater = build(args, data, device, comm)
    config = run.config_dict(args)
    last = args.epochs * args.iterations_per_epoch
    every_eval = lambda: run.EveryOrEnd(args.eval_every, 'iteration', last)  # noqa: E731  (short runs log too)

    trainer = training.Trainer(updater, (args.epochs, 'epoch'), out=args.out)
    trainer.extend(PiecewiseConstantLR(opts, args.lr_schedule))
    average = None
    if writer:  # the other ranks only train
        trainer.extend(AccuracyEvaluator(dis, data['x_val'], data['y_val']), trigger=every_eval())
        if args.eval_average:
            average = ParameterAverage(dis, args.eval_average)
            trainer.extend(average)
            trainer.extend(AccuracyEvaluator(average.average, data['x_val'], data['y_val'],
                                             'validation/accuracy_averaged'), trigger=every_eval())
        trainer.extend(extensions.LogReport(trigger=every_eval()))
        run.snapshots(trainer, args.snapshot_every, 'epoch', last)
        if extensions.PlotReport.available():
            trainer.extend(extensions.PlotReport(['validation/accuracy'] + (['validation/accuracy_averaged'] if average
                                                                            else []), 'iteration',
                                                 trigger=every_eval(), file_name='accuracy.png'))
        if not args.quiet:
            trainer.extend(run.print_report(['epoch', 'iteration', 'gen/loss', 'dis/loss', 'validation/accuracy']
                                            + (['validation/accuracy_averaged'] if average else [])
                                            + ['lr', 'elapsed_time']), trigger=every_eval())
            trainer.extend(run.progress(last, 20))
    run.begin(trainer, args, config, {'gen': gen, 'dis': dis}, every_eval(), writer)
    start = time.time()
    run.train(trainer)
    wall = time.time() - start
    if not writer:
        return None
    result = dict(validation_accuracy=accuracy(dis, data['x_val'], data['y_val']),
                  test_accuracy=accuracy(dis, data['x_test'], data['y_test']),
                  iterations=updater.iteration, wall_time_s=round(wall, 2), resumed_from=args.resume, split=data['split'],
                  config=config)
    result['test_errors'] = int(round((1 - result['test_accuracy']) * len(data['y_test'])))
    if average:
        result.update(validation_accuracy_averaged=accuracy(average.average, data['x_val'], data['y_val']),
                      test_accuracy_averaged=accuracy(average.average, data['x_test'], data['y_test']))
    if args.score:
        result['sample_scores'] = score_samples(args, gen, data, device)
    cli.save_json(os.path.join(args.out, 'metrics.json'), result)
    save_sample_grid(gen, os.path.join(args.out, 'samples.png'), args.seed + 7)
    print('final: test accuracy {:.2%} ({} errors of {}), validation {:.2%}; {} labels; wall {:.0f}s; wrote {}'.format(
        result['test_accuracy'], result['test_errors'], len(data['y_test']), result['validation_accuracy'],
        args.labels, wall, args.out))
    if average:
        print('averaged D (rate {}): test accuracy {:.2%}, validation {:.2%}'.format(
            args.eval_average, result['test_accuracy_averaged'], result['validation_accuracy_averaged']))
    if args.score:
        sc = result['sample_scores']
        print('samples: FID {:.3f} (classifier features), Inception-style score {:.2f}, {}/10 classes'.format(
            sc['fid'], sc['inception_score'], sc['classes_captured']))
    return result


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
