#!/usr/bin/env python
"""Mixture-of-Gaussians benchmark: methods × latent sizes × data sets × seeds → results/mog.md, with the KDE rows of
the first seed and the mode metrics per epoch (mean over seeds), so a reader sees whether the curves had flattened.

Each run is ``train_mog.py`` in its own process (one BLAS thread each, --jobs at a time).  Finished runs (their
metrics.json exists) are skipped and interrupted ones resume from their last snapshot, so an interrupted benchmark
continues where it stopped.  A run whose folder is gone keeps the row the report's earlier ``_runs.json`` holds of
it (same seed and number of iterations), so re-tabulating loses nothing.

  python benchmarks/mog_benchmark.py                       # the published table
  python benchmarks/mog_benchmark.py --methods vanilla unrolled5 --seeds 0 --epochs 2   # a quick look
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import numpy  # noqa: E402

from ganlib import cli  # noqa: E402
from benchmarks.common import (add_grid_arguments,  # noqa: E402
                               MODE_CURVES, check_outputs, display_command, earlier_runs, kde_figure, mean_std,
                               mode_curves, require_finished, resume_flags, run_jobs, write_report)

METHODS = {
    'vanilla': ['--unroll', '0'],
    'unrolled5': ['--unroll', '5'],
    'minibatch-disc': ['--unroll', '0', '--minibatch-discrimination', '--md-kernels', '16', '--md-dim', '4'],
    'feature-matching': ['--unroll', '0', '--feature-matching'],
    'lsgan': ['--unroll', '0', '--loss', 'lsgan'],
    # the stabilisation toolbox (issue 5), measured at --toolbox-z-dims only
    'label-smooth-1s': ['--unroll', '0', '--label-smoothing', '0.9'],
    'label-smooth-2s': ['--unroll', '0', '--label-smoothing', '0.9', '--fake-label', '0.1'],
    'wgan-clip': ['--unroll', '0', '--loss', 'wgan', '--weight-clip', '0.01', '--n-critic', '5',
                  '--optimizer', 'rmsprop', '--lr', '5e-5'],
    'wgan-gp': ['--unroll', '0', '--loss', 'wgan', '--gradient-penalty', '10', '--n-critic', '5', '--lr', '1e-4',
                '--beta2', '0.9'],
    'hinge': ['--unroll', '0', '--loss', 'hinge'],
    'hinge-sn': ['--unroll', '0', '--loss', 'hinge', '--spectral-norm'],
    'ttur': ['--unroll', '0', '--lr-d', '4e-4', '--lr-g', '1e-4'],
    'began': ['--unroll', '0', '--loss', 'began'],
    'ortho-reg': ['--unroll', '0', '--ortho-reg', '1e-4'],
    'hist-avg': ['--unroll', '0', '--historical-averaging', '1e-3'],
    'truncation-1': ['--unroll', '0', '--truncation', '1.0'],
}
TOOLBOX = ('label-smooth-1s', 'label-smooth-2s', 'wgan-clip', 'wgan-gp', 'hinge', 'hinge-sn', 'ttur', 'began',
           'ortho-reg', 'hist-avg', 'truncation-1')
# VEEGAN/PacGAN protocol: ring of 8, radius 2, σ 0.02; 5 × 5 grid, spacing 2, σ 0.05.
DATASETS = {
    'ring': ['--dataset', 'ring', '--std', '0.02'],
    'grid': ['--dataset', 'grid', '--std', '0.05'],
}
N_MODES = {'ring': 8, 'grid': 25}
TARGETS = {  # PacGAN Table 1 (best published: PacGAN4) — modes, HQ %, reverse KL
    'ring': (7.9, 95.6, 0.07),
    'grid': (24.8, 93.6, 0.04),
}


SCORED = ('modes', 'hq', 'rev_kl', 'rev_kl_hq', 'balanced_hq')
LATE = 'late_balanced_hq'  # a run's late_change() of balanced HQ, kept in _runs.json beside its scores


def z_dims_for(method, args):
    return args.toolbox_z_dims if method in TOOLBOX else args.z_dims


def metrics_of(method, m):
    """The metrics a method is judged by: the truncation method by its truncated samples."""
    return m['truncated'] if method.startswith('truncation') and 'truncated' in m else m


# Methods by cost per iteration in the 100k sweep (results/mog_full.md: MD 16-22 ms, unrolled K = 5 8-12, the
# WGANs' 5 critic steps, LSGAN 4.8, feature matching 3.4, the rest ~3).
SLOWEST = ('minibatch', 'unrolled', 'wgan', 'lsgan', 'feature')


def slowest_first(name):
    """Sort key: the costliest methods first (longest-processing-time order keeps both cores busy to the end)."""
    return next((k for k, w in enumerate(SLOWEST) if w in name), len(SLOWEST)), name


def late_change(log, key='eval/balanced_hq', window=0.1):
    """How far a curve still moved in the run's last quarter: the mean of ``key`` over the last ``window`` of the
    logged epochs minus its mean over the ``window`` that ends three quarters of the way through.  About 0 for a
    curve that has flattened; None for a log too short to have both windows apart (under 4 epochs)."""
    values = [e[key] for e in log if key in e]
    if len(values) < 4:
        return None
    w = max(1, int(round(window * len(values))))
    q = int(round(0.75 * len(values)))
    return float(numpy.mean(values[-w:]) - numpy.mean(values[q - w:q]))


def run_name(dataset, z, method, seed):
    return '{}_z{}_{}_s{}'.format(dataset, z, method, seed)


def command(dataset, z, method, seed, args, out):
    return ([sys.executable, os.path.join(ROOT, 'train_mog.py')] + DATASETS[dataset] + METHODS[method] +
            ['--z-dim', str(z), '--seed', str(seed), '--epochs', str(args.epochs),
             '--iterations-per-epoch', str(args.iterations_per_epoch), '--snapshot-every',
             str(max(1, args.epochs // 4)), '--quiet', '--out', out] + resume_flags(out))


def summarize(args, runs_dir, earlier=None):
    """The table's rows, the runs' records (``<report>_runs.json``) and the names of the runs kept from the
    ``earlier`` records because their folders are gone."""
    rows, raw, kept = [], {}, []
    iterations = args.epochs * args.iterations_per_epoch
    for dataset in args.datasets:
        for z in sorted(set(args.z_dims) | set(args.toolbox_z_dims), reverse=True):
            for method in args.methods:
                if z not in z_dims_for(method, args):
                    continue
                key, ms = '{}/z{}/{}'.format(dataset, z, method), []
                for seed in args.seeds:
                    path = os.path.join(runs_dir, run_name(dataset, z, method, seed), 'metrics.json')
                    if os.path.isfile(path):
                        full = json.load(open(path))
                        ms.append(dict(full, seed=seed, **{k: v for k, v in metrics_of(method, full).items()
                                                           if k in SCORED}))
                        log = os.path.join(os.path.dirname(path), 'log')
                        late = None if method.startswith('truncation') or not os.path.isfile(log) else \
                            late_change(json.load(open(log)))
                        if late is not None:
                            ms[-1][LATE] = late
                        continue
                    old = next((e for e in (earlier or {}).get(key, []) if e.get('seed') == seed and
                                e.get('iterations') == iterations), None)
                    if old is not None:
                        ms.append(old)
                        kept.append(run_name(dataset, z, method, seed))
                if not ms:
                    continue
                raw[key] = [{k: m[k] for k in SCORED + (LATE, 'seed', 'wall_time_s', 'ms_per_iteration',
                                                        'iterations') if k in m} for m in ms]

                def col(key, fmt, scale=1.0):  # runs made before the sharper metrics have none: '–'
                    values = [scale * m[key] for m in ms if key in m]
                    return mean_std(values, fmt) if len(values) == len(ms) else '–'
                rows.append('| {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | {:.1f} | {:.0f} |'.format(
                    dataset, z, method, col('modes', '{:.1f}'), N_MODES[dataset], col('hq', '{:.1f}', 100),
                    col('rev_kl', '{:.3f}'), col('rev_kl_hq', '{:.3f}'), col('balanced_hq', '{:.1f}', 100),
                    col(LATE, '{:+.1f}', 100),
                    numpy.mean([m['ms_per_iteration'] for m in ms]), numpy.mean([m['wall_time_s'] for m in ms])) +
                    ' {} |'.format(len(ms)))
    return rows, raw, kept


CURVES = MODE_CURVES[:2] + (('eval/balanced_hq', 'balanced HQ %', 100),) + MODE_CURVES[2:]


def logs_of(runs_dir, dataset, z, method, seeds):
    """The Chainer logs of the finished runs of one (data, z, method) row."""
    folders = [os.path.join(runs_dir, run_name(dataset, z, method, seed)) for seed in seeds]
    return [json.load(open(os.path.join(f, 'log'))) for f in folders if os.path.isfile(os.path.join(f, 'metrics.json'))]


def first_run(runs_dir, dataset, z, method, seeds):
    """(KDE label, folder) of the first seed whose run has finished (the label names a seed other than the
    first), as the table counts only finished runs; None when none has (a run still training would be drawn at
    its last saved epoch under the finished rows' epoch titles)."""
    seed = next((s for s in seeds if os.path.isfile(os.path.join(runs_dir, run_name(dataset, z, method, s),
                                                                 'metrics.json'))), None)
    if seed is None:
        return None
    return (method if seed == seeds[0] else '{}, seed {}'.format(method, seed),
            os.path.join(runs_dir, run_name(dataset, z, method, seed)))


def figures(args, runs_dir, out_dir, stem, tabulated):
    """Per (data, z): the KDE rows of the first seed that has finished and the metric curves (not for the
    truncation methods, whose training and per-epoch scores are the plain GAN's) → (the figures' paths, notes).
    A figure is not redrawn when a method ``tabulated`` (its row kept from the earlier records) has no run folder
    left: redrawing would drop its row, so the earlier file stays, and a note says so."""
    paths, notes = [], []
    for dataset in args.datasets:
        for z in sorted(set(args.z_dims) | set(args.toolbox_z_dims), reverse=True):
            methods = [m for m in args.methods if z in z_dims_for(m, args)]
            gone = [m for m in methods if '{}/z{}/{}'.format(dataset, z, m) in tabulated and not logs_of(
                runs_dir, dataset, z, m, args.seeds)]
            runs = [r for r in (first_run(runs_dir, dataset, z, m, args.seeds) for m in methods) if r]
            name = '{}_{}_z{}'.format(stem, dataset, z)
            curves = [(m, logs_of(runs_dir, dataset, z, m, args.seeds)) for m in methods
                      if not m.startswith('truncation')]
            kept = [os.path.join(out_dir, name + suffix) for suffix in ('.png', '_curves.png')]
            kept = [p for p in kept if gone and os.path.isfile(p)]
            drawn = [] if kept else [kde_figure(runs, os.path.join(out_dir, name + '.png')),
                                     mode_curves(curves, os.path.join(out_dir, name + '_curves.png'), CURVES,
                                                 ' ({} z={})'.format(dataset, z))]
            paths += kept + [p for p in drawn if p]
            if kept:
                notes.append('{} not redrawn: the run folders of {} are gone (runs made since are not in {}).'.format(
                    ' and '.join('`{}`'.format(os.path.basename(p)) for p in kept), ', '.join(gone),
                    'them' if len(kept) > 1 else 'it'))
    return paths, notes


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='mog_benchmark.py')
    p.add_argument('--methods', nargs='+', choices=list(METHODS), default=list(METHODS), metavar='METHOD',
                   help='methods (default all): ' + ', '.join(METHODS))
    p.add_argument('--datasets', nargs='+', choices=list(DATASETS), default=list(DATASETS),
                   help='mixtures (default {})'.format(' '.join(DATASETS)))
    p.add_argument('--z-dims', nargs='+', type=cli.positive_int, default=[256, 16],
                   help="latent sizes for the posts' methods (default 256 16)")
    p.add_argument('--toolbox-z-dims', nargs='+', type=cli.positive_int, default=[256],
                   help='latent sizes for the toolbox methods (default 256)')
    p.add_argument('--epochs', type=cli.positive_int, default=10, help='epochs per run (default 10)')
    p.add_argument('--iterations-per-epoch', type=cli.positive_int, default=500,
                   help='generator updates per epoch (default 500)')
    p.add_argument('--no-run', action='store_true', help='train nothing: tabulate the finished runs')
    add_grid_arguments(p, 'results/mog.md', 'result/bench_mog', seeds=[0, 1, 2], jobs=True)
    args = p.parse_args(argv)
    check_outputs(p, args, pictures=False)

    jobs = []
    for dataset in args.datasets:
        for method in args.methods:
            for z in z_dims_for(method, args):
                for seed in args.seeds:
                    name = run_name(dataset, z, method, seed)
                    out = os.path.join(args.runs_dir, name)
                    jobs.append((name, command(dataset, z, method, seed, args, out), out))
    jobs.sort(key=lambda j: slowest_first(j[0]))
    total = 0.0 if args.no_run else run_jobs(jobs, args.jobs)

    rows, raw, kept = summarize(args, args.runs_dir, earlier_runs(args.report))
    require_finished(rows, args.runs_dir)
    out_dir = os.path.dirname(os.path.abspath(args.report))
    stem = os.path.splitext(os.path.basename(args.report))[0]
    figs, notes = figures(args, args.runs_dir, out_dir, stem, raw)
    cli.save_json(os.path.join(out_dir, stem + '_runs.json'), raw)
    example = display_command(command('ring', 256, 'unrolled5', 0, args, 'result/bench_mog/ring_z256_unrolled5_s0'))
    write_report(args.report, REPORT.format(
        iters=args.epochs * args.iterations_per_epoch, epochs=args.epochs, ipe=args.iterations_per_epoch,
        seeds=', '.join(map(str, args.seeds)), n_seeds=len(args.seeds), rows='\n'.join(rows),
        timing=('--no-run: tabulated the finished runs' if args.no_run else
                "{} at a time; this call's wall time {:.1f} min, runs finished by earlier calls reused".format(
                    args.jobs, total / 60.0)) +
        ('; {} kept from the earlier `{}_runs.json`, their run folders being gone'.format(', '.join(kept), stem)
         if kept else ''), run_min=sum(m['wall_time_s'] for ms in raw.values() for m in ms) / 60.0,
        toolbox_z=', '.join(map(str, args.toolbox_z_dims)),
        argv=' '.join(argv if argv is not None else sys.argv[1:]), example=example,
        methods='\n'.join('- `{}`: `{}`'.format(k, ' '.join(v)) for k, v in METHODS.items() if k in args.methods),
        figures='\n'.join(notes + [''] * bool(notes) + ['![{0}]({0})'.format(os.path.basename(f)) for f in figs])))
    print('wrote', args.report)


REPORT = """# Mixture of Gaussians: mode coverage

Generated by `python benchmarks/mog_benchmark.py {argv}` on this repository's 2-core CPU machine, one BLAS thread
per run ({timing}; the runs' own wall times sum to {run_min:.1f} min).

Protocol (VEEGAN / PacGAN): ring of 8 Gaussians (radius 2, σ 0.02) and 5 × 5 grid (spacing 2, σ 0.05);
2,500 samples after training; a sample is high quality (HQ) within 3σ of its nearest mode; modes captured
= modes nearest to at least one HQ sample; reverse KL = KL(histogram of all samples' nearest modes ‖ uniform);
rev-KL (HQ) = the same over the HQ samples only (PacGAN's definition); balanced HQ = (1/K) Σ_k min(1, K n_k / N) with
n_k the HQ samples at mode k (`ganlib/metrics.py`; neither credits a blob between the modes).
Networks and optimiser of the unrolled post (G z → 128 → 128 → 2, D 2 → 128 → 1 with inputs / radius,
HeNormal(0.8), Adam 1e-3 β1 0.5, batch 100), {iters} generator iterations ({epochs} epochs × {ipe}) —
the post ran 100,000 — and seeds {seeds}.  Values are mean ± std over the {n_seeds} seeds;
`s / 1,000 it` (= ms per iteration) and `wall s` are per run (one process, one core).
Has the curve flattened? `Δ bal. HQ, last ¼` = balanced HQ averaged over the last tenth of the epochs minus its
average over the tenth that ends at three quarters of the run, in points, from each run's per-epoch log (2,500
samples an epoch): about 0 when flat, positive while still climbing; '–' for a truncation row (its training and
per-epoch scores are the plain GAN's) or a run without its log.

Methods (extra flags of `train_mog.py`):
{methods}

`lsgan` uses the LSGAN post's settings (D 2 → 128 → 128 → 1 LeakyReLU(0.2), Normal(0.01), Adam 1e-4,
a, b, c = 0, 1, 1: `--preset auto`).  The minibatch-discrimination layer here has B = 16 kernels of C = 4
dims (the image models use B = 50, C = 5, which costs ~100 ms/iteration on this CPU for the 2-D MLP).

Toolbox methods (latent sizes {toolbox_z}): the unrolled post's networks with the option named; WGAN with the
paper's RMSprop 5e-5, clip 0.01, n_critic 5; WGAN-GP with λ = 10, n_critic 5 and the WGAN-GP toy code's
Adam(1e-4, β 0.5, 0.9); hinge + spectral normalisation on every D layer; TTUR with D 4e-4 / G 1e-4 (SAGAN's
rates); BEGAN with an autoencoder D 2 → 128 → 8 → 128 → 2, γ 0.5, λ_k 1e-3; BigGAN's orthogonal
regularisation β 1e-4 on G; historical averaging λ 1e-3 on both players.  `truncation-1` is the plain
GAN scored on samples drawn with the truncation trick (|z| ≤ 1); its training is identical to `vanilla`.
Self-attention needs feature maps, so it is an option of the image models only.

One run, for example: `{example}`

| data | z | method | modes | HQ % | reverse KL | rev-KL (HQ) | balanced HQ % | Δ bal. HQ, last ¼ | s / 1,000 it | wall s | seeds |
|---|---|---|---|---|---|---|---|---|---|---|---|
{rows}

Best published (PacGAN Table 1, PacGAN4, much longer training): ring 7.9 modes / 95.6 % HQ / 0.07;
grid 24.8 / 93.6 % / 0.04.

## Figures

Per data set: scatter + KDE of 10,000 samples of the first seed that still has its run folder (red × = true
modes), then the mode metrics after every epoch (2,500 samples, mean over the seeds that have their logs).

{figures}
"""

if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
