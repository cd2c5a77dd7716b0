#!/usr/bin/env python
"""GPU check: every training script for a few iterations on a device, --resume exactness there,
evaluate.py and analogy.py on the runs, and ms/iteration on the device next to the CPU.

  .venv/bin/python benchmarks/gpu_check.py --data-dir MNIST_DIR --device @cupy:0      # writes results/gpu.md
  .venv/bin/python benchmarks/gpu_check.py --data-dir MNIST_DIR --device cpu --quick  # the CPU dry run
  .venv/bin/python benchmarks/gpu_check.py --data-dir MNIST_DIR --dry-run             # the plan, nothing run

MNIST_DIR is a folder with the four MNIST IDX files; the DCGAN workloads train on PNG digits written
from it (an image folder, as a user's faces would be) or on stacked MNIST.  Phases:
1. each workload's script runs 2 epochs of N iterations in a subprocess (exit status, outputs);
2. selected workloads resume from the epoch-1 snapshot: the final snapshot's updater state (models,
   optimizers, iterators, every RNG) must be bit-identical to the uninterrupted run's;
3. evaluate.py (SSL and stacked-MNIST runs) and analogy.py (a DCGAN run);
4. timing in this process: median ms per ``updater.update()`` after warm-up, synchronised, on the
   device and on the CPU (trainer extensions excluded).
"""
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401  (before chainer)

import chainer  # noqa: E402
import numpy  # noqa: E402

from benchmarks.common import check_outputs, display_command, write_report  # noqa: E402
from ganlib import cli  # noqa: E402

MOG = 'train_mog.py'
SSL = 'train_mnist_ssl.py'
ANIME = 'train_anime.py'
PROG = 'train_progressive.py'
COND = 'train_conditional.py'
# name → (script, flags, resume-checked).  {mnist} and {digits} are filled in at run time.
WORKLOADS = [
    ('mog-plain', MOG, ['--unroll', '0'], False),
    ('mog-unrolled5', MOG, ['--unroll', '5'], True),
    ('mog-second-order5', MOG, ['--unroll', '5', '--unroll-mode', 'second-order'], True),
    ('mog-md', MOG, ['--unroll', '0', '--minibatch-discrimination'], False),
    ('mog-wgan-gp', MOG, ['--unroll', '0', '--loss', 'wgan', '--gradient-penalty', '10'], True),
    ('mog-began', MOG, ['--unroll', '0', '--loss', 'began'], True),
    ('ssl-post', SSL, ['--data-dir', '{mnist}', '--labels', '100'], True),
    ('ssl-paper', SSL, ['--data-dir', '{mnist}', '--labels', '100', '--model', 'paper'], True),
    ('dcgan64', ANIME, ['--data-dir', '{digits}', '--size', '64'], True),
    ('dcgan64-md', ANIME, ['--data-dir', '{digits}', '--size', '64', '--minibatch-discrimination'], False),
    ('dcgan64-unrolled5', ANIME, ['--data-dir', '{digits}', '--size', '64', '--unroll', '5'], True),
    ('dcgan64-md-unrolled5', ANIME, ['--data-dir', '{digits}', '--size', '64', '--unroll', '5',
                                     '--minibatch-discrimination'], False),
    ('dcgan64-self-attention', ANIME, ['--data-dir', '{digits}', '--size', '64', '--self-attention'], False),
    ('dcgan64-wgan-gp', ANIME, ['--data-dir', '{digits}', '--size', '64', '--loss', 'wgan',
                                '--gradient-penalty', '10'], True),
    ('stacked-mnist32', ANIME, ['--data-dir', '{mnist}', '--dataset', 'stacked-mnist', '--size', '32'], False),
    ('pggan64', PROG, ['--data-dir', '{mnist}', '--size', '64'], True),
    ('stylegan64', PROG, ['--data-dir', '{mnist}', '--size', '64', '--generator', 'stylegan'], True),
    ('conditional32', COND, ['--data-dir', '{mnist}'], True),
]
NAMES = [w[0] for w in WORKLOADS]
# --quick (CPU dry run): tiny batches and widths, so that the whole check runs in seconds per workload.
QUICK = {MOG: ['--batch-size', '16', '--z-dim', '16', '--eval-samples', '200', '--plot-samples', '200'],
         SSL: ['--batch-size', '20', '--labels', '20', '--d-hidden', '32,16,8', '--g-hidden', '16,16'],
         ANIME: ['--batch-size', '8', '--g-ch', '32', '--d-ch', '8', '--max-images', '64', '--stacked-size', '64'],
         PROG: ['--batch-size', '4', '--size', '16', '--ch', '8', '--z-dim', '16', '--mapping-layers', '2',
                '--max-images', '64', '--score-samples', '0'],
         COND: ['--batch-size', '8', '--g-ch', '8', '--d-ch', '8', '--z-dim', '16', '--max-images', '64',
                '--score-samples', '0', '--label-check', '20']}
FULL = {MOG: ['--eval-samples', '2500', '--plot-samples', '2500'], SSL: [],
        ANIME: ['--max-images', '1280', '--stacked-size', '12800'],
        PROG: ['--max-images', '1280', '--score-samples', '500'], COND: ['--score-samples', '500']}


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='gpu_check.py')
    a = p.add_argument
    a('--data-dir', required=True, help='folder with the four MNIST IDX files')
    a('--device', default='@cupy:0', help='device to check (default @cupy:0; cpu for the dry run)')
    a('--only', nargs='+', choices=NAMES, default=None, metavar='NAME', help='workloads: ' + ', '.join(NAMES))
    a('--iterations', type=cli.positive_int, default=20, help='iterations per epoch of the runs (2 epochs)')
    a('--time-iterations', type=cli.positive_int, default=30, help='timed updates on the device')
    a('--cpu-iterations', type=cli.positive_int, default=5, help='timed updates on the CPU (0: no CPU column)')
    a('--no-cpu', action='store_true', help='skip the CPU timing column')
    a('--quick', action='store_true', help='tiny batches and widths (the CPU dry run of the tests)')
    a('--dry-run', action='store_true', help='print the commands and exit; nothing is run or written')
    a('--out', default='result/gpu_check', help='run folders (default result/gpu_check)')
    a('--report', default='results/gpu.md', help='report to write (default results/gpu.md)')
    args = p.parse_args(argv)
    if not os.path.isdir(args.data_dir):
        p.error('--data-dir: no such folder: {}'.format(args.data_dir))
    if not args.dry_run:  # a dry run writes nothing
        check_outputs(p, args, runs='--out', pictures=False)
    return args


def batch_size(args, script, flags):
    """The batch size a workload's command line gives (the script's default where it sets none)."""
    argv = flags + (QUICK if args.quick else FULL)[script]
    return int(argv[len(argv) - 1 - argv[::-1].index('--batch-size') + 1]) if '--batch-size' in argv else 16


def phase_images(args, script, flags):
    """train_progressive.py's --phase-images here: the epoch-1 snapshot falls half-way into phase 5 (the fade-in
    to 32 × 32, the one resume must continue exactly) and the run reaches its last phase before it ends."""
    return max(1, 2 * args.iterations * batch_size(args, script, flags) // 11)


def timing_warmup(args, script, flags):
    """Updates before the timed ones: progressive runs first grow to their last resolution."""
    if script != PROG:
        return 3
    size = 16 if args.quick else 64
    phases = 2 * (int(size).bit_length() - 3)   # 4 x 4 stable, then a fade-in and a stable phase per doubling
    return -(-phases * phase_images(args, script, flags) // batch_size(args, script, flags)) + 3


def workload_argv(args, script, flags, out, epochs=2, resume=None):
    """The command line of one run (without the interpreter)."""
    fill = {'mnist': os.path.abspath(args.data_dir), 'digits': os.path.join(os.path.abspath(args.out), 'digits_png')}
    argv = [f.format(**fill) for f in flags] + (QUICK if args.quick else FULL)[script]
    n = str(args.iterations)
    if script == PROG:   # its length is counted in images, its snapshots in iterations
        argv += ['--images', str(epochs * args.iterations * batch_size(args, script, flags)),
                 '--phase-images', str(phase_images(args, script, flags)), '--snapshot-every', n, '--log-every', n]
    else:
        argv += ['--epochs', str(epochs), '--iterations-per-epoch', n, '--snapshot-every', '1']
    argv += ['--device', args.device, '--out', out, '--quiet', '--seed', '0']
    if script == SSL:
        argv += ['--eval-every', n]
    if script in (ANIME, COND):
        argv += ['--log-every', n]
    if script == ANIME:
        argv += ['--sample-every', '1']
    if resume:
        argv += ['--resume', resume]
    return [os.path.join(ROOT, script)] + argv


def write_digit_folder(data_dir, folder, n):
    """``n`` MNIST training digits as RGB PNG files (the image-folder path of train_anime.py)."""
    from PIL import Image
    from ganlib.mnist import load_mnist
    if os.path.isdir(folder) and len(os.listdir(folder)) >= n:
        return
    os.makedirs(folder, exist_ok=True)
    (x, _), _ = load_mnist(data_dir)
    for i in range(min(n, len(x))):
        Image.fromarray(numpy.repeat(x[i].reshape(28, 28, 1), 3, axis=2)).save(os.path.join(folder, '{:05d}.png'.format(i)))


def run(cmd, log):
    start = time.time()
    proc = subprocess.run([sys.executable] + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=ROOT)
    with open(log, 'w') as f:
        f.write(proc.stdout)
    tail = proc.stdout.strip().splitlines()[-1:] if proc.returncode else []
    return proc.returncode, time.time() - start, (tail[0] if tail else '')


def updater_state(path):
    """{key: array} of a trainer snapshot's updater part (models, optimizers, iterators, RNGs)."""
    with numpy.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k.startswith('updater/')}


def same_state(a, b):
    """'' if the two updater states are bit-identical, else the first differing key."""
    if a.keys() != b.keys():
        return 'keys differ: {}'.format(sorted(a.keys() ^ b.keys())[:3])
    for k in sorted(a):
        if a[k].shape != b[k].shape or not numpy.array_equal(a[k], b[k], equal_nan=True):
            return k
    return ''


def build_updater(script, argv, device):
    """The script's own parse_args and build: (updater, gen, dis, comm) on ``device``; ``comm`` is the
    ChainerMN communicator when ``argv`` has --communicator (run under mpiexec), else None."""
    from ganlib import distributed
    module = {MOG: 'train_mog', SSL: 'train_mnist_ssl', ANIME: 'train_anime', PROG: 'train_progressive',
              COND: 'train_conditional'}[os.path.basename(script)]
    m = __import__(module)
    # only built, never run: an empty scratch --out, so that the run folder named in argv may already hold a run;
    # removed again (build writes nothing there)
    with tempfile.TemporaryDirectory(prefix='gpu_check_build_') as scratch:
        a = m.parse_args(list(argv) + ['--out', scratch])
        comm = distributed.create(a)
        if script == MOG:
            _, gen, dis, upd = m.build(a, device, comm)
        elif script == SSL:
            gen, dis, _, upd = m.build(a, m.load_data(a), device, comm)
        elif script == PROG:
            gen, dis, upd = m.build(a, m.load_images(a), device)
        elif script == COND:
            gen, dis, upd = m.build(a, m.load_data(a), device)
        else:
            gen, dis, upd = m.build(a, m.load_dataset(a, quiet=True), device, comm)
    return upd, gen, dis, comm


def run_updates(updater, gen, dis, n, before=None, after=None):
    """``n`` training-mode ``updater.update()`` calls under a reporter that knows G and D."""
    from ganlib.run import training_config
    reporter = chainer.Reporter()
    reporter.add_observer('gen', gen)
    reporter.add_observer('dis', dis)
    with reporter.scope({}), chainer.using_config('train', True), training_config():
        for i in range(n):
            if before:
                before(i)
            updater.update()
            if after:
                after(i)


def synchronize(device):
    if device.xp is not numpy:
        device.device.synchronize()


def time_updates(script, argv, device, n, warmup=3):
    """Median, min and max ms of ``n`` synchronised ``updater.update()`` calls after ``warmup``."""
    upd, gen, dis, _ = build_updater(script, argv, device)
    times, start = [], [0.0]

    def before(i):
        synchronize(device)
        start[0] = time.perf_counter()

    def after(i):
        synchronize(device)
        if i >= warmup:
            times.append(1000 * (time.perf_counter() - start[0]))
    run_updates(upd, gen, dis, warmup + n, before, after)
    return float(numpy.median(times)), float(min(times)), float(max(times))


def environment(device):
    env = dict(python=platform.python_version(), numpy=numpy.__version__, chainer=chainer.__version__,
               cpu_count=os.cpu_count(), machine=platform.machine())
    if device.xp is not numpy:
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(device.device.id)
        name = props['name']
        env.update(gpu=name.decode() if isinstance(name, bytes) else str(name), cupy=cupy.__version__,
                   cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(),
                   cudnn=bool(chainer.backends.cuda.cudnn_enabled))
    return env


def main(argv=None):
    args = parse_args(argv)
    chosen = [w for w in WORKLOADS if args.only is None or w[0] in args.only]
    out = os.path.abspath(args.out)
    plan = [(name, workload_argv(args, script, flags, os.path.join(out, name))) for name, script, flags, _ in chosen]
    if args.dry_run:
        for name, cmd in plan:
            print('{}: {}'.format(name, display_command([sys.executable] + cmd)))
        return 0
    device = cli.get_device(args.device)
    if any(s == ANIME and '{digits}' in f for _, s, f, _ in chosen):
        write_digit_folder(args.data_dir, os.path.join(out, 'digits_png'), 64 if args.quick else 1280)
    rows = {}
    for (name, script, flags, check_resume), (_, cmd) in zip(chosen, plan):
        run_dir = os.path.join(out, name)
        rc, wall, tail = run(cmd, run_dir + '.log')
        row = rows[name] = dict(script=script, command=display_command([sys.executable] + cmd), run_ok=rc == 0,
                                run_s=round(wall, 1), error=tail)
        if rc == 0 and check_resume:
            n = args.iterations
            again = os.path.join(out, name + '-resumed')
            rc2, _, tail2 = run(workload_argv(args, script, flags, again, resume=os.path.join(
                run_dir, 'snapshot_iter_{}'.format(n))), again + '.log')
            if rc2:
                row['resume'] = 'FAILED: ' + tail2
            else:
                final = 'snapshot_iter_{}'.format(2 * n)
                diff = same_state(updater_state(os.path.join(run_dir, final)), updater_state(os.path.join(again, final)))
                row['resume'] = 'bit-exact' if not diff else 'DIFFERS at ' + diff
        print('{}: run {} ({:.0f}s){}'.format(name, 'ok' if rc == 0 else 'FAILED ' + tail, wall,
                                             ', resume ' + row['resume'] if 'resume' in row else ''), flush=True)
    tools = []
    cache = os.path.join(out, 'classifier.npz')
    for name in ('ssl-post', 'ssl-paper', 'stacked-mnist32'):
        if rows.get(name, {}).get('run_ok'):
            extra = ['--samples', '500', '--real-samples', '500'] if args.quick else []
            tools.append(('evaluate.py ' + name, [os.path.join(ROOT, 'evaluate.py'), os.path.join(out, name),
                                                  '--device', args.device, '--classifier-cache', cache,
                                                  '--classifier-epochs', '1' if args.quick else '3'] + extra))
    for name in ('dcgan64', 'stacked-mnist32'):
        if rows.get(name, {}).get('run_ok'):
            tools.append(('analogy.py ' + name, [os.path.join(ROOT, 'analogy.py'), os.path.join(out, name),
                                                 '--device', args.device]))
            break
    tool_rows = []
    for label, cmd in tools:
        rc, wall, tail = run(cmd, os.path.join(out, label.replace(' ', '_') + '.log'))
        tool_rows.append((label, rc == 0, round(wall, 1), tail))
        print('{}: {} ({:.0f}s)'.format(label, 'ok' if rc == 0 else 'FAILED ' + tail, wall), flush=True)
    cpu = cli.get_device('cpu')
    for (name, script, flags, _), (_, cmd) in zip(chosen, plan):
        timing_argv = cmd[1:]
        warmup = timing_warmup(args, script, flags)
        rows[name]['device_ms'] = time_updates(script, timing_argv, device, args.time_iterations, warmup)
        if not args.no_cpu and args.cpu_iterations and device.xp is not numpy:
            rows[name]['cpu_ms'] = time_updates(script, timing_argv, cpu, args.cpu_iterations,
                                                warmup if script == PROG else 1)
        device.use()
        print('{}: {:.2f} ms/iteration on {}{}'.format(
            name, rows[name]['device_ms'][0], args.device,
            ', {:.1f} on the CPU'.format(rows[name]['cpu_ms'][0]) if 'cpu_ms' in rows[name] else ''), flush=True)
    env = environment(device)
    write(args, rows, tool_rows, env, argv if argv is not None else sys.argv[1:])
    failed = [n for n, r in rows.items() if not r['run_ok'] or r.get('resume', 'bit-exact') != 'bit-exact'] + \
        [label for label, ok, _, _ in tool_rows if not ok]
    print('wrote {} and {}{}'.format(args.report, os.path.join(args.out, 'gpu_check.json'),
                                     '; FAILED: ' + ', '.join(failed) if failed else '; all checks passed'))
    return 1 if failed else 0


def write(args, rows, tool_rows, env, argv):
    cli.save_json(os.path.join(args.out, 'gpu_check.json'), dict(environment=env, workloads=rows,
                                                                 tools=tool_rows, argv=list(argv)))
    fmt = lambda t: '{:.2f} ({:.2f}–{:.2f})'.format(*t) if t else '–'  # noqa: E731
    lines = ['# GPU check', '',
             'Generated by `python benchmarks/gpu_check.py {}`.'.format(' '.join(argv)), '',
             'Machine: ' + ', '.join('{} {}'.format(k, v) for k, v in sorted(env.items())) + '.', '',
             'Each workload ran 2 epochs of {} iterations through its script on `{}` (exit status below); '
             '"resume" re-ran epoch 2 from the epoch-1 snapshot and compared the final snapshot\'s updater state '
             '(models, optimizers, iterators, RNGs) bit for bit. Timings: median (min–max) ms per '
             '`updater.update()` after warm-up, synchronised, in one process, trainer extensions excluded; '
             'the CPU column is the same process on this machine\'s CPU ({} cores, NumPy\'s default BLAS threads).'
             .format(args.iterations, args.device, env['cpu_count']), '',
             '| workload | run | resume | ms/it on {} | ms/it on CPU | speed-up |'.format(args.device),
             '|---|---|---|---|---|---|']
    for name, r in rows.items():
        dev, cpu = r.get('device_ms'), r.get('cpu_ms')
        speed = '{:.1f}×'.format(cpu[0] / dev[0]) if dev and cpu else '–'
        lines.append('| {} | {} | {} | {} | {} | {} |'.format(
            name, 'ok' if r['run_ok'] else 'FAILED: ' + r['error'], r.get('resume', '–'), fmt(dev), fmt(cpu), speed))
    lines += ['', '| tool | result | s |', '|---|---|---|']
    lines += ['| {} | {} | {} |'.format(label, 'ok' if ok else 'FAILED: ' + tail, wall)
              for label, ok, wall, tail in tool_rows]
    lines += ['', 'Commands (2 epochs, `--resume` added for the resume check):', '']
    lines += ['- `{}`: `{}`'.format(name, r['command']) for name, r in rows.items()]
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    write_report(args.report, '\n'.join(lines) + '\n\n')


if __name__ == '__main__':
    sys.exit(cli.run_main(main, sys.argv[1:]) or 0)
