#!/usr/bin/env python
"""The posts' mixture-of-Gaussians comparisons at the posts' length: presets × data variants × seeds →
results/mog_post_length.md.

Each run is ``train_mog.py --preset …`` (the whole run of a post: networks, optimiser, σ, 200 epochs × 500
iterations) in its own process, one BLAS thread, ``--jobs`` at a time; finished runs (metrics.json) are reused and
interrupted ones continue from their last snapshot.
The report has the final mode metrics (mean ± std over seeds), the epoch at which each run first covered every
mode, and one KDE figure per variant with a row per method (first seed), as in the unrolled post's figure.

  python benchmarks/post_mog_benchmark.py                                   # ring z=256, GAN vs K=5, seeds 0 1 2
  python benchmarks/post_mog_benchmark.py --variants ring_z16 double_ring_z256 --seeds 0
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

from ganlib import cli  # noqa: E402
from benchmarks.common import (add_grid_arguments,  # noqa: E402
                               check_outputs, display_command, kde_figure, mean_std, require_finished, resume_flags,
                               run_jobs, write_report)

METHODS = {  # label, train_mog.py preset
    'gan': ('GAN (K=1)', 'unrolled-post-plain'),
    'unrolled5': ('unrolled K=5', 'unrolled-post'),
    'lsgan': ('LSGAN', 'lsgan-post'),
}
VARIANTS = {  # the unrolled post's figures: data set, latent size, σ as intended or as the original code drew it
    'ring_z256': [],
    'ring_z16': ['--z-dim', '16'],
    'double_ring_z256': ['--dataset', 'double_ring'],
    'double_ring_z16': ['--dataset', 'double_ring', '--z-dim', '16'],
    'ring_z256_stdbug': ['--original-std-bug'],
    'ring_z16_stdbug': ['--z-dim', '16', '--original-std-bug'],
}
SCORED = ('modes', 'hq', 'rev_kl', 'rev_kl_hq', 'balanced_hq')


def run_name(variant, method, seed):
    return '{}_{}_s{}'.format(variant, method, seed)


def command(variant, method, seed, args, out):
    cmd = [sys.executable, os.path.join(ROOT, 'train_mog.py'), '--preset', METHODS[method][1]] + VARIANTS[variant]
    cmd += ['--seed', str(seed), '--snapshot-every', str(args.snapshot_every), '--quiet', '--out', out]
    if args.epochs is not None:
        cmd += ['--epochs', str(args.epochs)]
    if args.iterations_per_epoch is not None:
        cmd += ['--iterations-per-epoch', str(args.iterations_per_epoch)]
    return cmd + resume_flags(out)


def history(out):
    """[(epoch, modes, hq)] from the per-epoch evaluations in a run's Trainer log ([] without one)."""
    path = os.path.join(out, 'log')
    if not os.path.isfile(path):
        return []
    return [(h['epoch'], int(h['eval/modes']), h['eval/hq']) for h in json.load(open(path)) if 'eval/modes' in h]


def first_full_epoch(hist, n_modes):
    """The first evaluated epoch at which every mode held a high-quality sample (None: never)."""
    return next((e for e, modes, _ in hist if modes == n_modes), None)


def summarize(args):
    rows, raw = [], {}
    for variant in args.variants:
        for method in args.methods:
            ms = []
            for seed in args.seeds:
                out = os.path.join(args.runs_dir, run_name(variant, method, seed))
                path = os.path.join(out, 'metrics.json')
                if os.path.isfile(path):
                    m = json.load(open(path))
                    m['first_full'] = first_full_epoch(history(out), m['n_modes'])
                    m['seed'] = seed
                    ms.append(m)
            if not ms:
                continue
            raw['{}/{}'.format(variant, method)] = [
                {k: m.get(k) for k in SCORED + ('seed', 'first_full', 'wall_time_s', 'iterations')} for m in ms]
            per_seed = ', '.join('{}/{} ({:.0f} %)'.format(m['modes'], m['n_modes'], 100 * m['hq']) for m in ms)
            full = ', '.join('–' if m['first_full'] is None else str(m['first_full']) for m in ms)
            rows.append('| {} | {} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {:.0f} | {} |'.format(
                variant, METHODS[method][0], mean_std([m['modes'] for m in ms], '{:.1f}'), ms[0]['n_modes'],
                mean_std([100 * m['hq'] for m in ms], '{:.1f}'), mean_std([m['rev_kl'] for m in ms], '{:.3f}'),
                mean_std([m['rev_kl_hq'] for m in ms], '{:.3f}'),
                mean_std([100 * m['balanced_hq'] for m in ms], '{:.1f}'), per_seed, full,
                ms[0]['iterations'], sum(m['wall_time_s'] for m in ms) / len(ms), len(ms)))
    return rows, raw


def figures(args, out_dir, stem):
    paths = []
    for variant in args.variants:
        runs = [(METHODS[m][0], os.path.join(args.runs_dir, run_name(variant, m, args.seeds[0])))
                for m in args.methods]
        path = kde_figure(runs, os.path.join(out_dir, '{}_{}.png'.format(stem, variant)), max_panels=8)
        if path:
            paths.append((variant, path))
    return paths


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='post_mog_benchmark.py')
    p.add_argument('--variants', nargs='+', choices=list(VARIANTS), default=['ring_z256'], metavar='VARIANT',
                   help='data and latent variants (default ring_z256): ' + ', '.join(VARIANTS))
    p.add_argument('--methods', nargs='+', choices=list(METHODS), default=['gan', 'unrolled5'],
                   help='methods (default gan unrolled5)')
    p.add_argument('--epochs', type=cli.positive_int, default=None, help="override the presets' 200 epochs")
    p.add_argument('--iterations-per-epoch', type=cli.positive_int, default=None,
                   help="override the presets' 500")
    p.add_argument('--snapshot-every', type=cli.positive_int, default=10, help='epochs between snapshots (10)')
    p.add_argument('--no-run', action='store_true', help='train nothing: tabulate the finished runs')
    add_grid_arguments(p, 'results/mog_post_length.md', 'result/post_mog', seeds=[0, 1, 2], jobs=True)
    args = p.parse_args(argv)
    check_outputs(p, args, pictures=False)

    jobs = []
    for variant in args.variants:
        for seed in args.seeds:
            for method in sorted(args.methods, key=lambda m: m != 'unrolled5'):  # the slow run of a pair first
                out = os.path.join(args.runs_dir, run_name(variant, method, seed))
                jobs.append((run_name(variant, method, seed), command(variant, method, seed, args, out), out))
    total = 0.0 if args.no_run else run_jobs(jobs, args.jobs)

    rows, raw = summarize(args)
    require_finished(rows, args.runs_dir)
    out_dir = os.path.dirname(os.path.abspath(args.report))
    stem = os.path.splitext(os.path.basename(args.report))[0]
    figs = figures(args, out_dir, stem)
    cli.save_json(os.path.join(out_dir, stem + '_runs.json'), raw)
    example = display_command(command(args.variants[0], args.methods[-1], args.seeds[0], args,
                                      'result/post_mog/' + run_name(args.variants[0], args.methods[-1],
                                                                    args.seeds[0])))
    run_walls = sum(m['wall_time_s'] for runs in raw.values() for m in runs) / 60.0
    timing = ('--no-run: tabulated the finished runs' if args.no_run else
              "this call's wall time {:.1f} min, {} at a time".format(total / 60.0, args.jobs)) + \
        "; the runs' own wall times sum to {:.1f} min".format(run_walls)
    write_report(args.report, REPORT.format(
        argv=' '.join(argv if argv is not None else sys.argv[1:]), timing=timing,
        seeds=', '.join(map(str, args.seeds)), example=example, rows='\n'.join(rows),
        variants='\n'.join('- `{}`: `{}`'.format(k, ' '.join(v) or '(the preset as is)')
                           for k, v in VARIANTS.items() if k in args.variants),
        methods='\n'.join('- {}: `--preset {}`'.format(*METHODS[m]) for m in args.methods),
        figures='\n'.join('### {}\n\n![{}]({})\n'.format(v, v, os.path.basename(f)) for v, f in figs)))
    print('wrote', args.report)


REPORT = """# The posts' mixture-of-Gaussians runs at the posts' length

Generated by `python benchmarks/post_mog_benchmark.py {argv}` on the repository's 2-core CPU machine, one BLAS
thread per run ({timing}; runs finished by earlier calls are reused).

Methods (each preset is the whole run of a post: networks, init, Adam, batch 100, 200 epochs × 500 generator
iterations, σ 0.2 as intended, KDE every 5 epochs; see `train_mog.py --help`):
{methods}

Variants (extra flags): `--original-std-bug` draws σ² = 0.04 for σ, as the posts' code did.
{variants}

Seeds {seeds}.  Metrics on 2,500 samples after training: modes with a high-quality (HQ, within 3σ) sample;
HQ %; reverse KL of the nearest-mode histogram over all samples and over HQ samples only (PacGAN's definition);
balanced HQ (each mode's share of HQ samples capped at 1/K, so a blob or one heavy mode is not credited).
"all modes at epoch" is the first epoch (evaluated after every one) with every mode covered, per seed.

One run, for example: `{example}`

| variant | method | modes | HQ % | rev-KL (all) | rev-KL (HQ) | balanced HQ % | per seed: modes (HQ) | all modes at epoch | iterations | wall s / run | seeds |
|---|---|---|---|---|---|---|---|---|---|---|---|
{rows}

## KDE rows (first seed; 10,000 samples per panel, red × = true modes)

{figures}
"""

if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
