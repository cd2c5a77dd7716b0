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
Three shares follow the table: unrolled K = 5 against the plain GAN (Chainer and PyTorch), the part of an unrolled
update spent caching and restoring D and its optimiser (``WeightCache.save`` / ``restore``), and the part of a real
``train_mog.py`` run (its default extensions, ``EXTENSION_RUN``) spent outside the updates.
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
    # the stacked-MNIST benchmark's nets (results/stacked_mnist_10k.md): few channels, 32 x 32
    ('dcgan32-stacked', 'train_anime.py', ['--dataset', 'stacked-mnist', '--data-dir', '{mnist}', '--stacked-size',
                                           '256', '--size', '32', '--g-ch', '64', '--d-ch', '16', '--batch-size',
                                           '64'], 1.3),
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
    cache = {}
    if script == 'train_mog.py':  # only unrolled updates call it
        from ganlib.unrolled import WeightCache
        for name in ('save', 'restore'):
            _add_timer(WeightCache, name, cache)
    times = []
    with reporter.scope({}), chainer.using_config('train', True), training_config():
        for i in range(warmup + updates):
            if i == warmup:
                cache.clear()
            start = time.perf_counter()
            updater.update()
            if i >= warmup:
                times.append(1000 * (time.perf_counter() - start))
    result = dict(median=sorted(times)[len(times) // 2], min=min(times), max=max(times), chainer=chainer.__version__,
                  peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if cache:
        result['cache_share'] = 1000 * sum(cache.values()) / sum(times)
    try:  # the kernel this checkout's process runs (a checkout may choose its own: ganlib/blas_kernel.py)
        from ganlib import machine
        result['blas'] = (machine.openblas() or {}).get('core')
    except (ImportError, AttributeError):
        pass
    return result


def _add_timer(owner, name, seconds):
    """Wraps ``owner.name`` so that the seconds its calls take add up in ``seconds[name]`` (this process only
    measures, so patching the class is harmless)."""
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
    setattr(owner, name, timed)


# a real train_mog.py run with its default extensions (evaluation, samples and curves every epoch or every
# --plot-every, log, snapshots): its wall time against the time its updates took
EXTENSION_RUN = ['--unroll', '0', '--epochs', '5', '--iterations-per-epoch', '500']


def extension_worker(root, out):
    """In this process: ``root``'s train_mog.py trains EXTENSION_RUN into ``out``; the share of its training wall
    time (``metrics.json``) spent outside ``updater.update()``."""
    sys.path.insert(0, root)
    os.chdir(root)
    import ganlib.compat  # noqa: F401
    from chainer.training import updaters
    import train_mog
    seconds = {}
    _add_timer(updaters.StandardUpdater, 'update', seconds)
    train_mog.main(EXTENSION_RUN + ['--quiet', '--out', out])
    with open(os.path.join(out, 'metrics.json')) as f:
        wall = json.load(f)['wall_time_s']
    return dict(extension_share=1.0 - seconds['update'] / wall, wall_s=wall, update_s=seconds['update'])


def measure(cmd):
    from ganlib.blas_kernel import without_choice  # each checkout picks its own BLAS kernel
    env = dict(without_choice(os.environ), **ONE_THREAD)
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
    a('--updates', type=cli.positive_int, default=20, help='timed updates per process (dcgan64: a fifth)')
    a('--rounds', type=cli.positive_int, default=3, help='interleaved rounds (default 3)')
    a('--torch-python', default=None, help='a Python with PyTorch: adds the PyTorch column')
    a('--baseline-root', default=None, help='a checkout of an older commit: adds the before column')
    a('--no-extensions', action='store_true',
      help='skip the extension share (a 2,500-iteration train_mog.py run per round and column)')
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
    first (so that an older checkout's modules are the ones loaded); NAME ``extensions``: the extension share."""
    root, name, updates, mnist = argv
    if name == 'extensions':
        with tempfile.TemporaryDirectory(prefix='speed-extensions-') as out:
            print(json.dumps(extension_worker(root, os.path.join(out, 'run'))))
        return 0
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
            n = max(3, args.updates // 5) if name == 'dcgan64' else args.updates
            for col, root in columns:
                raw[name][col].append(measure([sys.executable, os.path.abspath(__file__), '--worker', root, name,
                                               str(n), args.data_dir]))
            if args.torch_python:
                raw[name]['torch'].append(measure([args.torch_python, os.path.join(ROOT, 'benchmarks',
                                                                                   'speed_torch.py'), name, str(n)]))
            print('round {} {}: {}'.format(rnd + 1, name, ', '.join(
                '{} {:.1f} ms'.format(col, v[-1]['median']) if v and 'median' in v[-1] else
                '{} {}'.format(col, v[-1].get('error')) for col, v in raw[name].items() if v)), flush=True)
        for col, root in columns if not args.no_extensions else []:
            share = raw.setdefault('extensions', {}).setdefault(col, [])
            share.append(measure([sys.executable, os.path.abspath(__file__), '--worker', root, 'extensions', '0',
                                  args.data_dir]))
            print('round {} extensions {}: {}'.format(rnd + 1, col, share[-1]), flush=True)
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
             'median ms per update after 2 warm-up updates ({} updates; dcgan64 {}), then the median (min–max) over '
             '{} interleaved rounds.{}'.format(machine.summary(), args.updates, max(3, args.updates // 5),
                                                 args.rounds, kernels(raw, columns)), '',
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
    lines += shares(raw, summary)
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


def kernels(raw, columns):
    """' OpenBLAS kernels run: after X, before Y.' from the workers' own reports ('' where none said)."""
    found = []
    for col, _ in columns:
        names = sorted({r['blas'] for name in raw if name != 'extensions' for r in raw[name].get(col, [])
                        if r.get('blas')})
        if names:
            found.append('{} {}'.format(col, '/'.join(names)))
    return ' OpenBLAS kernels the Chainer processes ran: {}.'.format(', '.join(found)) if found else ''


def _median_range(values, fmt):
    values = sorted(values)
    return '{} ({}–{})'.format(fmt(values[len(values) // 2]), fmt(values[0]), fmt(values[-1])) if values else '–'


def shares(raw, summary):
    """The report's lines on the unrolled/plain ratio, WeightCache's share and the extensions' share."""
    lines = []
    ratios = []
    for col, label in (('after', 'this tree'), ('before', 'before'), ('torch', 'PyTorch')):
        plain, unrolled = (summary.get(n, {}).get(col) for n in ('mog-plain', 'mog-unrolled5'))
        if plain and unrolled:
            ratios.append('{} {:.2f}×'.format(label, unrolled['median'] / plain['median']))
    if ratios:
        lines.append('- Unrolled K = 5 / plain GAN (medians): ' + ', '.join(ratios) + '.')
    pct = '{:.1f} %'.format
    cache = [r['cache_share'] * 100 for r in raw.get('mog-unrolled5', {}).get('after', []) if 'cache_share' in r]
    if cache:
        lines.append('- `WeightCache.save` + `restore` (caching D and its Adam state before the K unrolling steps, '
                     'restoring them after): {} of an unrolled K = 5 update in this tree, median (min–max) over '
                     'rounds.'.format(_median_range(cache, pct)))
    for col, label in (('after', 'this tree'), ('before', 'before')):
        ext = [r['extension_share'] * 100 for r in raw.get('extensions', {}).get(col, []) if 'extension_share' in r]
        if ext:
            lines.append('- Outside the updates (Trainer extensions and loop) in `train_mog.py {}` with its default '
                         'extensions, {}: {} of the training wall time.'.format(
                             ' '.join(EXTENSION_RUN), label, _median_range(ext, pct)))
    return ['', 'Shares:', ''] + lines if lines else []


if __name__ == '__main__':
    if sys.argv[1:2] == ['--worker']:
        sys.exit(worker(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
