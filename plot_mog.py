#!/usr/bin/env python
"""Put several train_mog.py runs in one KDE figure, one row per run (like the unrolled post's figure).

  python plot_mog.py result/mog_k0 result/mog_k5 --labels "GAN" "unrolled K=5" -o result/compare.png
"""
import json
import os
import sys

import ganlib.compat  # noqa: F401

from ganlib import cli
from ganlib.mog import make_mixture
from ganlib.plots import load_sample_history, mog_run_label, pick_epochs, plot_kde_rows


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='plot_mog.py')
    p.add_argument('runs', nargs='+', help='output directories of train_mog.py')
    p.add_argument('--labels', nargs='+', default=None, help='one row label per run')
    p.add_argument('--max-panels', type=cli.positive_int, default=8, help='KDE panels per row at most (default 8)')
    p.add_argument('-o', '--output', default='mog_compare.png', help='output PNG (default mog_compare.png)')
    args = p.parse_args(argv)
    if args.labels and len(args.labels) != len(args.runs):
        p.error('--labels needs one label per run ({} runs, {} labels)'.format(len(args.runs), len(args.labels)))
    rows, mixture = [], None
    for i, run in enumerate(args.runs):
        history = load_sample_history(run)
        if not history:
            raise cli.CleanExit('no samples in {} (expected {}/samples/epoch_*.npy from train_mog.py)'.format(
                run, run))
        cfg_path = os.path.join(run, 'args.json')
        cfg = json.load(open(cfg_path)) if os.path.isfile(cfg_path) else {}
        if mixture is None:
            mixture = make_mixture(cfg.get('dataset', 'ring'), cfg.get('std'), cfg.get('radius'),
                                   cfg.get('original_std_bug', False))
        label = mog_run_label(cfg, args.labels[i] if args.labels else None)
        chosen = pick_epochs([e for e, _ in history], args.max_panels)
        rows.append((label, [('epoch {}'.format(e), s) for e, s in history if e in chosen]))
    plot_kde_rows(rows, args.output, mixture.extent, mixture.means)
    print('wrote', args.output)


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
