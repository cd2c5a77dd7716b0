#!/usr/bin/env python
"""MNIST metrics benchmark → results/mnist_metrics.md: the classifier's test accuracy, the metrics on real
data (what a perfect generator would score), on degenerate sample sets, and on generators of finished runs.

  python benchmarks/mnist_metrics_benchmark.py                       # real-data anchors only
  python benchmarks/mnist_metrics_benchmark.py --runs result/bench_mnist_ssl/*   # + those generators
"""
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import numpy  # noqa: E402

from benchmarks.common import add_grid_arguments, add_mnist_arguments, check_outputs, write_report  # noqa: E402
from ganlib import cli  # noqa: E402
from ganlib.classifier import DEFAULT_CLASSIFIER_CACHE, load_or_train  # noqa: E402
from ganlib.mnist import load_mnist, to_unit_range  # noqa: E402
from ganlib.scoring import mnist_scores  # noqa: E402
from ganlib.stacked_mnist import StackedMNIST, stacked_mnist_score  # noqa: E402


def row(name, s):
    return '| {} | {} | {:.3f} | {:.2f} ± {:.2f} | {} / 10 | {:.3f} |'.format(
        name, s['samples'], s['fid'], s['inception_score'], s['inception_score_std'], s['classes_captured'],
        s['class_kl'])


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='mnist_metrics_benchmark.py')
    add_mnist_arguments(p, cache=DEFAULT_CLASSIFIER_CACHE)
    p.add_argument('--classifier-epochs', type=cli.positive_int, default=10,
                   help='epochs if the classifier must be trained (default 10)')
    p.add_argument('--stacked-samples', type=cli.positive_int, default=26000,
                   help='real stacked-MNIST images scored as the anchor (default 26,000)')
    p.add_argument('--runs', nargs='*', default=[], help='train_mnist_ssl.py / train_anime.py run folders to score')
    p.add_argument('--seed', type=cli.nonnegative_int, default=0, help='seed of the sampled images (default 0)')
    add_grid_arguments(p, 'results/mnist_metrics.md')
    args = p.parse_args(argv)
    if not os.path.isdir(args.data_dir):
        p.error('--data-dir: no such directory: {}'.format(args.data_dir))
    for run in args.runs:
        if not os.path.isfile(os.path.join(run, 'args.json')):
            p.error('--runs: not a run folder (no args.json): {}'.format(run))
    check_outputs(p, args, runs=None, pictures=False)
    start = time.time()
    (x_train, y_train), (x_test, y_test) = load_mnist(args.data_dir)
    t0 = time.time()
    classifier, info = load_or_train(args.data_dir, args.classifier_cache, epochs=args.classifier_epochs,
                                     seed=args.seed)
    clf_time = time.time() - t0
    real_test = to_unit_range(x_test)
    rng = numpy.random.RandomState(args.seed)
    rows = [row('real training digits (all {})'.format(len(y_train)), mnist_scores(classifier, to_unit_range(x_train),
                                                                                   real_test))]
    ones = to_unit_range(x_test[y_test == 1])
    rows.append(row('collapsed: test digits of class 1 only', mnist_scores(classifier, ones, real_test)))
    half = to_unit_range(x_test[y_test < 5])
    rows.append(row('half the modes: test digits 0-4', mnist_scores(classifier, half, real_test)))
    noise = rng.uniform(-1, 1, (len(x_test), 784)).astype(numpy.float32)
    rows.append(row('uniform noise images', mnist_scores(classifier, noise, real_test)))
    stacked = StackedMNIST(x_test, y_test, n=args.stacked_samples, size=32, seed=args.seed)
    stacked_images = numpy.stack([stacked.get_example(i) for i in range(len(stacked))])
    real_stacked = stacked_mnist_score(classifier, stacked_images)
    collapsed_stacked = stacked_mnist_score(classifier, stacked_images[:100].repeat(max(1, len(stacked) // 100), axis=0))

    run_rows = []
    if args.runs:
        import evaluate
        for run in args.runs:
            res = evaluate.main([run, '--data-dir', args.data_dir, '--classifier-cache', args.classifier_cache,
                                 '--seed', str(args.seed), '-o', os.path.join(run, 'evaluation.json')])
            metrics = os.path.join(run, 'metrics.json')
            extra = ''
            if os.path.isfile(metrics):
                m = json.load(open(metrics))
                if 'test_accuracy' in m:
                    extra = ' (D test accuracy {:.1%}, {} iterations)'.format(m['test_accuracy'], m['iterations'])
            if res['kind'] == 'mnist':
                run_rows.append(row('`{}`{}'.format(os.path.relpath(run, ROOT), extra), res))
            elif res['kind'] == 'stacked-mnist':
                run_rows.append('| `{}` (stacked MNIST) | {} | modes {} / 1000, KL {:.3f} | | | |'.format(
                    os.path.relpath(run, ROOT), res['samples'], res['modes'], res['kl']))
    total = time.time() - start
    cmd = 'python benchmarks/mnist_metrics_benchmark.py ' + ' '.join(
        os.path.relpath(a, ROOT) if os.path.exists(a) else a for a in (argv if argv is not None else sys.argv[1:]))
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    text = REPORT.format(cmd=cmd.strip(), total=total, acc=info['test_accuracy'], n_train=info['train_digits'],
                         n_test=info['test_digits'], epochs=info['epochs'], cached='(loaded from the cache)'
                         if info['cached'] else '(trained in {:.0f} s)'.format(clf_time),
                         rows='\n'.join(rows + run_rows), n_stacked=args.stacked_samples,
                         rs=real_stacked, cs=collapsed_stacked)
    write_report(args.report, text)
    print('wrote', args.report)


REPORT = """# MNIST sample-quality metrics

Generated by `{cmd}` ({total:.0f} s on the 2-core CPU machine).

**Classifier** (`models/mnist_classifier.py`, LeNet-style CNN, Adam 1e-3, {epochs} epochs on the {n_train} shared
training digits shifted by up to ±2 pixels, seed 0) {cached}: **{acc:.2%}** test accuracy on the official {n_test}-digit test set.
Its 128-unit penultimate layer is the feature space of the FID below, its softmax the p(y|x) of the
Inception-style score.  These numbers are *not* comparable with Inception-network FID/IS in papers;
they compare runs of this repository with each other.

FID is against the {n_test} test digits; IS is over 10 splits (mean ± std); class KL = KL(histogram of
predicted classes ‖ uniform over 10).

| samples | n | FID | Inception-style score | classes | class KL |
|---|---|---|---|---|---|
{rows}

The first rows are anchors: real digits score the best FID/IS a generator can hope for here; a collapsed
set (one class) and a half set show how FID, IS and the class histogram react to missing modes.

**Stacked MNIST anchors** ({n_stacked} samples, three test digits per image, classifier per channel):
real stacked digits capture {rs[modes]} / 1000 modes with KL {rs[kl]:.3f}; 100 distinct real images repeated
capture {cs[modes]} modes, KL {cs[kl]:.3f}.  Published GANs (26,000 samples): DCGAN 99 modes,
unrolled GAN 48.7 (VEEGAN Table 2); PacGAN 1,000.
"""

if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
