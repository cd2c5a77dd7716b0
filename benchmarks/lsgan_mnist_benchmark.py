#!/usr/bin/env python
"""The posts' image experiments on MNIST 32 × 32, variants × seeds → a report with the classifier's FID, IS and
classes per epoch, an FID-curve figure and the last sample grid of each variant's first seed.

The LSGAN post's MNIST run: its generator without batch norm ("never trained"), the fix with batch norm, and the
standard GAN, WGAN-GP and WGAN with clipping on the same networks.  The face grids of the Improved-GAN post (DCGAN,
+ feature matching, + minibatch discrimination, + both) and of the LSGAN post (LSGAN against WGAN), drawn on MNIST
until face data exists.  Every run is ``train_anime.py --dataset mnist --size 32`` with the variant's preset and
flags; finished runs (their metrics.json exists) are reused, an interrupted run continues from its last snapshot, and
a run whose folder is gone keeps the record the report's earlier ``_runs.json`` holds of it (same seed and number of
epochs), so re-tabulating loses nothing.  ``--continue-from`` trains the runs of a shorter report further: each run
starts from the last snapshot of its namesake there and goes on, in ``--runs-dir``, to the new ``--epochs``.
``--checkpoints`` scores each run's saved generators at those iterations with more samples (``evaluate.py``,
``evaluation_iter_N.json`` in the run folder) and adds a table of them: one FID of 1,000 samples per epoch swings by
several points, one of 10,000 is steady enough to compare variants at a given length.

  python benchmarks/lsgan_mnist_benchmark.py --data-dir MNIST_DIR --seeds 0 1 2
  python benchmarks/lsgan_mnist_benchmark.py --data-dir MNIST_DIR --seeds 0 1 2 --no-run   # tabulate only
  python benchmarks/lsgan_mnist_benchmark.py --data-dir MNIST_DIR --variants lsgan-nobn lsgan-bn --seeds 0 1 \
      --batch-size 128 --epochs 20 --full-epochs --runs-dir result/lsgan_full --report results/lsgan_mnist_full.md
      # the preset's own length: 20 passes over the digits at batch 128
  python benchmarks/lsgan_mnist_benchmark.py --data-dir MNIST_DIR --variants improved-dcgan improved-fm \
      improved-md improved-fm-md --seeds 0 1 2 --report results/improved_gan_mnist.md
  python benchmarks/lsgan_mnist_benchmark.py --data-dir MNIST_DIR --variants improved-dcgan improved-md --seeds 0 1 \
      --epochs 140 --continue-from result/bench_improved_10k --runs-dir result/bench_improved_14k \
      --checkpoints 12000 14000 --report results/improved_gan_mnist_14k_avx2.md
      # the 100-epoch runs there, continued to 140 epochs; 10,000-sample FIDs at 12,000 and 14,000
"""
import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import numpy  # noqa: E402

from benchmarks.common import (add_grid_arguments, add_mnist_arguments, check_outputs, display_command,  # noqa: E402
                               earlier_runs, kept_picture, last_grid_picture, mean_std,
                               require_finished, resume_flags, run_jobs, save_fid_axes, write_report)
from ganlib import cli  # noqa: E402

LSGAN, IMPROVED = 'lsgan-mnist-post', 'improved-gan-post'
# variant: (label, train_anime.py preset, flags added to it)
VARIANTS = {
    'lsgan-nobn': ('LSGAN, G without batch norm (the post)', LSGAN, ['--g-norm', 'none']),
    'lsgan-bn': ('LSGAN, G with batch norm (the fix)', LSGAN, ['--g-norm', 'batch']),
    'gan-bn': ('standard GAN, G with batch norm', LSGAN, ['--g-norm', 'batch', '--loss', 'gan']),
    'wgan-gp-bn': ('WGAN-GP (λ 10, 5 critic steps), G with batch norm', LSGAN,
                   ['--g-norm', 'batch', '--loss', 'wgan', '--gradient-penalty', '10', '--n-critic', '5']),
    # the LSGAN post's WGAN comparison: RMSprop 1e-4, clip 0.01 (critic steps not given: the WGAN paper's 5)
    'wgan-clip-bn': ('WGAN (clip 0.01, RMSprop 1e-4, 5 critic steps), G with batch norm', LSGAN,
                     ['--g-norm', 'batch', '--loss', 'wgan', '--weight-clip', '0.01', '--optimizer', 'rmsprop',
                      '--lr', '1e-4', '--n-critic', '5']),
    # the Improved-GAN post's four face grids
    'improved-dcgan': ('Improved-GAN post: DCGAN', IMPROVED, []),
    'improved-fm': ('Improved-GAN post: + feature matching', IMPROVED, ['--feature-matching']),
    'improved-md': ('Improved-GAN post: + minibatch discrimination', IMPROVED, ['--minibatch-discrimination']),
    'improved-fm-md': ('Improved-GAN post: + both', IMPROVED, ['--feature-matching', '--minibatch-discrimination']),
    # + both, G also matching the minibatch features' batch means (not in the post: the test of why + both is slow)
    'improved-fm-md-o': ('Improved-GAN post: + both, feature matching over the minibatch features too', IMPROVED,
                         ['--feature-matching', '--minibatch-discrimination', '--fm-layer', 'md']),
}
PRESET_TEXT = {
    LSGAN: "the LSGAN post's face networks (D LeakyReLU, Normal(0.01) init, LSGAN a, b, c = 0, 1, 1)",
    IMPROVED: "the Improved-GAN post's face networks (D with Gaussian input noise σ 0.3 and ELU, Normal(0.001) "
              "init, standard GAN loss; minibatch discrimination B 50, C 5)",
}

LAST = 5  # epochs averaged in the report's steadier FID column


def train_command(variant, seed, args, out):
    cmd = [sys.executable, os.path.join(ROOT, 'train_anime.py'), '--dataset', 'mnist', '--data-dir', args.data_dir,
           '--size', '32', '--preset', VARIANTS[variant][1], '--g-ch', str(args.g_ch), '--d-ch', str(args.d_ch),
           '--batch-size', str(args.batch_size), '--epochs', str(args.epochs)] + \
        ([] if args.full_epochs else ['--iterations-per-epoch', str(args.iterations_per_epoch)]) + \
        ['--score-samples', str(args.score_samples),
         '--log-every', str(10 if args.full_epochs else math.gcd(10, args.iterations_per_epoch)),
         '--seed', str(seed), '--device', args.device, '--quiet', '--snapshot-every', str(args.snapshot_every),
         '--out', out] + VARIANTS[variant][2] + \
        resume_flags(out, args.continue_from and os.path.join(args.continue_from, os.path.basename(out)))
    if args.classifier_cache:
        cmd += ['--classifier-cache', args.classifier_cache]
    return cmd


def generator_file(out, iteration, earlier=None):
    """The generator the run in ``out`` saved at ``iteration`` (``gen_iter_N.npz``), or that its shorter namesake
    ``earlier`` saved before the run continued it; None if neither holds one."""
    for folder in (out, earlier):
        path = os.path.join(folder, 'gen_iter_{}.npz'.format(iteration)) if folder else None
        if path and os.path.isfile(path):
            return path
    return None


def checkpoint_file(out, iteration):
    return os.path.join(out, 'evaluation_iter_{}.json'.format(iteration))


def checkpoint_jobs(name, out, args):
    """``run_jobs`` jobs scoring the run's saved generators at ``--checkpoints`` with ``--checkpoint-samples``
    samples (latents of seed 0) → ``evaluation_iter_N.json`` in ``out``; a score already written is kept, a
    generator that was not saved is named and skipped."""
    earlier = args.continue_from and os.path.join(args.continue_from, os.path.basename(out))
    jobs = []
    for k in args.checkpoints:
        generator = generator_file(out, k, earlier)
        if generator is None:
            print('{}: no gen_iter_{}.npz to score (not saved at that iteration)'.format(name, k))
            continue
        cmd = [sys.executable, os.path.join(ROOT, 'evaluate.py'), out, '--snapshot', generator,
               '--samples', str(args.checkpoint_samples), '--seed', '0', '--device', args.device,
               '-o', checkpoint_file(out, k)] + (['--classifier-cache', args.classifier_cache]
                                                 if args.classifier_cache else [])
        jobs.append(('{} at {}'.format(name, k), cmd, out, checkpoint_file(out, k)))
    return jobs


def read_checkpoints(out):
    """{iteration: {fid, inception_score, classes, samples}} of the run's ``evaluation_iter_N.json`` scores."""
    import glob
    scores = {}
    for path in glob.glob(os.path.join(out, 'evaluation_iter_*.json')):
        e = json.load(open(path))
        scores[int(path.rsplit('_', 1)[1][:-len('.json')])] = dict(
            fid=e['fid'], inception_score=e['inception_score'], classes=e['classes_captured'], samples=e['samples'])
    return dict(sorted(scores.items()))


def checkpoint_table(runs, checkpoints, samples):
    """The report's table of the saved generators' scores: one row per checkpoint, per variant the FID's mean ± sd
    over the seeds that have it, then each seed's value ('–': not scored with ``samples`` samples); '' when nothing
    was."""
    def cell(results, k):
        scores = [r.get('checkpoints', {}).get(str(k), {}) for r in results]
        values = [e['fid'] if e.get('samples') == samples else None for e in scores]
        if all(v is None for v in values):
            return None
        return '{} ({})'.format(mean_std([v for v in values if v is not None], '{:.1f}'),
                                ' / '.join('–' if v is None else '{:.1f}'.format(v) for v in values))
    cells = [[cell(results, k) for results in runs.values()] for k in checkpoints]
    if not any(c for row in cells for c in row):
        return ''
    seeds = max((tuple(r['seed'] for r in results) for results in runs.values()), key=len)
    return CHECKPOINTS.format(
        samples=samples, seeds=' / '.join(map(str, seeds)), head=' | '.join(VARIANTS[v][0] for v in runs),
        rule='|'.join(['---'] * (len(runs) + 1)),
        rows='\n'.join('| {:,} | {} |'.format(k, ' | '.join(c or '–' for c in row)) for k, row in zip(checkpoints, cells)))


def read_run(out):
    """Per-epoch scores and the run's metrics of a finished run folder, or None.  A run resumed from a snapshot
    counts the training time before the snapshot too."""
    if not os.path.isfile(os.path.join(out, 'metrics.json')):
        return None
    log = json.load(open(os.path.join(out, 'log')))
    scored = [e for e in log if 'eval/fid' in e]
    metrics = json.load(open(os.path.join(out, 'metrics.json')))
    wall = metrics['wall_time_s']
    if metrics.get('resumed_from') and log:  # the trainer's clock goes on from the snapshot's: every segment's time
        wall = log[-1]['elapsed_time']
    per_epoch = json.load(open(os.path.join(out, 'args.json')))['iterations_per_epoch'] or \
        metrics['iterations'] // metrics['epochs']  # full epochs: one pass over the images each
    return dict(epochs=[e['epoch'] for e in scored], at_iteration=[e['epoch'] * per_epoch for e in scored], fid=[e['eval/fid'] for e in scored],
                inception_score=[e['eval/inception_score'] for e in scored],
                classes=[e['eval/classes_captured'] for e in scored], wall_time_s=wall,
                iterations=metrics['iterations'], checkpoints={str(k): v for k, v in read_checkpoints(out).items()})


def checkpoint_points(result, samples):
    """(iterations, FIDs) of a run's checkpoint scores of ``samples`` samples, in iteration order."""
    points = sorted((int(k), e['fid']) for k, e in result.get('checkpoints', {}).items() if e.get('samples') == samples)
    return [k for k, _ in points], [f for _, f in points]


def fid_figure(runs, path, samples=None, per_epoch=1000):
    """One line per run of its FID after every epoch (``per_epoch`` samples); with ``samples``, a dot per
    checkpoint scored with that many samples, in the run's colour."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4))
    dots = False
    for i, (variant, results) in enumerate(runs.items()):
        color = 'C{}'.format(i)
        for j, r in enumerate(results):
            ax.plot(r['at_iteration'], r['fid'], color=color, alpha=0.8, lw=1.2,
                    label='{} ({} seed{})'.format(VARIANTS[variant][0], len(results), 's' if len(results) > 1 else '')
                    if j == 0 else None)
        for r in results:
            x, y = checkpoint_points(r, samples)
            ax.plot(x, y, 'o', color=color, mec='black', mew=0.6, ms=4.5, zorder=3)
            dots = dots or bool(x)
    if dots:  # one legend entry for the dots of every colour
        ax.plot([], [], 'o', color='white', mec='black', mew=0.6, ms=4.5,
                label="saved generators at the checkpoints, {:,} samples (the variant's colour)".format(samples))
    save_fid_axes(fig, ax, path, 'generator iterations', 'MNIST 32 × 32: FID after every epoch ({:,} samples), '
                  'one line per seed{}'.format(per_epoch, '\nand at the checkpoints ({:,} samples, dots)'.format(
                      samples) if dots else ''))


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='lsgan_mnist_benchmark.py')
    add_mnist_arguments(p)
    p.add_argument('--variants', nargs='+', choices=list(VARIANTS), default=['lsgan-nobn', 'lsgan-bn', 'gan-bn'],
                   help='variants (default lsgan-nobn lsgan-bn gan-bn): ' + ', '.join(VARIANTS))
    p.add_argument('--epochs', type=cli.positive_int, default=10, help='epochs per run (default 10)')
    p.add_argument('--iterations-per-epoch', type=cli.positive_int, default=100,
                   help='generator updates per epoch (default 100)')
    p.add_argument('--full-epochs', action='store_true',
                   help='epochs of one pass over the digits (images // batch size), as the preset, instead of '
                        '--iterations-per-epoch')
    p.add_argument('--g-ch', type=cli.positive_int, default=256, help="G's first feature maps (the preset: 256)")
    p.add_argument('--d-ch', type=cli.positive_int, default=32, help="D's first feature maps (the preset: 32)")
    p.add_argument('--batch-size', type=cli.positive_int, default=64, help='(the preset: 128)')
    p.add_argument('--score-samples', type=cli.positive_int, default=1000,
                   help='samples scored by the MNIST classifier after every epoch (default 1,000)')
    p.add_argument('--device', default='cpu', help='cpu or @cupy:N')
    p.add_argument('--snapshot-every', type=cli.positive_int, default=1,
                   help='trainer snapshots every N epochs and at the end (default 1); an interrupted run continues '
                        'from its last one')
    p.add_argument('--continue-from', default=None, metavar='RUNS_DIR',
                   help='runs folder of the same runs at fewer epochs: each run not yet in --runs-dir starts from '
                        'the last snapshot of its namesake there and is trained on to --epochs in --runs-dir (that '
                        'folder is only read)')
    p.add_argument('--checkpoints', nargs='+', type=cli.positive_int, default=[], metavar='N',
                   help="generator iterations at which each run's saved generator (gen_iter_N.npz, saved with the "
                        'snapshots) is scored again with --checkpoint-samples samples, in a table of its own')
    p.add_argument('--checkpoint-samples', type=cli.positive_int, default=10000,
                   help='samples per checkpoint score (default 10,000)')
    p.add_argument('--no-run', action='store_true', help='only tabulate the finished runs (and their checkpoint '
                                                         'scores already written)')
    add_grid_arguments(p, 'results/lsgan_mnist_seeds.md', 'result/bench_lsgan_mnist', seeds=[0], jobs=True)
    args = p.parse_args(argv)
    args.data_dir = os.path.abspath(args.data_dir)
    if not args.no_run and not os.path.isdir(args.data_dir):
        p.error('--data-dir: no such directory: {}'.format(args.data_dir))
    if args.continue_from is not None:
        if not os.path.isdir(args.continue_from):
            p.error('--continue-from: no such directory: {}'.format(args.continue_from))
        if os.path.abspath(args.continue_from) == os.path.abspath(args.runs_dir):
            p.error('--continue-from must be another folder than --runs-dir (its runs are only read)')
    longest = None if args.full_epochs else args.epochs * args.iterations_per_epoch
    if longest and any(k > longest for k in args.checkpoints):
        p.error('--checkpoints: {} is past the runs\' end ({} epochs × {} iterations = {})'.format(
            max(args.checkpoints), args.epochs, args.iterations_per_epoch, longest))
    check_outputs(p, args)
    jobs = [('{}_s{}'.format(v, s), train_command(v, s, args, os.path.join(args.runs_dir, '{}_s{}'.format(v, s))),
             os.path.join(args.runs_dir, '{}_s{}'.format(v, s))) for s in args.seeds for v in args.variants]
    total = None if args.no_run else run_jobs(jobs, args.jobs)
    if args.checkpoints and not args.no_run:
        total += run_jobs([job for name, _, out in jobs if os.path.isfile(os.path.join(out, 'metrics.json'))
                           for job in checkpoint_jobs(name, out, args)], args.jobs)

    runs, rows, pictures, kept = {}, [], [], []
    stem = os.path.splitext(os.path.basename(args.report))[0]
    out_dir = os.path.dirname(os.path.abspath(args.report))
    earlier = earlier_runs(args.report)
    for v in args.variants:
        results = []
        for s in args.seeds:
            r = read_run(os.path.join(args.runs_dir, '{}_s{}'.format(v, s)))
            if r is None:  # its folder is gone: keep the earlier report's record of it, if of this length
                r = next((e for e in earlier.get(v, []) if e['seed'] == s and e['epochs'][-1:] == [args.epochs]),
                         None)
                kept += ['{}_s{}'.format(v, s)] if r else []
            if r and r['fid']:
                results.append(dict(r, seed=s))
        if not results:
            continue
        runs[v] = results
        first = results[0]
        rows.append('| {} | {} | {} | {} | {} | {} | {} | {} | {:.0f} | {} |'.format(
            VARIANTS[v][0], '/'.join(sorted({str(r['iterations']) for r in results})),
            mean_std([r['fid'][0] for r in results], '{:.0f}'),
            mean_std([r['fid'][-1] for r in results], '{:.0f}'),
            mean_std([numpy.mean(r['fid'][-LAST:]) for r in results], '{:.0f}'),
            mean_std([r['inception_score'][-1] for r in results], '{:.2f}'),
            mean_std([r['classes'][-1] for r in results], '{:.1f}'),
            ', '.join('{:.0f}'.format(r['fid'][-1]) for r in results),
            numpy.mean([r['wall_time_s'] for r in results]), len(results)))
        name = '{}_s{}'.format(v, first['seed'])
        caption = '{}, seed {}'.format(VARIANTS[v][0], first['seed'])
        picture = last_grid_picture(os.path.join(args.runs_dir, name), args.report, name, caption) or \
            kept_picture(args.report, name, caption)
        if picture:
            pictures.append(picture)
    require_finished(runs, args.runs_dir)
    figure = os.path.join(out_dir, stem + '_fid.png')
    fid_figure(runs, figure, args.checkpoint_samples, args.score_samples)
    cli.save_json(os.path.join(out_dir, stem + '_runs.json'), runs)
    runs_dir = os.path.relpath(args.runs_dir, ROOT) if os.path.abspath(args.runs_dir).startswith(ROOT) else 'RUNS'
    example = display_command(train_command(args.variants[0], args.seeds[0], args, os.path.join(
        runs_dir, '{}_s{}'.format(args.variants[0], args.seeds[0])))).replace(args.data_dir, 'MNIST_DIR')
    header = ('total wall time {:.1f} min on this repository\'s 2-core CPU machine, {} at a time, one BLAS thread '
              'each'.format(total / 60, args.jobs) if total is not None else 'tabulating finished runs only') + \
        "; the runs' own wall times sum to {:.1f} min".format(
            sum(r['wall_time_s'] for results in runs.values() for r in results) / 60) + \
        ('; {} kept from the earlier `{}_runs.json`, their run folders being gone'.format(', '.join(kept), stem)
         if kept else '')
    its, per_epoch = args.epochs * args.iterations_per_epoch, args.iterations_per_epoch
    if args.full_epochs:
        its = max(r['iterations'] for results in runs.values() for r in results)
        per_epoch = '{} (one pass over the digits)'.format(its // args.epochs)
    write_report(args.report, REPORT.format(
        argv=' '.join(argv if argv is not None else sys.argv[1:]).replace(args.data_dir, 'MNIST_DIR'),
        header=header, rows='\n'.join(rows), checkpoints=checkpoint_table(runs, args.checkpoints, args.checkpoint_samples),
        example=example, figure=os.path.basename(figure),
        pictures=' '.join(pictures), its=its, epochs=args.epochs, per_epoch=per_epoch, g_ch=args.g_ch, d_ch=args.d_ch, batch=args.batch_size,
        samples=args.score_samples, last=LAST,
        presets='\n'.join('- `--preset {}`: {}'.format(k, t) for k, t in PRESET_TEXT.items()
                          if any(VARIANTS[v][1] == k for v in runs)),
        variants='\n'.join('- {}: `{}`'.format(VARIANTS[v][0], ' '.join(['--preset', VARIANTS[v][1]] + VARIANTS[v][2]))
                           for v in runs)))
    print('wrote', args.report)


REPORT = """# The posts' image experiments on MNIST, several seeds

Generated by `python benchmarks/lsgan_mnist_benchmark.py {argv}` ({header}).

Every run: `train_anime.py --dataset mnist --size 32` with a post's preset at 32 × 32 (G from {g_ch} maps, D {d_ch}
maps doubling, Adam 1e-4 β1 0.5, z 50 ~ U[−1, 1]) on the 10,000 shared training digits, batch {batch},
{epochs} epochs × {per_epoch} generator iterations = {its} iterations (the table's column says when a variant ran
another length).  Scores: {samples} samples per epoch with the repository's MNIST classifier (FID on its features,
IS, classes among the samples; `results/mnist_metrics.md` gives real digits' values).  Presets:
{presets}

Variants:
{variants}

One run, for example: `{example}`

| variant | iterations | FID after epoch 1 | FID at the end | FID, last {last} epochs' mean | IS at the end | classes at the end | final FID per seed | wall s / run | seeds |
|---|---|---|---|---|---|---|---|---|---|
{rows}
{checkpoints}
One FID of {samples} samples moves by several points from one epoch to the next (the curves below); the mean of
each run's last {last} scores is steadier where a run has levelled off, but mixes in older generators where it is
still falling.

![FID per epoch]({figure})

Last sample grid of each variant's first seed:

{pictures}
"""

CHECKPOINTS = """
FID of {samples:,} samples of each run's saved generator (`evaluate.py RUN --snapshot RUN/gen_iter_N.npz --samples
{samples} --seed 0`; `evaluation_iter_N.json` in each run folder): mean ± sd over the seeds, then each seed's value
(seeds {seeds}):

| iterations | {head} |
|{rule}|
{rows}
"""

if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
