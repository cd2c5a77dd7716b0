#!/usr/bin/env python
"""The PacGAN paper's synthetic experiment (Lin et al. 2018, Table 1): GAN vs PacGAN-m on the ring and the grid,
the mode metric validated against a published table → results/pacgan.md.

Each run is ``train_mog.py --preset pacgan`` in its own process (one BLAS thread, --jobs at a time); finished
runs (metrics.json) are skipped and interrupted ones resume from their last snapshot, so the benchmark can be
stopped and started again.  The paper trained 400 epochs × 1,000 iterations; --epochs sets a shorter length
(the report states it and plots the metrics per epoch, so a reader sees whether they had flattened).

  python benchmarks/pacgan_benchmark.py --epochs 20 --seeds 0 1 2 3 4                     # results/pacgan.md
  python benchmarks/pacgan_benchmark.py --runs ring:1 grid:1 grid:4 --epochs 2 --seeds 0  # a quick look
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import numpy  # noqa: E402

from ganlib import cli  # noqa: E402
from benchmarks.common import (add_grid_arguments,  # noqa: E402
                               check_outputs, display_command, kde_figure, mean_std, mode_curves, require_finished,
                               resume_flags, run_jobs, write_report)

# PacGAN Table 1 (10 trials; mean ± std): (modes, HQ %, reverse KL) and their spreads.
TABLE1 = {
    ('ring', 1): ((6.3, 0.5), (98.2, 0.2), (0.45, 0.09)),
    ('ring', 2): ((7.9, 0.3), (95.6, 2.0), (0.07, 0.11)),
    ('ring', 4): ((7.8, 0.6), (95.9, 1.5), (0.07, 0.13)),
    ('grid', 1): ((17.3, 0.8), (94.8, 0.7), (0.70, 0.07)),
    ('grid', 2): ((23.8, 0.7), (91.3, 0.8), (0.13, 0.04)),
    ('grid', 4): ((24.8, 0.4), (93.6, 0.6), (0.04, 0.01)),
}
METRICS = ('modes', 'hq', 'rev_kl_hq', 'rev_kl', 'balanced_hq')


def parse_run(text):
    """'grid:4' → ('grid', 4)."""
    m = re.fullmatch(r'(ring|grid):([1-9][0-9]*)', text)
    if not m:
        raise cli.argparse.ArgumentTypeError('expected DATA:PACK with DATA ring or grid, e.g. grid:4; got {!r}'.format(
            text))
    return m.group(1), int(m.group(2))


def label(pack):
    return 'GAN' if pack == 1 else 'PacGAN{}'.format(pack)


def run_name(dataset, pack, seed):
    return '{}_pack{}_s{}'.format(dataset, pack, seed)


def command(dataset, pack, seed, args, out):
    cmd = [sys.executable, os.path.join(ROOT, 'train_mog.py'), '--preset', 'pacgan', '--dataset', dataset,
           '--pack', str(pack), '--seed', str(seed), '--epochs', str(args.epochs),
           '--iterations-per-epoch', str(args.iterations_per_epoch), '--plot-every',
           str(max(1, args.epochs // 4)), '--snapshot-every', str(max(1, args.epochs // 4)), '--quiet', '--out', out]
    return cmd + resume_flags(out)


def load(args, dataset, pack):
    runs = []
    for seed in args.seeds:
        path = os.path.join(args.runs_dir, run_name(dataset, pack, seed), 'metrics.json')
        if os.path.isfile(path):
            runs.append((seed, json.load(open(path)),
                         json.load(open(os.path.join(os.path.dirname(path), 'log')))))
    return runs


def summarize(args):
    rows, raw = [], {}
    for dataset, pack in args.runs:
        runs = load(args, dataset, pack)
        if not runs:
            continue
        ms = [m for _, m, _ in runs]
        raw['{}/pack{}'.format(dataset, pack)] = [dict({k: m[k] for k in METRICS + ('wall_time_s', 'iterations')},
                                                       seed=s) for s, m, _ in runs]
        (pm, ps), (ph, phs), (pk, pks) = TABLE1[(dataset, pack)]
        rows.append('| {} | {} | {} / {} | {} | {} | {} | {} | {:.0f} | {} | {:.1f} ± {:.1f} / {:.1f} ± {:.1f} % / '
                    '{:.2f} ± {:.2f} |'.format(
                        dataset, label(pack),
                        mean_std([m['modes'] for m in ms], '{:.1f}'), ms[0]['n_modes'],
                        mean_std([100 * m['hq'] for m in ms], '{:.1f}'), mean_std([m['rev_kl_hq'] for m in ms], '{:.2f}'),
                        mean_std([m['rev_kl'] for m in ms], '{:.2f}'),
                        mean_std([100 * m['balanced_hq'] for m in ms], '{:.1f}'),
                        numpy.median([m['wall_time_s'] for m in ms]), len(ms), pm, ps, ph, phs, pk, pks))
    return rows, raw


def curves(args, path):
    """Modes, HQ and reverse KL (HQ samples) per epoch, mean over seeds, one line per (data, pack)."""
    return mode_curves([('{} {}'.format(dataset, label(pack)), [log for _, _, log in load(args, dataset, pack)])
                        for dataset, pack in args.runs], path)


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='pacgan_benchmark.py')
    p.add_argument('--runs', nargs='+', type=parse_run, default=[parse_run(r) for r in ('ring:1', 'grid:1', 'grid:4')],
                   help='DATA:PACK pairs (default ring:1 grid:1 grid:4 — the rows the issue names)')
    p.add_argument('--epochs', type=cli.positive_int, default=400, help="epochs of 1,000 iterations (paper: 400)")
    p.add_argument('--iterations-per-epoch', type=cli.positive_int, default=1000,
                   help='iterations per epoch (default 1,000 as the paper: 100,000 samples / 100 per batch)')
    add_grid_arguments(p, 'results/pacgan.md', 'result/bench_pacgan', seeds=[0, 1, 2, 3, 4], jobs=True)
    p.add_argument('--summarize-only', action='store_true', help='write the report from the finished runs')
    args = p.parse_args(argv)
    check_outputs(p, args, pictures=False)

    total = 0.0
    if not args.summarize_only:
        jobs = []
        for seed in args.seeds:  # seed-major: every row gets seeds early
            for dataset, pack in args.runs:
                out = os.path.join(args.runs_dir, run_name(dataset, pack, seed))
                jobs.append((run_name(dataset, pack, seed), command(dataset, pack, seed, args, out), out))
        total = run_jobs(jobs, args.jobs)
    rows, raw = summarize(args)
    require_finished(rows, args.runs_dir)
    out_dir = os.path.dirname(os.path.abspath(args.report))
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.report))[0]
    figs = [f for f in [curves(args, os.path.join(out_dir, stem + '_curves.png'))] +
            [kde_figure([(label(pack), os.path.join(args.runs_dir, run_name(d, pack, args.seeds[0])))
                         for d, pack in args.runs if d == dataset], os.path.join(out_dir, '{}_{}.png'.format(stem, dataset)))
             for dataset in ('ring', 'grid')] if f]
    cli.save_json(os.path.join(out_dir, stem + '_runs.json'), raw)
    run_walls = sum(m['wall_time_s'] for runs in raw.values() for m in runs) / 60.0
    timing = ('--summarize-only: tabulated the finished runs' if args.summarize_only else
              "this call's wall time {:.1f} min, {} runs at a time".format(total / 60.0, args.jobs)) + \
        "; the runs' own wall times sum to {:.1f} min".format(run_walls)
    write_report(args.report, REPORT.format(
        argv=' '.join(argv if argv is not None else sys.argv[1:]), timing=timing, epochs=args.epochs,
        iters=args.iterations_per_epoch * args.epochs, ipe=args.iterations_per_epoch, seeds=', '.join(map(str, args.seeds)), rows='\n'.join(rows),
        example=display_command(command('grid', 4, 0, args, os.path.join(args.runs_dir, run_name('grid', 4, 0)))),
        figures='\n'.join('![{0}]({0})'.format(os.path.basename(f)) for f in figs)))
    print('wrote', args.report)


REPORT = """# PacGAN's synthetic experiment: the mode metric against a published table

Generated by `python benchmarks/pacgan_benchmark.py {argv}` on the repository's 2-core CPU machine, one BLAS
thread per run ({timing}; runs finished by earlier calls are reused).  One run, for example: `{example}`.

Setting (`--preset pacgan`, Lin et al. 2018 §5 and their code): ring of 8 (radius 1, σ 0.01) and 5 × 5 grid
(spacing 2, σ 0.05); G z 2 → 4 × (400, BN, ReLU) → 2; D 3 × 200 maxout (5 pieces) → 1 on m packed samples;
N(0, 0.02) weights; Adam 1e-4, β1 0.8; 100 packs per batch; simultaneous D/G updates (the ALI code they built
on).  Metrics on 2,500 samples: modes with ≥ 1 sample within 3σ; HQ = fraction within 3σ of the nearest mode;
**reverse KL over the high-quality samples** (the PacGAN code's definition, so this is the column to compare);
reverse KL over all samples (this repository's older figure); balanced HQ (each mode's share of high-quality
samples, capped at its 1/K; `ganlib/metrics.py`).

**Length: {iters} iterations ({epochs} epochs × {ipe}) per run — the paper trained 400 epochs × 1,000.**  Seeds {seeds};
mean ± std over seeds; the published column is PacGAN Table 1 (10 trials).

| data | method | modes | HQ % | rev-KL (HQ) | rev-KL (all) | balanced HQ % | wall s | seeds | PacGAN Table 1: modes / HQ / rev-KL |
|---|---|---|---|---|---|---|---|---|---|
{rows}

## Figures

Metrics per epoch (mean over seeds), then scatter + KDE of the first seed's samples per (data, method):

{figures}
"""

if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
