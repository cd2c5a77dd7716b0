#!/usr/bin/env python
"""FID against compute: image runs whose generator updates cost different amounts, compared at equal compute.

Each ``--curve JSON VARIANT MS`` takes one variant's runs from a benchmark's ``_runs.json`` (as
``lsgan_mnist_benchmark.py`` writes it: per run the FID after every epoch and the iteration it was scored at) and
the measured cost of one of its generator updates in ms (``benchmarks/speed.py``-style medians, timed side by side
so that the ratio, not the machine's speed, is what counts).  Compute is counted in updates of the first curve:
iteration × MS / first MS.  Writes a figure (FID against that compute, one line per seed) and prints, against each curve
in turn, every run's FID at that curve's mean final compute and the compute at which it first scores below that
curve's mean final FID.  Wall times recorded in the runs are not used: on a shared machine they depend on the load.

  python benchmarks/equal_cost.py --curve results/lsgan_mnist_gan_long_runs.json gan-bn 1000 \\
      --curve results/lsgan_mnist_full_runs.json wgan-gp-bn 4200 --out results/lsgan_mnist_equal_cost.png
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import numpy  # noqa: E402

from benchmarks.common import save_fid_axes  # noqa: E402
from ganlib import cli  # noqa: E402


def load_curves(specs):
    """[(variant, ms, [run records])] from ``--curve`` triples; a bad file, variant or cost is a CleanExit."""
    curves = []
    for path, variant, ms in specs:
        try:
            cost = cli.positive_float(ms)
        except Exception as e:
            raise cli.CleanExit('--curve {} {} {}: the cost in ms per update: {}'.format(path, variant, ms, e))
        try:
            with open(path) as f:
                runs = json.load(f)
        except (OSError, ValueError) as e:
            raise cli.CleanExit('--curve {}: cannot read a runs record ({})'.format(
                path, getattr(e, 'strerror', None) or str(e).splitlines()[0]))
        records = runs.get(variant) if isinstance(runs, dict) else None
        if not records or not all('fid' in r and 'at_iteration' in r for r in records):
            raise cli.CleanExit('--curve {}: no runs of {!r} with FID curves (it holds: {})'.format(
                path, variant, ', '.join(sorted(runs)) if isinstance(runs, dict) else 'no variants'))
        curves.append((variant, cost, records))
    return curves


def compute(record, cost, unit):
    """The compute at each scored epoch of a run, in updates of cost ``unit``."""
    return numpy.asarray(record['at_iteration'], dtype=float) * cost / unit


def comparison(curves, ref):
    """Against curve ``ref``: its mean final compute (the budget) and mean final FID (the target), and per run of
    every curve (variant, seed, final compute, FID at the last epoch within the budget and that epoch (None where the run ended before it), the compute
    at which the FID first falls below the target or None).  Compute is in updates of the first curve."""
    unit = curves[0][1]
    _, ref_cost, reference = curves[ref]
    budget = float(numpy.mean([compute(r, ref_cost, unit)[-1] for r in reference]))
    target = float(numpy.mean([r['fid'][-1] for r in reference]))
    rows = []
    for variant, cost, records in curves:
        for r in records:
            x, fid = compute(r, cost, unit), numpy.asarray(r['fid'], dtype=float)
            within = numpy.nonzero(x <= budget * (1 + 1e-9))[0]
            if x[-1] < budget * (1 - 1e-9):  # the run ended before the budget: no FID there
                within = within[:0]
            below = numpy.nonzero(fid < target)[0]
            rows.append(dict(variant=variant, seed=r.get('seed'), final_compute=float(x[-1]),
                             fid_at_budget=float(fid[within[-1]]) if len(within) else None,
                             epoch_at_budget=int(within[-1]) + 1 if len(within) else None,
                             below_target_at=float(x[below[0]]) if len(below) else None))
    return budget, target, rows


def figure(curves, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from benchmarks.lsgan_mnist_benchmark import VARIANTS
    unit = curves[0][1]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for i, (variant, cost, records) in enumerate(curves):
        label = VARIANTS[variant][0] if variant in VARIANTS else variant
        for j, r in enumerate(records):
            ax.plot(compute(r, cost, unit), r['fid'], color='C{}'.format(i), alpha=0.8, lw=1.2,
                    label='{}, {} iterations ({} seed{}, {:g} ms per update)'.format(
                        label, '/'.join(sorted({str(r['at_iteration'][-1]) for r in records})), len(records),
                        's' if len(records) > 1 else '', cost) if j == 0 else None)
    save_fid_axes(fig, ax, path, 'compute, in updates of {:g} ms (iterations × ms per update ÷ {:g})'.format(
        unit, unit), 'FID at equal compute, one line per seed')


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='equal_cost.py')
    p.add_argument('--curve', nargs=3, action='append', required=True, metavar=('JSON', 'VARIANT', 'MS'),
                   help="a benchmark's _runs.json, one of its variants and the measured ms per generator update; "
                        'the first curve sets the unit')
    p.add_argument('--out', required=True, help='the figure (PNG)')
    args = p.parse_args(argv)
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        p.error('--out {}: its folder does not exist'.format(args.out))
    curves = load_curves(args.curve)
    figure(curves, args.out)
    print('Compute in updates of {} ({:g} ms each).'.format(curves[0][0], curves[0][1]))
    for ref, (name, _, _) in enumerate(curves):
        budget, target, rows = comparison(curves, ref)
        print('\nAgainst {}: budget = its mean final compute, {:.0f}; target = its mean final FID, {:.1f}.'.format(
            name, budget, target))
        print('| variant | seed | final compute | FID at the budget (epoch) | compute when first below the target |')
        print('|---|---|---|---|---|')
        for r in rows:
            print('| {} | {} | {:.0f} | {} | {} |'.format(
                r['variant'], r['seed'], r['final_compute'],
                '{:.1f} ({})'.format(r['fid_at_budget'], r['epoch_at_budget']) if r['fid_at_budget'] is not None
                else '– (ended before it)' if r['final_compute'] < budget else '– (its first epoch is past it)',
                '{:.0f}'.format(r['below_target_at']) if r['below_target_at'] is not None else 'never'))
    print('wrote', args.out)
    return 0


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
