#!/usr/bin/env python
"""Plot one logged value (e.g. validation accuracy) of several runs on one figure, from their Chainer logs.

  python plot_curves.py result/ssl_k1 result/ssl_k5 --labels "K=1" "K=5" -o result/ssl_accuracy.png
"""
import json
import os
import sys

import ganlib.compat  # noqa: F401

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from ganlib import cli  # noqa: E402


def read_curve(run, key, x_key):
    path = os.path.join(run, 'log')
    if not os.path.isfile(path):
        raise cli.CleanExit('no Chainer log in {} (expected {})'.format(run, path))
    try:
        entries = json.load(open(path))
    except ValueError as e:
        raise cli.CleanExit('{}: not a JSON log ({})'.format(path, e))
    points = [(e[x_key], e[key]) for e in entries if key in e and x_key in e]
    if not points:
        raise cli.CleanExit('{}: no {!r} values'.format(path, key))
    return zip(*points)


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='plot_curves.py')
    p.add_argument('runs', nargs='+', help='output directories (each with a Chainer "log")')
    p.add_argument('--key', default='validation/accuracy', help='logged value to plot')
    p.add_argument('--x', default='iteration', choices=('iteration', 'epoch'), help='x axis (default iteration)')
    p.add_argument('--labels', nargs='+', default=None, help='one legend label per run (default: the folder names)')
    p.add_argument('-o', '--output', default='curves.png', help='output PNG (default curves.png)')
    args = p.parse_args(argv)
    if args.labels and len(args.labels) != len(args.runs):
        p.error('--labels needs one label per run')
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, run in enumerate(args.runs):
        xs, ys = read_curve(run, args.key, args.x)
        ax.plot(xs, ys, label=args.labels[i] if args.labels else os.path.basename(os.path.normpath(run)))
    ax.set_xlabel(args.x)
    ax.set_ylabel(args.key)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print('wrote', args.output)


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
