#!/usr/bin/env python
"""Speed, measured side by side: ms per update of each workload in Chainer (this tree and, optionally, an older
checkout for the before/after column) and, when a Python with PyTorch is given, the same models in PyTorch.

  .venv/bin/python benchmarks/speed.py --data-dir MNIST_DIR
  .venv/bin/python benchmarks/speed.py --data-dir MNIST_DIR --torch-python /opt/torchbench/bin/python \\
      --baseline-root /tmp/before     # a checkout of the older commit (git worktree add /tmp/before REV)

Every measurement is its own process with one BLAS/OpenMP thread: ``--updates`` timed updates after warm-up,
their median.  The processes of one round run interleaved (this tree, baseline, PyTorch, for each workload),
``--rounds`` rounds; the report gives the median over rounds and the min–max of the per-round medians, the ratios
against PyTorch and against the targets of the speed issue, peak memory, the machine and this command.
PyTorch is never needed by the scripts, the tests or CI (``requirements-bench.txt``).
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name → (script, flags, target ratio Chainer / PyTorch).  {mnist} is filled in at run time.
WORKLOADS = [
    ('mog-plain', 'train_mog.py', ['--unroll', '0'], 1.5),
    ('mog-unrolled5', 'train_mog.py', ['--unroll', '5'], 1.5),
    ('mog-md', 'train_mog.py', ['--unroll', '0', '--minibatch-discrimination'], 1.0),
    ('ssl-post', 'train_mnist_ssl.py', ['--data-dir', '{mnist}', '--labels', '100'], 1.0),
    ('dcgan64', 'train_anime.py', ['--dataset', 'stacked-mnist', '--data-dir', '{mnist}', '--stacked-size', '256',
                                   '--size', '64', '--batch-size', '64'], 1.3),
]
NAMES = [w[0] for w in WORKLOADS]
ONE_THREAD = dict(OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', MKL_NUM_THREADS='1')


def chainer_worker(root, script, argv, updates, warmup):
    """In this process: ``root``'s script builds its updater from ``argv``; median ms of ``updates`` updates."""
    sys.path.insert(0, root)
    os.chdir(root)
    import ganlib.compat  # noqa: F401
    import chainer
    module = __import__(script[:-3])
    args = module.parse_args(argv)
    device = chainer.get_device('@numpy')
    if script == 'train_mog.py':
        _, gen, dis, updater = module.build(args, device)
    elif script == 'train_mnist_ssl.py':
        gen, dis, _, updater = module.build(args, module.load_data(args), device)
    else:
        gen, dis, updater = module.build(args, module.load_dataset(args, quiet=True), device)
    try:  # as the scripts train (this tree); an older checkout may not have it
        from ganlib.run import training_config
    except ImportError:
        import contextlib
        training_config = contextlib.nullcontext
    reporter = chainer.Reporter()
    reporter.add_observer('gen', gen)
    reporter.add_observer('dis', dis)
    times = []
    with reporter.scope({}), chainer.using_config('train', True), training_config():
        for i in range(warmup + updates):
            start = time.perf_counter()
            updater.update()
            if i >= warmup:
                times.append(1000 * (time.perf_counter() - start))
    times.sort()
    return dict(median=times[len(times) // 2], min=times[0], max=times[-1], chainer=chainer.__version__,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure(cmd):
    env = dict(os.environ, **ONE_THREAD)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    if proc.returncode:
        return dict(error=(proc.stderr.strip().splitlines() or ['exit {}'.format(proc.returncode)])[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_args(argv=None):
    sys.path.insert(0, ROOT)
    from ganlib import cli
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='speed.py')
    a = p.add_argument
    a('--data-dir', required=True, help='folder with the four MNIST IDX files (SSL and DCGAN workloads)')
    a('--only', nargs='+', choices=NAMES, default=None, metavar='NAME', help='workloads: ' + ', '.join(NAMES))
    a('--updates', type=cli.positive_int, default=20, help='timed updates per process (DCGAN: a fifth)')
    a('--rounds', type=cli.positive_int, default=3, help='interleaved rounds (default 3)')
    a('--torch-python', default=None, help='a Python with PyTorch: adds the PyTorch column')
    a('--baseline-root', default=None, help='a checkout of an older commit: adds the before column')
    a('--report', default=os.path.join(ROOT, 'results', 'speed.md'),
      help='the Markdown report to write; hand-written notes below its notes marker are kept '
           '(default results/speed.md)')
    args = p.parse_args(argv)
    for flag, path in (('--data-dir', args.data_dir), ('--baseline-root', args.baseline_root)):
        if path is not None and not os.path.isdir(path):
            p.error('{}: no such folder: {}'.format(flag, path))
    if args.torch_python is not None and not os.access(args.torch_python, os.X_OK):
        p.error('--torch-python: not an executable: {}'.format(args.torch_python))
    from benchmarks.common import check_outputs
    check_outputs(p, args, runs=None, pictures=False)
    return args


def stats(results):
    ok = [r['median'] for r in results if 'median' in r]
    if not ok:
        return None
    ok.sort()
    return dict(median=ok[len(ok) // 2], min=ok[0], max=ok[-1],
                peak_rss_mb=max(r['peak_rss_mb'] for r in results if 'median' in r))


def worker(argv):
    """``speed.py --worker ROOT NAME UPDATES MNIST_DIR``: one measurement of ROOT's code, nothing else imported
    first (so that an older checkout's modules are the ones loaded)."""
    root, name, updates, mnist = argv
    _, script, flags, _ = next(w for w in WORKLOADS if w[0] == name)
    never_written = os.path.join(tempfile.gettempdir(), 'speed-benchmark-out')  # build() writes nothing
    script_argv = [f.format(mnist=os.path.abspath(mnist)) for f in flags] + ['--quiet', '--out', never_written]
    print(json.dumps(chainer_worker(root, script, script_argv, int(updates), warmup=2)))
    return 0


def main(argv=None):
    args = parse_args(argv)
    chosen = [w for w in WORKLOADS if args.only is None or w[0] in args.only]
    columns = [('after', ROOT)] + ([('before', os.path.abspath(args.baseline_root))] if args.baseline_root else [])
    raw = {name: {col: [] for col in [c for c, _ in columns] + ['torch']} for name, _, _, _ in chosen}
    start = time.time()
    for rnd in range(args.rounds):
        for name, script, _, _ in chosen:
            n = max(3, args.updates // 5) if name.startswith('dcgan') else args.updates
            for col, root in columns:
                raw[name][col].append(measure([sys.executable, os.path.abspath(__file__), '--worker', root, name,
                                               str(n), args.data_dir]))
            if args.torch_python:
                raw[name]['torch'].append(measure([args.torch_python, os.path.join(ROOT, 'benchmarks',
                                                                                   'speed_torch.py'), name, str(n)]))
            print('round {} {}: {}'.format(rnd + 1, name, ', '.join(
                '{} {:.1f} ms'.format(col, v[-1]['median']) if v and 'median' in v[-1] else
                '{} {}'.format(col, v[-1].get('error')) for col, v in raw[name].items() if v)), flush=True)
    write(args, chosen, raw, columns, time.time() - start, argv if argv is not None else sys.argv[1:])
    return 0


def write(args, chosen, raw, columns, wall, argv):
    def fmt(s):
        return '{:.1f} ({:.1f}–{:.1f})'.format(s['median'], s['min'], s['max']) if s else '–'

    def ratio(a, b):
        if not a or not b:
            return None
        return dict(median=a['median'] / b['median'], min=a['min'] / b['max'], max=a['max'] / b['min'])
    from ganlib import machine
    lines = ['# Speed: Chainer (this repository) and PyTorch, side by side', '',
             'Generated by `python benchmarks/speed.py {}` in {:.0f} s.'.format(' '.join(argv), wall), '',
             'Machine: {}. One BLAS/OpenMP thread per process; each number is a process\'s '
             'median ms per update after 2 warm-up updates ({} updates; DCGAN {}), then the median (min–max) over '
             '{} interleaved rounds.'.format(machine.summary(), args.updates, max(3, args.updates // 5),
                                               args.rounds), '',
             '| workload | before ms | after ms | after/before | PyTorch ms | after/PyTorch (min–max) | target | met | '
             'peak MB (after / PyTorch) |',
             '|---|---|---|---|---|---|---|---|---|']
    summary = {}
    for name, _, _, target in chosen:
        after, before, torch = stats(raw[name]['after']), stats(raw[name].get('before', [])), stats(raw[name]['torch'])
        gain, vs = ratio(after, before), ratio(after, torch)
        summary[name] = dict(after=after, before=before, torch=torch, target=target)
        lines.append('| {} | {} | {} | {} | {} | {} | ≤ {}× | {} | {} |'.format(
            name, fmt(before), fmt(after), '{:.2f}×'.format(gain['median']) if gain else '–', fmt(torch),
            '{:.2f}× ({:.2f}–{:.2f})'.format(vs['median'], vs['min'], vs['max']) if vs else '–', target,
            ('yes' if vs['median'] <= target else 'no') if vs else '–',
            '{:.0f} / {}'.format(after['peak_rss_mb'], '{:.0f}'.format(torch['peak_rss_mb']) if torch else '–')
            if after else '–'))
    errors = ['- {} {}: {}'.format(name, col, r['error']) for name in raw for col in raw[name]
              for r in raw[name][col] if 'error' in r]
    if errors:
        lines += ['', 'Failed measurements:', ''] + sorted(set(errors))
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    sys.path.insert(0, ROOT)
    from benchmarks.common import write_report
    write_report(args.report, '\n'.join(lines) + '\n\n')
    with open(os.path.splitext(args.report)[0] + '_runs.json', 'w') as f:
        json.dump(dict(raw=raw, summary=summary, argv=list(argv)), f, indent=1)
    print('wrote {}'.format(args.report))


if __name__ == '__main__':
    if sys.argv[1:2] == ['--worker']:
        sys.exit(worker(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
