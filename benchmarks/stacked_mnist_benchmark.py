#!/usr/bin/env python
"""Stacked-MNIST mode coverage: methods × seeds of ``train_anime.py --dataset stacked-mnist`` scored by
``evaluate.py`` (modes of 1,000 and KL over 26,000 samples) → results/stacked_mnist.md.

Finished runs (their evaluation.json exists) are skipped.  With ``--checkpoints`` the generator is also scored at
those iterations (``evaluation_iter_K.json``), and the report gains a table of modes and KL over training.  A larger
``--iterations`` on a runs folder of finished runs continues them from their last snapshot: each run's final score
and metrics are kept as ``evaluation_iter_N.json`` / ``metrics_iter_N.json`` (N its old length).

  python benchmarks/stacked_mnist_benchmark.py --iterations 1000 --seeds 0
  python benchmarks/stacked_mnist_benchmark.py --iterations 10000 --checkpoints 3000 6000
  python benchmarks/stacked_mnist_benchmark.py --iterations 10000 --checkpoints 3000 6000 --runs-dir DIR_OF_6000
"""
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401
import numpy  # noqa: E402

from benchmarks.common import (add_grid_arguments, add_mnist_arguments,  # noqa: E402
                               check_outputs, display_command, last_grid_picture, mean_std,
                               require_finished, resume_flags, write_report)
from ganlib import cli  # noqa: E402

REAL_DIGITS = (1000, 0.024)  # modes, KL of real stacked digits (results/mnist_metrics.md)

METHODS = {
    'dcgan': ['--unroll', '0'],
    'minibatch-disc': ['--unroll', '0', '--minibatch-discrimination'],
    'unrolled5': ['--unroll', '5'],
    'pacgan2': ['--unroll', '0', '--pack', '2'],
    'hinge-sn': ['--unroll', '0', '--loss', 'hinge', '--spectral-norm'],
}
# The methods above train the Improved-GAN and unrolled posts' nets: weights N(0, 0.001), D with ELU and Gaussian
# noise of σ 0.3 on its input.  The published stacked-MNIST DCGANs (VEEGAN, PacGAN, Metz et al.) follow Radford et
# al.: weights N(0, 0.02), D with LeakyReLU 0.2 and no input noise (each method + '-radford'); PacGAN's protocol adds
# Adam 2e-4 and z 100.
RADFORD = ['--d-noise', '0', '--d-activation', 'leaky_relu', '--init', 'normal:0.02']
METHODS.update({name + '-radford': flags + RADFORD for name, flags in list(METHODS.items())})
METHODS.update({'dcgan-no-noise': METHODS['dcgan'] + ['--d-noise', '0'],
                'dcgan-radford-lr2e-4-z100': METHODS['dcgan-radford'] + ['--lr', '2e-4', '--z-dim', '100']})
# Radford's nets one change at a time from the posts' nets without input noise: only D's LeakyReLU, only the init.
METHODS.update({'dcgan-no-noise-leaky': METHODS['dcgan-no-noise'] + ['--d-activation', 'leaky_relu'],
                'dcgan-no-noise-normal0.02': METHODS['dcgan-no-noise'] + ['--init', 'normal:0.02']})


def epoch_length(args):
    """Iterations per (logical) epoch: every checkpoint falls on an epoch's end, where its generator file is written.
    Without checkpoints a run is one epoch, as before.  The epoch length changes nothing in training: the data
    stream, the losses and the updates do not depend on it."""
    return math.gcd(args.iterations, *args.checkpoints)


def train_command(method, seed, args, out):
    per_epoch = epoch_length(args)
    return [sys.executable, os.path.join(ROOT, 'train_anime.py'), '--dataset', 'stacked-mnist',
            '--data-dir', args.data_dir, '--size', '32', '--g-ch', str(args.g_ch), '--d-ch', str(args.d_ch),
            '--batch-size', str(args.batch_size), '--epochs', str(args.iterations // per_epoch),
            '--iterations-per-epoch', str(per_epoch),
            '--seed', str(seed), '--device', args.device, '--quiet', '--out', out] + METHODS[method] + \
        resume_flags(out)


def checkpoint_file(out, iteration):
    return os.path.join(out, 'evaluation_iter_{}.json'.format(iteration))


def trained_length(out):
    """(iterations, iterations per epoch) of the run in ``out`` as trained to its end (metrics.json), else None."""
    path = os.path.join(out, 'metrics.json')
    if not os.path.isfile(path):
        return None
    m = json.load(open(path))
    return m['iterations'], m['config']['iterations_per_epoch']


def earlier_parts(out):
    """The metrics of the earlier lengths a run was trained to before it was continued (``metrics_iter_N.json``),
    shortest first."""
    import glob
    parts = [json.load(open(p)) for p in glob.glob(os.path.join(out, 'metrics_iter_*.json'))]
    return sorted(parts, key=lambda m: m['iterations'])


def snapshot_name(path):
    """A part's ``resumed_from`` as the snapshot's file name (the record names no machine's folders), or None."""
    return os.path.basename(path) if path else None


def plan_extensions(outs, args):
    """The finished runs among ``outs`` that are shorter than ``--iterations``: {out: their length}.  A one-line
    CleanExit, before anything is moved, for a run longer than ``--iterations`` or one trained with another epoch
    length (``--checkpoints`` decide it; a resumed run must keep it)."""
    per_epoch, plan = epoch_length(args), {}
    for out in outs:
        trained = trained_length(out)
        if trained is None or trained[0] == args.iterations:
            continue
        if trained[0] > args.iterations:
            raise cli.CleanExit('{}: trained to {} iterations, more than --iterations {}'.format(
                out, trained[0], args.iterations))
        if trained[1] != per_epoch:
            raise cli.CleanExit('{}: trained in epochs of {} iterations; --iterations {} with --checkpoints {} '
                                'needs {} (a continued run keeps its epoch length)'.format(
                                    out, trained[1], args.iterations, ' '.join(map(str, args.checkpoints)) or
                                    '(none)', per_epoch))
        plan[out] = trained[0]
    return plan


def continue_run(out, length):
    """Keep the finished run's final score and metrics as those of iteration ``length``, so that it resumes from its
    last snapshot (``resume_flags``) and is scored again at its new end.  Nothing is deleted."""
    for name in ('evaluation', 'metrics'):
        path = os.path.join(out, name + '.json')
        if os.path.isfile(path):
            os.rename(path, os.path.join(out, '{}_iter_{}.json'.format(name, length)))


def eval_commands(args, out):
    """(command, the JSON it writes) for each checkpoint, then the final score (``evaluation.json``, which marks the
    run finished)."""
    cmd = [sys.executable, os.path.join(ROOT, 'evaluate.py'), out, '--samples', str(args.samples),
           '--device', args.device]
    if args.classifier_cache:
        cmd += ['--classifier-cache', args.classifier_cache]
    steps = [(cmd + ['--snapshot', os.path.join(out, 'gen_iter_{}.npz'.format(k)), '-o', checkpoint_file(out, k)],
              checkpoint_file(out, k)) for k in args.checkpoints]
    return steps + [(cmd, os.path.join(out, 'evaluation.json'))]


def scores_over_training(results, checkpoints):
    """(modes, KL) of each seed's ``results`` at each of ``checkpoints`` and then at the run's end: two arrays of
    shape (seeds, stages)."""
    stages = [[r['checkpoints'][k] for k in checkpoints] + [r] for r in results]
    return (numpy.array([[s['modes'] for s in seed] for seed in stages], dtype=float),
            numpy.array([[s['kl'] for s in seed] for seed in stages], dtype=float))


def course_figure(course, stages, path):
    """Modes captured and KL against the generator iteration → ``path`` (PNG): one line per (method, modes, KL) of
    ``course`` (arrays of shape (seeds, stages)), the mean over the seeds with their min–max as a band, real stacked
    digits as the dashed line.  Returns the path."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    colors = plt.get_cmap('tab10')
    for i, (method, modes, kl) in enumerate(course):
        for ax, values in zip(axes, (modes, kl)):
            ax.plot(stages, values.mean(axis=0), 'o-', color=colors(i), lw=1.3, ms=3,
                    label='{} ({} seed{})'.format(method, len(values), 's' if len(values) > 1 else ''))
            ax.fill_between(stages, values.min(axis=0), values.max(axis=0), color=colors(i), alpha=0.15, lw=0)
    for ax, real, name in zip(axes, REAL_DIGITS, ('modes captured of 1,000 (higher is better)',
                                                  'KL to uniform over the 1,000 triples (lower is better)')):
        ax.axhline(real, color='0.4', ls='--', lw=1,
                   label='real stacked digits ({:,} / KL {})'.format(*REAL_DIGITS))
        ax.set_xlabel('generator iteration')
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    axes[1].set_yscale('log')
    axes[0].legend(fontsize=7, loc='lower right')
    fig.suptitle('Stacked MNIST over training: mean over seeds, band = min–max', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(job):
    """Train (unless metrics.json says it is trained), then write each score not written yet."""
    name, train, evaluations, out = job
    if os.path.isfile(os.path.join(out, 'evaluation.json')):
        return name, 'cached'
    env = dict(os.environ, OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', MKL_NUM_THREADS='1')
    start = time.time()
    steps = [] if os.path.isfile(os.path.join(out, 'metrics.json')) else [train]
    for cmd in steps + [cmd for cmd, written in evaluations if not os.path.isfile(written)]:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            return name, 'FAILED ({})\n{}'.format(proc.returncode, proc.stdout[-2000:])
    return name, 'done in {:.0f}s'.format(time.time() - start)


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='stacked_mnist_benchmark.py')
    p.add_argument('--methods', nargs='+', choices=list(METHODS), default=['dcgan', 'minibatch-disc', 'unrolled5'],
                   help='methods (default dcgan minibatch-disc unrolled5)')
    p.add_argument('--iterations', type=cli.positive_int, default=1000, help='generator iterations per run')
    p.add_argument('--checkpoints', nargs='+', type=cli.positive_int, default=[], metavar='K',
                   help='also score the generator at these iterations (each below --iterations)')
    p.add_argument('--g-ch', type=cli.positive_int, default=64, help="G's first feature maps (default 64)")
    p.add_argument('--d-ch', type=cli.positive_int, default=16,
                   help="D's first feature maps (default 16; with --g-ch 64, 16 gives D 0.45 of G's parameters, "
                        "Metz et al.'s 'D 1/2', and 12 gives 0.26, their 'D 1/4')")
    p.add_argument('--batch-size', type=cli.positive_int, default=64, help='images (or packs) per update (default 64)')
    p.add_argument('--samples', type=cli.positive_int, default=26000, help='samples per score (default 26,000)')
    add_mnist_arguments(p)
    p.add_argument('--device', default='cpu', help='cpu or @cupy:N (passed to train_anime.py and evaluate.py)')
    p.add_argument('--no-run', action='store_true', help='only tabulate the finished runs')
    add_grid_arguments(p, 'results/stacked_mnist.md', 'result/bench_stacked', seeds=[0], jobs=True)
    args = p.parse_args(argv)
    args.data_dir = os.path.abspath(args.data_dir)
    args.checkpoints = sorted(set(args.checkpoints))
    if args.checkpoints and args.checkpoints[-1] >= args.iterations:
        p.error('--checkpoints: each must be below --iterations ({})'.format(args.iterations))
    if not args.no_run and not os.path.isdir(args.data_dir):
        p.error('--data-dir: no such directory: {}'.format(args.data_dir))
    check_outputs(p, args)
    runs = [(method, seed, '{}_s{}'.format(method, seed)) for method in args.methods for seed in args.seeds]
    if not args.no_run:
        for out, length in plan_extensions([os.path.join(args.runs_dir, name) for _, _, name in runs], args).items():
            continue_run(out, length)
    jobs = []
    for method, seed, name in runs:
        out = os.path.join(args.runs_dir, name)
        jobs.append((name, train_command(method, seed, args, out), eval_commands(args, out), out))
    jobs.sort(key=lambda j: 'unrolled' not in j[0])
    header = 'tabulating finished runs only'
    if not args.no_run:
        start = time.time()
        with ThreadPoolExecutor(args.jobs) as pool:
            for i, (name, status) in enumerate(pool.map(run, jobs), 1):
                print('[{}/{}] {}: {}'.format(i, len(jobs), name, status), flush=True)
        header = ("total wall time {:.1f} min on this repository's 2-core CPU machine, {} at a time, one BLAS "
                  'thread per run'.format((time.time() - start) / 60, args.jobs))

    rows, raw, pictures, course = [], {}, [], []
    for method in args.methods:
        results = []
        for seed in args.seeds:
            out = os.path.join(args.runs_dir, '{}_s{}'.format(method, seed))
            path = os.path.join(out, 'evaluation.json')
            trained = trained_length(out)
            if not os.path.isfile(path) or trained is None:
                continue
            if trained[0] != args.iterations:
                print('{}: trained to {} iterations, not --iterations {}; not tabulated'.format(
                    out, trained[0], args.iterations))
                continue
            ev, m = json.load(open(path)), json.load(open(os.path.join(out, 'metrics.json')))
            scores = {k: json.load(open(checkpoint_file(out, k))) for k in args.checkpoints}
            parts = earlier_parts(out) + [m]
            results.append(dict(modes=ev['modes'], kl=ev['kl'], wall_time_s=sum(p['wall_time_s'] for p in parts),
                                ms_per_iteration=m['ms_per_iteration'], iterations=m['iterations'], seed=seed,
                                parts=[dict(iterations=p['iterations'],
                                            resumed_from=snapshot_name(p.get('resumed_from')),
                                            wall_time_s=p['wall_time_s'],
                                            ms_per_iteration=p['ms_per_iteration']) for p in parts],
                                checkpoints={k: dict(modes=v['modes'], kl=v['kl']) for k, v in scores.items()}))
        if not results:
            continue
        raw[method] = results
        if args.checkpoints:
            modes, kl = scores_over_training(results, args.checkpoints)
            course.append((method, modes, kl))
        name = '{}_s{}'.format(method, results[0]['seed'])
        picture = last_grid_picture(os.path.join(args.runs_dir, name), args.report, name,
                                    '{}, seed {}'.format(method, results[0]['seed']))
        if picture:
            pictures.append(picture)
        rows.append('| {} | {} | {} | {} | {:.0f} | {:.0f} | {} |'.format(
            method, mean_std([r['modes'] for r in results], '{:.1f}'), mean_std([r['kl'] for r in results], '{:.3f}'),
            ', '.join(str(r['modes']) for r in results), sum(r['ms_per_iteration'] for r in results) / len(results),
            sum(r['wall_time_s'] for r in results) / len(results), len(results)))
    require_finished(rows, args.runs_dir)
    out_dir = os.path.dirname(os.path.abspath(args.report))
    stem = os.path.splitext(os.path.basename(args.report))[0]
    cli.save_json(os.path.join(out_dir, stem + '_runs.json'), raw)
    name = '{}_s{}'.format(args.methods[-1], args.seeds[0])
    example = display_command(train_command(args.methods[-1], args.seeds[0], args, os.path.join(
        os.path.relpath(args.runs_dir, ROOT), name))).replace(args.data_dir, 'MNIST_DIR')
    course_table = ''
    if course:
        stages = args.checkpoints + [args.iterations]
        rows_course = ['| {} | {} |'.format(method, ' | '.join('{} / {}'.format(
            mean_std(modes[:, i], '{:.0f}'), mean_std(kl[:, i], '{:.2f}')) for i in range(len(stages))))
            for method, modes, kl in course]
        figure = course_figure(course, stages, os.path.join(out_dir, stem, 'course.png'))
        course_table = COURSE.format(samples=args.samples, head=' | '.join('{:,}'.format(k) for k in stages),
                                     rule='|'.join(['---'] * (len(stages) + 1)), rows='\n'.join(rows_course),
                                     figure='![modes and KL over training]({}/{})'.format(
                                         stem, os.path.basename(figure)))
    methods = '\n'.join('- `{}`: `{}`'.format(k, ' '.join(METHODS[k])) for k in args.methods)
    write_report(args.report, REPORT.format(
        argv=' '.join(argv if argv is not None else sys.argv[1:]), header=header, rows='\n'.join(rows),
        course=course_table, example=example, iters=args.iterations, g_ch=args.g_ch, d_ch=args.d_ch,
        batch=args.batch_size, samples=args.samples, pictures=' '.join(pictures), methods=methods,
        real=REAL_DIGITS))
    print('wrote', args.report)


COURSE = """
Over training: modes / KL at each iteration (mean ± std over the seeds; {samples:,} samples per score):

| method | {head} |
|{rule}|
{rows}

{figure}
"""

REPORT = """# Stacked MNIST: modes captured of 1,000

Generated by `python benchmarks/stacked_mnist_benchmark.py {argv}` ({header}).

Data: three digits of the 10,000 shared MNIST training digits per image, one per RGB channel, padded to 32 × 32
(`train_anime.py --dataset stacked-mnist`, 128,000 examples drawn with the seed).  Networks: the DCGAN of
`models/dcgan.py` at 32 × 32 (three stride-2 layers from 4 × 4), G with {g_ch} first feature maps, D with {d_ch},
batch {batch} (with `--pack m`, {batch} packs of m images), Adam 1e-4 β1 0.5, z 50 ~ U[−1, 1], weights
N(0, 0.001), D with ELU and Gaussian noise of σ 0.3 on its input (the Improved-GAN and unrolled posts' networks)
where a method's flags do not say otherwise, {iters} generator iterations.  Score: `evaluate.py`, {samples} samples,
each channel classified by the repository's MNIST classifier (`results/mnist_metrics.md`), modes captured = digit
triples seen at least once, KL = KL(triple histogram ‖ uniform over 1,000).

Methods (extra flags of `train_anime.py`):
{methods}

One run, for example: `{example}`

A run continued to a longer `--iterations` (from its last snapshot; `metrics_iter_N.json` keeps each earlier part's
metrics) is timed by the sum of its parts' wall times; a part stopped before its end recorded none.

| method | modes / 1000 | KL | per seed | ms / it (last part) | wall s / run (all parts) | seeds |
|---|---|---|---|---|---|---|
{rows}
{course}
Published (26,000 samples, modes / KL; other networks and much longer training): VEEGAN Table 2 DCGAN 99 / 3.4,
unrolled 48.7 / 4.32; PacGAN Table 2 DCGAN 78.9 / 4.50, PacDCGAN2 1,000 / 0.06; Metz et al. with D ½ the size of
G: DCGAN 628 / 2.58, 5 unrolling steps 732 / 1.66 (D ¼: 30.6 / 5.99 and 236.4 / 4.67).  Real stacked digits score
{real[0]:,} modes, KL {real[1]} (`results/mnist_metrics.md`).

Last sample grid of each method's first seed (fixed latents):

{pictures}
"""

if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
