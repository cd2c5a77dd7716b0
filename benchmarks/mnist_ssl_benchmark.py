#!/usr/bin/env python
"""Semi-supervised MNIST benchmark: models × label counts × (plain, unrolled) × seeds → results/mnist_ssl.md
(× unlabelled-digit counts with --max-unlabeled N …).

Needs the IDX files: --data-dir (default ../shared/data/mnist).  Finished runs are skipped; every run snapshots
each eighth of its epochs, and an interrupted one resumes from its last snapshot.  Also draws the
validation-accuracy curves (mean over seeds) of every row on one figure per label count.  With two or more
--max-unlabeled counts, the report also gives the trend of test accuracy against log2(count), bootstrapped over seeds.

  python benchmarks/mnist_ssl_benchmark.py --epochs 6 --labels 10 20 100 --seeds 0 1 2
  python benchmarks/mnist_ssl_benchmark.py --models paper --unroll 0 --epochs 10 --labels 20 100
  python benchmarks/mnist_ssl_benchmark.py --labels 20 --unroll 0 --max-unlabeled 2000 4000 9000   # the count study
  python benchmarks/mnist_ssl_benchmark.py --models paper --lr-schedule 0:1e-3,10:3e-4 --runs-dir result/ssl_paper_lr
"""
import itertools
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import numpy  # noqa: E402

from benchmarks.common import (add_grid_arguments, add_mnist_arguments,  # noqa: E402
                               check_outputs, display_command, mean_std, require_finished, resume_flags, run_jobs,
                               write_report)
from ganlib import cli  # noqa: E402


MODELS = ('post', 'paper')


def run_name(model, labels, k, seed):
    return '{}l{}_k{}_s{}'.format('' if model == 'post' else model + '_', labels, k, seed)


def runs_dir_for(args, max_unlabeled):
    """Where the runs of one unlabelled-digit count go: ``--runs-dir`` itself without --max-unlabeled."""
    return args.runs_dir if max_unlabeled is None else os.path.join(args.runs_dir, 'u{}'.format(max_unlabeled))


def command(model, labels, k, seed, args, out, max_unlabeled=None):
    return [sys.executable, os.path.join(ROOT, 'train_mnist_ssl.py'), '--data-dir', args.data_dir, '--model', model,
            '--labels', str(labels), '--unroll', str(k), '--seed', str(seed), '--epochs', str(args.epochs),
            '--iterations-per-epoch', str(args.iterations_per_epoch),
            '--snapshot-every', str(max(1, args.epochs // 8)),
            '--eval-every', str(args.eval_every), '--quiet', '--out', out] + resume_flags(out) + \
        (['--eval-average', str(args.eval_average)] if args.eval_average else []) + (['--score'] if args.score else []) + \
        (['--lr-schedule', args.lr_schedule] if args.lr_schedule else []) + \
        (['--max-unlabeled', str(max_unlabeled)] if max_unlabeled else []) + \
        (['--classifier-cache', args.classifier_cache] if args.score and args.classifier_cache else [])


def unlabelled_trend(per_seed, at=50000, resamples=20000, rng_seed=0):
    """Test accuracy against log2(unlabelled digits): one common slope, one intercept per seed (within-seed least
    squares), and that line read at ``at`` digits (the mean over seeds of each seed's line there).

    per_seed: {seed: [(unlabelled digits, accuracy %), ...]}; seeds with fewer than two counts are left out.
    Returns None when no seed has two counts, else a dict: slope (points per doubling), at_value, per-seed slopes,
    seeds, and 90 % percentile intervals of slope and at_value from a bootstrap over seeds (every resample with
    replacement when there are at most ``resamples`` of them, else ``resamples`` seeded random ones; None for one seed).
    """
    pts = {s: numpy.array([(numpy.log2(n), a) for n, a in v], dtype=numpy.float64)
           for s, v in sorted(per_seed.items()) if len({n for n, _ in v}) >= 2}
    if not pts:
        return None
    seeds = sorted(pts)

    def fit(sel):
        xc = numpy.concatenate([pts[s][:, 0] - pts[s][:, 0].mean() for s in sel])
        yc = numpy.concatenate([pts[s][:, 1] - pts[s][:, 1].mean() for s in sel])
        b = float(xc @ yc / (xc @ xc))
        return b, float(numpy.mean([pts[s][:, 1].mean() + b * (numpy.log2(at) - pts[s][:, 0].mean()) for s in sel]))

    slope, at_value = fit(seeds)
    out = {'slope': slope, 'at': at, 'at_value': at_value, 'seeds': seeds,
           'seed_slopes': {s: fit([s])[0] for s in seeds}, 'slope_90': None, 'at_value_90': None, 'resamples': 0}
    if len(seeds) > 1:
        if len(seeds) ** len(seeds) <= resamples:
            sels = itertools.product(seeds, repeat=len(seeds))
        else:
            rng = numpy.random.RandomState(rng_seed)
            sels = (rng.choice(seeds, len(seeds)) for _ in range(resamples))
        boot = numpy.array([fit(list(sel)) for sel in sels])
        lo, hi = numpy.percentile(boot, [5, 95], axis=0)
        out.update(slope_90=(float(lo[0]), float(hi[0])), at_value_90=(float(lo[1]), float(hi[1])),
                   resamples=len(boot))
    return out


def trend_line(name, t):
    """One report line for unlabelled_trend's result."""
    text = '- **{}**: {:+.2f} test points per doubling of the unlabelled digits'.format(name, t['slope'])
    if t['slope_90']:
        text += ' (90 % over {} bootstrap resamples of the {} seeds: {:+.2f} to {:+.2f})'.format(
            t['resamples'], len(t['seeds']), *t['slope_90'])
    text += '; per seed: {}'.format(', '.join('s{} {:+.2f}'.format(s, b) for s, b in t['seed_slopes'].items()))
    text += '. The line read at {:,} unlabelled digits: {:.1f} %'.format(t['at'], t['at_value'])
    if t['at_value_90']:
        text += ' (90 %: {:.1f}–{:.1f})'.format(*t['at_value_90'])
    return text + ', an extrapolation, not a measurement.'


def validation_drops(run):
    """Sum of the falls of the run's validation accuracy from one evaluation to the next, in points: 0 for a curve
    that never falls.  The unrolled post's "smoother curve" (K = 5 against K = 1) as a number."""
    acc = [100 * e['validation/accuracy'] for e in json.load(open(os.path.join(run, 'log')))
           if 'validation/accuracy' in e]
    return float(sum(max(0.0, a - b) for a, b in zip(acc, acc[1:])))


def _checked_schedule(text):
    cli.lr_schedule(text)  # refused here in one line rather than by every run
    return text


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='mnist_ssl_benchmark.py')
    p.add_argument('--models', nargs='+', choices=MODELS, default=['post'],
                   help="post: the posts' networks; paper: the Improved-GAN code's (train_mnist_ssl.py --model)")
    p.add_argument('--labels', nargs='+', type=cli.positive_int, default=[10, 20, 100],
                   help='labelled-digit counts, each a multiple of 10 (default 10 20 100)')
    p.add_argument('--unroll', nargs='+', type=cli.nonnegative_int, default=[0, 5],
                   help='K values (0: plain)')
    p.add_argument('--unroll-labels', nargs='+', type=cli.positive_int, default=None,
                   help='label counts that also get the unrolled runs (default: all)')
    p.add_argument('--unroll-seeds', nargs='+', type=cli.nonnegative_int, default=None,
                   help='seeds of the unrolled runs (default: all)')
    p.add_argument('--epochs', type=cli.positive_int, default=6, help='epochs per run (default 6)')
    p.add_argument('--iterations-per-epoch', type=cli.positive_int, default=500,
                   help='updates per epoch (default 500)')
    p.add_argument('--eval-every', type=cli.positive_int, default=500, help='validation accuracy every N iterations')
    p.add_argument('--eval-average', type=cli.positive_float, default=None, metavar='RATE',
                   help="also evaluate Polyak-averaged D parameters (train_mnist_ssl.py --eval-average)")
    p.add_argument('--lr-schedule', default=None, type=_checked_schedule, metavar='EPOCH:LR,...',
                   help="every run's learning-rate schedule (train_mnist_ssl.py --lr-schedule; default: each "
                        "model's own); give such runs their own --runs-dir")
    p.add_argument('--max-unlabeled', nargs='+', type=cli.positive_int, default=None,
                   help='runs that use only this many unlabelled digits (train_mnist_ssl.py --max-unlabeled), one '
                        'grid axis: each count gets RUNS_DIR/uN and its own rows and curves (default: all of them)')
    p.add_argument('--no-run', action='store_true',
                   help='train nothing: tabulate the finished runs of this grid that are already in --runs-dir')
    p.add_argument('--score', action='store_true',
                   help="also score each run's samples (MNIST-classifier FID and Inception-style score)")
    add_mnist_arguments(p)
    add_grid_arguments(p, 'results/mnist_ssl.md', 'result/bench_mnist_ssl', seeds=[0, 1, 2], jobs=True)
    args = p.parse_args(argv)
    args.data_dir = os.path.abspath(args.data_dir)
    if not os.path.isdir(args.data_dir):
        p.error('--data-dir: no such directory: {}'.format(args.data_dir))
    check_outputs(p, args, pictures=False)

    counts = args.max_unlabeled or [None]
    jobs = []
    for n_unl in counts:
        for model in args.models:
            for k in args.unroll:
                for labels in args.labels:
                    if k >= 2 and args.unroll_labels and labels not in args.unroll_labels:
                        continue
                    for seed in args.seeds:
                        if k >= 2 and args.unroll_seeds is not None and seed not in args.unroll_seeds:
                            continue
                        name = run_name(model, labels, k, seed)
                        out = os.path.join(runs_dir_for(args, n_unl), name)
                        jobs.append((name if n_unl is None else 'u{}/{}'.format(n_unl, name),
                                     command(model, labels, k, seed, args, out, n_unl), out))
    jobs.sort(key=lambda j: -int(j[0].split('_k')[1].split('_')[0]))  # unrolled (slowest) first (a stable sort)
    done_before = sum(os.path.isfile(os.path.join(out, 'metrics.json')) for _, _, out in jobs)
    total = 0.0 if args.no_run else run_jobs(jobs, args.jobs)

    rows, raw, curves, run_walls, by_seed = [], {}, {}, [], {}
    for n_unl, model, k, labels in ((u, m, k, n) for u in counts for m in args.models for k in args.unroll
                                    for n in args.labels):
        ms, runs, seeds = [], [], []
        for seed in args.seeds:
            run = os.path.join(runs_dir_for(args, n_unl), run_name(model, labels, k, seed))
            if os.path.isfile(os.path.join(run, 'metrics.json')):
                ms.append(json.load(open(os.path.join(run, 'metrics.json'))))
                runs.append(run)
                seeds.append(seed)
        if not ms:
            continue
        for seed, m in zip(seeds, ms):
            by_seed.setdefault((model, labels, k), {}).setdefault(seed, []).append(
                (m['split']['unlabeled'], 100 * m['test_accuracy']))
        method = 'plain' if k < 2 else 'unrolled K={}'.format(k)
        unlabeled = sorted({m['split']['unlabeled'] for m in ms})
        curves.setdefault(labels, []).append(('{} {}{}'.format(
            model, method, '' if n_unl is None else ', {} unlabelled'.format(unlabeled[0])), runs))
        drops = [validation_drops(run) for run in runs]
        keys = ('test_accuracy', 'test_errors', 'validation_accuracy', 'wall_time_s', 'iterations',
                'test_accuracy_averaged', 'split')
        raw['{}/l{}/k{}{}'.format(model, labels, k, '' if n_unl is None else '/u{}'.format(n_unl))] = [
            dict({key: m[key] for key in keys if key in m}, seed=seed, validation_drops=d)
            for seed, m, d in zip(seeds, ms, drops)]
        averaged = [100 * m['test_accuracy_averaged'] for m in ms if 'test_accuracy_averaged' in m]
        run_walls += [m['wall_time_s'] for m in ms]
        scored = [m['sample_scores'] for m in ms if 'sample_scores' in m]
        sample_cols = '{} | {}'.format(mean_std([sc['fid'] for sc in scored], '{:.1f}'),
                                       mean_std([sc['inception_score'] for sc in scored], '{:.2f}')) \
            if scored else '– | –'
        rows.append(('| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | ' + sample_cols + ' | {:.0f} | {} |').format(
            labels, '/'.join(map(str, unlabeled)), model, method,
            mean_std([100 * m['test_accuracy'] for m in ms], '{:.2f}'),
            mean_std(averaged, '{:.2f}') if averaged else '–',
            mean_std([m['test_errors'] for m in ms], '{:.0f}'),
            mean_std([100 * m['validation_accuracy'] for m in ms], '{:.2f}'), mean_std(drops, '{:.1f}'),
            ', '.join('{:.2f}'.format(100 * m['test_accuracy']) for m in ms),
            numpy.mean([m['wall_time_s'] for m in ms]), len(ms)))
    require_finished(rows, args.runs_dir)
    trends = []
    if len(counts) > 1:
        for (model, labels, k), per_seed in by_seed.items():
            t = unlabelled_trend(per_seed)
            if t:
                trends.append(trend_line('{}, {} labels, {}'.format(
                    model, labels, 'plain' if k < 2 else 'unrolled K={}'.format(k)), t))
    out_dir = os.path.dirname(os.path.abspath(args.report))
    stem = os.path.splitext(os.path.basename(args.report))[0]
    cli.save_json(os.path.join(out_dir, stem + '_runs.json'), raw)
    figure = plot_curves(curves, os.path.join(out_dir, stem + '_curves.png'))
    split = None
    for _, cmd, out in jobs:
        path = os.path.join(out, 'metrics.json')
        if os.path.isfile(path):
            split = json.load(open(path))['split']
            break
    model = args.models[-1]
    labels = args.labels[-1]
    example = display_command(command(model, labels, 0, 0, args, os.path.join(
        runs_dir_for(args, counts[-1]), run_name(model, labels, 0, 0)), counts[-1])).replace(
        args.data_dir, '../shared/data/mnist')
    if args.no_run:
        timing = '--no-run: tabulated the {} finished runs of a grid of {}'.format(done_before, len(jobs))
    else:
        timing = 'this invocation {:.1f} min, {} of its {} runs reused from an earlier one'.format(
            total / 60, done_before, len(jobs))
    timing += "; the runs' own wall times sum to {:.1f} min{}".format(
        sum(run_walls) / 60, '' if args.no_run else ', {} at a time'.format(args.jobs))
    write_report(args.report, REPORT.format(
        argv=' '.join(argv if argv is not None else sys.argv[1:]), timing=timing,
        rows='\n'.join(rows), example=example,
        schedule='' if not args.lr_schedule else '\nEvery run here overrides its model\'s learning rate with '
        '`--lr-schedule {}` (epoch:Adam α).'.format(args.lr_schedule), epochs=args.epochs, ipe=args.iterations_per_epoch,
        iters=args.epochs * args.iterations_per_epoch, eval_every=args.eval_every,
        figure='![validation accuracy]({})'.format(os.path.basename(figure)) if figure else '',
        trend='' if not trends else TREND.format(lines='\n'.join(trends)),
        split='{} validation digits, the other training digits labelled or unlabelled{}'.format(
            split['validation'], ' — or, with --max-unlabeled N, only the first N of the unlabelled ones'
            if args.max_unlabeled else '') if split else 'none'))
    print('wrote', args.report)


def plot_curves(curves, path):
    """One panel per label count: validation accuracy against iterations, one thick line per row (the mean over its
    seeds) and a thin one per seed in the same colour."""
    if not curves:
        return None
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.6), squeeze=False)
    for ax, labels in zip(axes[0], sorted(curves)):
        for i, (name, runs) in enumerate(curves[labels]):
            logs = [[(e['iteration'], e['validation/accuracy']) for e in json.load(open(os.path.join(r, 'log')))
                     if 'validation/accuracy' in e] for r in runs]
            n = min(len(log) for log in logs)
            xs = [x for x, _ in logs[0][:n]]
            ys = numpy.mean([[y for _, y in log[:n]] for log in logs], axis=0)
            color = 'C{}'.format(i % 10)
            if len(runs) > 1:
                for log in logs:
                    ax.plot([x for x, _ in log], [100 * y for _, y in log], color=color, lw=0.7, alpha=0.35)
            ax.plot(xs, 100 * ys, color=color, lw=1.8,
                    label='{} ({} seed{})'.format(name, len(runs), 's' if len(runs) > 1 else ''))
        ax.set_title('{} labels'.format(labels))
        ax.set_xlabel('iteration')
        ax.set_ylabel('validation accuracy %')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if any(len(runs) > 1 for rows in curves.values() for _, runs in rows):
        fig.suptitle('validation accuracy during training: thick, the mean over seeds; thin, each seed', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches='tight')
    plt.close(fig)
    return path


REPORT = """# Semi-supervised MNIST

Generated by `python benchmarks/mnist_ssl_benchmark.py {argv}` on this repository's 2-core CPU machine, one BLAS
thread per run ({timing}).

Data: `../shared/data/mnist` — 10,000 real MNIST training digits (not the full 60,000) and the official
10,000-digit test set.  Split per seed ({split}): the validation digits are held out of training, the labelled
digits are the first n/10 of each class after a seeded shuffle, the rest are unlabelled.
Models (`--model`): **post** — the Improved-GAN post's Chainer networks (D 784 → 1000 → 500 → 250 → 10 with
Gaussian noise, softplus; G 50 → 500 → 500 → 784 with batch norm; Adam β1 0.5, lr 1e-3 for the first 10 epochs);
**paper** — the Improved-GAN paper's own code (weight-normalised ReLU D 784 → 1000 → 500 → 250 → 250 → 250 → 10 with
data-dependent initialisation and the same noise, G 100 → 500 → 500 → 784 with batch norm and softplus, Adam β1 0.5,
lr 3e-3, unsupervised D loss halved).  Both: generator trained by feature matching of batch means.{schedule}
{iters} iterations ({epochs} epochs × {ipe}) of batches of 100; test accuracy of the discriminator's argmax
(and, where the runs had `--eval-average`, of a Polyak average of D's parameters, as the paper's code tested).
Sample FID / IS (with `--score`): 10,000 generator samples in the feature space of the repository's MNIST
classifier (`results/mnist_metrics.md` has the scores of real digits for comparison) — lower FID,
higher IS is better; they measure the *generator*, which feature matching does not optimise for looks.
Validation falls: the validation accuracy's decreases from one evaluation (every {eval_every} iterations) to the
next, summed over the run (0: a curve that never falls; the unrolled post's "smoother curve" as a number).

One run, for example: `{example}`

| labels | unlabelled digits | model | method | test accuracy % | averaged D test % | test errors / 10,000 | validation % | validation falls, points | per seed | sample FID | sample IS | wall s / run | seeds |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
{rows}

{figure}
{trend}
"""

TREND = """
Trend over the unlabelled-digit counts (`unlabelled_trend` in this script): test accuracy against log2 of the
count, least squares with one common slope and one intercept per seed; the bootstrap resamples whole seeds.
{lines}
"""

if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
