#!/usr/bin/env python
"""Does this tree train exactly as an older checkout?  Short runs of every training script, in both trees, with
the same command; their last snapshots are compared array by array (parameters, optimizer moments and step
counts, random-stream states, iterators, extensions' state), ignoring only the log, the saved configuration and
the elapsed time, which name paths and times.

  git worktree add /tmp/before REV
  .venv/bin/python benchmarks/same_as_baseline.py --baseline-root /tmp/before --data-dir MNIST_DIR

A speed change that keeps every number is confirmed when every line says ``bit-exact``; then no published
result depends on which of the two trees made it.  (Bit-exact holds on one machine: BLAS rounding differs
between CPUs.)  Exit status 0 when all runs match, 1 when one differs or fails.

  .venv/bin/python benchmarks/same_as_baseline.py --runs RUN_A RUN_B

compares two finished runs instead (a long run trained again by a newer tree, say): their last snapshots array by
array as above, and their logs entry by entry except the elapsed time.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ganlib import cli  # noqa: E402

IGNORED = ('extensions/LogReport/_log', 'extensions/RunConfig/config', '_snapshot_elapsed_time')
_MOG = ['train_mog.py', '--epochs', '2', '--iterations-per-epoch', '40', '--snapshot-every', '1']
_SSL = ['train_mnist_ssl.py', '--data-dir', '{mnist}', '--epochs', '2', '--iterations-per-epoch', '8',
        '--eval-every', '8', '--snapshot-every', '1']
_PROGRESSIVE = ['train_progressive.py', '--data-dir', '{mnist}', '--size', '16', '--ch', '8', '--z-dim', '8',
                '--phase-images', '24', '--batch-size', '8', '--max-images', '64', '--snapshot-every', '1',
                '--log-every', '2', '--grid', '3', '--score-samples', '0']
_DCGAN = ['train_anime.py', '--dataset', 'mnist', '--data-dir', '{mnist}', '--size', '32', '--batch-size', '8',
          '--g-ch', '16', '--d-ch', '8', '--z-dim', '8', '--epochs', '2', '--iterations-per-epoch', '3', '--grid', '2',
          '--log-every', '1']
# name → command (the script first); {mnist} is the --data-dir
RUNS = {
    'mog-plain': _MOG + ['--unroll', '0'],
    'mog-unrolled5': _MOG + ['--unroll', '5'],
    'mog-unrolled3-second-order': _MOG + ['--unroll', '3', '--unroll-mode', 'second-order'],
    'mog-feature-matching': _MOG + ['--unroll', '0', '--feature-matching'],
    'mog-minibatch-disc': _MOG + ['--unroll', '0', '--minibatch-discrimination', '--md-kernels', '16', '--md-dim', '4'],
    'mog-lsgan-post': _MOG + ['--preset', 'lsgan-post'],
    'mog-label-smoothing': _MOG + ['--unroll', '0', '--label-smoothing', '0.9'],
    'mog-wgan-gp': _MOG + ['--unroll', '0', '--loss', 'wgan', '--gradient-penalty', '10', '--n-critic', '5'],
    'mog-wgan-clip': _MOG + ['--unroll', '0', '--loss', 'wgan', '--weight-clip', '0.01', '--optimizer', 'rmsprop'],
    'mog-hinge-sn': _MOG + ['--unroll', '0', '--loss', 'hinge', '--spectral-norm'],
    'mog-pacgan2': _MOG + ['--preset', 'pacgan', '--pack', '2'],
    'ssl-post': _SSL + ['--labels', '100'],
    'ssl-post-minibatch-disc': _SSL + ['--labels', '100', '--minibatch-discrimination'],
    'ssl-paper-averaged': _SSL + ['--labels', '20', '--model', 'paper', '--eval-average', '1e-3',
                                  '--lr-schedule', '0:1e-3,1:3e-4'],
    'pggan': _PROGRESSIVE,
    'stylegan-ns-r1': _PROGRESSIVE + ['--generator', 'stylegan', '--loss', 'ns-r1'],
    'dcgan-mnist': _DCGAN,
    'dcgan-mnist-minibatch-disc': _DCGAN + ['--minibatch-discrimination'],
    'dcgan-mnist-wgan-gp': _DCGAN + ['--loss', 'wgan', '--gradient-penalty', '10', '--n-critic', '2',
                                     '--d-norm', 'layer'],
    'dcgan-stacked-pacgan2': ['train_anime.py', '--dataset', 'stacked-mnist', '--data-dir', '{mnist}',
                              '--stacked-size', '64', '--size', '32', '--batch-size', '8', '--g-ch', '16',
                              '--d-ch', '4', '--z-dim', '8', '--epochs', '2', '--iterations-per-epoch', '3',
                              '--grid', '2', '--log-every', '1', '--pack', '2'],
    'conditional': ['train_conditional.py', '--data-dir', '{mnist}', '--max-images', '48', '--batch-size', '8',
                    '--epochs', '2', '--iterations-per-epoch', '2', '--g-ch', '8', '--d-ch', '4', '--z-dim', '8',
                    '--score-samples', '20', '--grid', '3', '--log-every', '1'],
}


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='same_as_baseline.py')
    p.add_argument('--baseline-root', help='a checkout of the older commit (git worktree add DIR REV)')
    p.add_argument('--data-dir', help='folder with the four MNIST IDX files')
    p.add_argument('--runs', nargs=2, metavar=('RUN_A', 'RUN_B'),
                   help='instead: compare two finished runs (output folders of a training script)')
    p.add_argument('--only', nargs='+', choices=sorted(RUNS), default=None, metavar='NAME',
                   help='runs to compare: ' + ', '.join(RUNS))
    args = p.parse_args(argv)
    if args.runs:
        for path in args.runs:
            if not os.path.isfile(os.path.join(path, 'log')):
                p.error('--runs: not a run folder (no log): {}'.format(path))
        return args
    for flag, path in (('--baseline-root', args.baseline_root), ('--data-dir', args.data_dir)):
        if path is None:
            p.error('{} is required (or --runs RUN_A RUN_B)'.format(flag))
        if not os.path.isdir(path):
            p.error('{}: no such folder: {}'.format(flag, path))
    if not os.path.isfile(os.path.join(args.baseline_root, 'train_mog.py')):
        p.error('--baseline-root: not a checkout of this repository (no train_mog.py): {}'.format(args.baseline_root))
    return args


def last_snapshot(out):
    found = glob.glob(os.path.join(out, 'snapshot_iter_*'))
    return max(found, key=lambda p: int(p.rsplit('_', 1)[1])) if found else None


def differences(a_path, b_path):
    """Names of the arrays that differ between two snapshots (present in one only, or unequal)."""
    with numpy.load(a_path) as a, numpy.load(b_path) as b:
        names = (set(a.files) | set(b.files)) - set(IGNORED)
        return sorted(k for k in names if k not in a.files or k not in b.files or not numpy.array_equal(a[k], b[k]))


def train(root, cmd, out):
    env = dict(os.environ, OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.run([sys.executable] + cmd + ['--quiet', '--out', out], cwd=root, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return None if proc.returncode == 0 else (proc.stdout.strip().splitlines() or ['exit {}'.format(proc.returncode)])[-1]


def compare(name, cmd, baseline_root, work):
    """One line: ``name: bit-exact (N arrays, snapshot_iter_I)``, or what differs or failed."""
    outs = []
    for tag, root in (('baseline', baseline_root), ('this', ROOT)):
        out = os.path.join(work, name + '-' + tag)
        error = train(root, cmd, out)
        if error:
            return False, '{}: {} tree failed: {}'.format(name, tag, error)
        snap = last_snapshot(out)
        if snap is None:
            return False, '{}: {} tree wrote no snapshot'.format(name, tag)
        outs.append(snap)
    if os.path.basename(outs[0]) != os.path.basename(outs[1]):
        return False, '{}: last snapshots differ in iteration ({} vs {})'.format(
            name, *map(os.path.basename, outs))
    diff = differences(*outs)
    if diff:
        return False, '{}: DIFFERS in {} arrays: {}'.format(name, len(diff), ', '.join(diff[:6]))
    with numpy.load(outs[1]) as snap:
        n = len(set(snap.files) - set(IGNORED))
    return True, '{}: bit-exact ({} arrays, {})'.format(name, n, os.path.basename(outs[1]))


def compare_runs(a, b):
    """One line: ``A = B: bit-exact (N arrays, snapshot_iter_I; L log entries)``, or what differs."""
    name = '{} = {}'.format(a, b)
    snaps = [last_snapshot(run) for run in (a, b)]
    if None in snaps:
        return False, '{}: no snapshot in {}'.format(name, (a, b)[snaps.index(None)])
    if os.path.basename(snaps[0]) != os.path.basename(snaps[1]):
        return False, '{}: last snapshots differ in iteration ({} vs {})'.format(name, *map(os.path.basename, snaps))
    diff = differences(*snaps)
    if diff:
        return False, '{}: DIFFERS in {} arrays: {}'.format(name, len(diff), ', '.join(diff[:6]))
    logs = []
    for run in (a, b):
        with open(os.path.join(run, 'log')) as f:
            logs.append([{k: v for k, v in entry.items() if k != 'elapsed_time'} for entry in json.load(f)])
    if logs[0] != logs[1]:
        at = next((i for i, (x, y) in enumerate(zip(*logs)) if x != y), min(map(len, logs)))
        return False, '{}: logs differ from entry {} on ({} and {} entries)'.format(name, at + 1, *map(len, logs))
    with numpy.load(snaps[1]) as snap:
        n = len(set(snap.files) - set(IGNORED))
    return True, '{}: bit-exact ({} arrays, {}; {} log entries)'.format(name, n, os.path.basename(snaps[1]),
                                                                        len(logs[1]))


def main(argv=None):
    args = parse_args(argv)
    if args.runs:
        same, line = compare_runs(*args.runs)
        print(line, flush=True)
        return 0 if same else 1
    mnist = os.path.abspath(args.data_dir)
    ok = True
    with tempfile.TemporaryDirectory(prefix='same-as-baseline-') as work:
        for name in args.only or list(RUNS):
            cmd = [c.format(mnist=mnist) for c in RUNS[name]]
            same, line = compare(name, cmd, os.path.abspath(args.baseline_root), work)
            ok &= same
            print(line, flush=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
