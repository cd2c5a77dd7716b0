#!/usr/bin/env python
"""PGGAN and StyleGAN over the whole growing schedule, variants × seeds side by side → a report with the classifier's
FID / IS / classes at the end of every phase, wall time, ms per iteration and the last phase's sample grids.

Every run is ``train_progressive.py`` on MNIST with results/progressive.md's CPU-scale settings (G and D 32 maps,
z 64, 6,000 images a phase, batch 16, WGAN-GP with the ε-drift term) plus its variant's flags; one snapshot a phase.
With ``--time-limit S`` a run still going after S seconds is stopped: it is tabulated from its last snapshot
(marked "stopped") and a later call without --no-run resumes it from there.  Finished runs (metrics.json) are
reused.  On a GPU, runs share the device: ``--jobs`` processes at a time, each on its own CPU core.

  python benchmarks/progressive_benchmark.py --data-dir MNIST_DIR --seeds 0 1 2 --device @cupy:0 --jobs 11
  python benchmarks/progressive_benchmark.py --data-dir MNIST_DIR --seeds 0 1 2 --no-run    # tabulate only
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import numpy  # noqa: E402

from benchmarks.common import (add_grid_arguments,  # noqa: E402
                               check_outputs, display_command, last_grid_picture, mean_std,
                               require_finished, resume_flags, run_jobs, write_report)
from ganlib import cli  # noqa: E402
from ganlib.run import latest_snapshot, snapshot_iteration  # noqa: E402

# variant: (label, flags added to the base command)
VARIANTS = {
    'pggan': ('PGGAN, lr 1e-3 (the paper)', ['--generator', 'pggan', '--lr', '1e-3']),
    'stylegan': ('StyleGAN, lr 1e-3 (the paper)', ['--generator', 'stylegan', '--lr', '1e-3']),
    'stylegan-center': ('StyleGAN, centred w, lr 1e-3', ['--generator', 'stylegan', '--lr', '1e-3', '--center-w']),
    'stylegan-lr3e-4': ('StyleGAN, lr 3e-4', ['--generator', 'stylegan', '--lr', '3e-4']),
    'stylegan-center-lr3e-4': ('StyleGAN, centred w, lr 3e-4',
                               ['--generator', 'stylegan', '--lr', '3e-4', '--center-w']),
    'pggan64': ('PGGAN at 64 × 64, lr 1e-3', ['--generator', 'pggan', '--lr', '1e-3', '--size', '64']),
}
BATCH = 16


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='progressive_benchmark.py')
    a = p.add_argument
    a('--data-dir', required=True, help='folder with the four MNIST IDX files')
    a('--variants', nargs='+', choices=tuple(VARIANTS), default=['pggan', 'stylegan'], metavar='V',
      help='variants (default pggan stylegan): ' + ', '.join(VARIANTS))
    a('--phase-images', type=cli.positive_int, default=6000, help='real images per phase (default 6,000)')
    a('--ch', type=cli.positive_int, default=32, help='feature maps (default 32)')
    a('--z-dim', type=cli.positive_int, default=64, help='latent size (default 64)')
    a('--score-samples', type=cli.positive_int, default=2000, help='samples scored at each phase end (default 2,000)')
    a('--max-images', type=cli.positive_int, default=None, help='use the first N training digits only')
    a('--classifier-cache', default=None, help="where the MNIST classifier is cached (default: evaluate.py's)")
    a('--device', default='cpu', help='cpu or @cupy:N (default cpu)')
    a('--time-limit', type=cli.nonnegative_float, default=0,
      help='stop a run after this many seconds and tabulate it from its last snapshot (default 0: no limit)')
    a('--no-run', action='store_true', help='tabulate the runs already in --runs-dir; train nothing')
    add_grid_arguments(p, 'results/progressive_runs.md', 'result/bench_progressive', seeds=[0], jobs=True)
    args = p.parse_args(argv)
    if not os.path.isdir(args.data_dir):
        p.error('--data-dir: no such folder: {}'.format(args.data_dir))
    check_outputs(p, args)
    return args


def train_command(variant, seed, args, out):
    return ([sys.executable, os.path.join(ROOT, 'train_progressive.py'), '--data-dir', args.data_dir,
             '--ch', str(args.ch), '--z-dim', str(args.z_dim), '--phase-images', str(args.phase_images),
             '--batch-size', str(BATCH),
             '--score-samples', str(args.score_samples), '--snapshot-every', str(max(1, args.phase_images // BATCH)),
             '--seed', str(seed), '--device', args.device, '--quiet', '--out', out] +
            (['--max-images', str(args.max_images)] if args.max_images else []) +
            (['--classifier-cache', args.classifier_cache] if args.classifier_cache else []) + VARIANTS[variant][1])


def read_run(out):
    """{'phases': [per-phase scores], 'iterations', 'wall_s', 'ms_per_iteration', 'finished', 'machine'} of a run
    folder, or None when it has neither metrics.json nor a snapshot.  A stopped run is read from its last
    snapshot (the phase ends it had scored, the trainer's clock then)."""
    metrics = os.path.join(out, 'metrics.json')
    machine = os.path.join(out, 'machine.json')
    starts = json.load(open(machine)) if os.path.isfile(machine) else []
    info = dict(machine=starts[-1] if starts else {})   # where its last part ran
    if os.path.isfile(metrics):
        m = json.load(open(metrics))
        wall = _log_elapsed(out) if m.get('resumed_from') else m['wall_time_s']
        return dict(info, phases=m['phases'], iterations=m['iterations'], wall_s=wall or m['wall_time_s'],
                    ms_per_iteration=m['ms_per_iteration'], finished=True)
    snapshot = latest_snapshot(out)
    if snapshot is None:
        return None
    with numpy.load(snapshot, allow_pickle=False) as z:
        phases = json.loads(str(z['extensions/phase_end/scores']))
        wall = float(z['_snapshot_elapsed_time'])   # the trainer's clock when it wrote the snapshot
    iterations = snapshot_iteration(snapshot)
    return dict(info, phases=phases, iterations=iterations, wall_s=wall,
                ms_per_iteration=round(1000 * wall / iterations, 1) if wall else None, finished=False)


def _log_elapsed(out):
    """The trainer's elapsed_time at the last entry of the run's log (it carries on across resumes), or None."""
    path = os.path.join(out, 'log')
    if not os.path.isfile(path):
        return None
    entries = json.load(open(path))
    return entries[-1]['elapsed_time'] if entries else None


def phase_picture(out, report_path, name):
    """Copy the run's last phase grid (``samples/phase_K_RESpx.png``) beside the report; its Markdown line, or None."""
    return last_grid_picture(
        out, report_path, name, lambda grid: '{}, {}'.format(name, os.path.basename(grid)[:-4].replace('_', ' ')),
        pattern='phase_*px.png', key=lambda path: int(os.path.basename(path).split('_')[1]))


def cell(entry):
    return '{:.0f} / {:.2f} / {}'.format(entry['fid'], entry['inception_score'], entry['classes_captured'])


def main(argv=None):
    args = parse_args(argv)
    runs_dir = os.path.abspath(args.runs_dir)
    folder = lambda v, s: os.path.join(runs_dir, '{}_s{}'.format(v, s))  # noqa: E731
    jobs = [('{}_s{}'.format(v, s), train_command(v, s, args, folder(v, s)), folder(v, s))
            for v in args.variants for s in args.seeds]
    if not args.no_run:
        try:
            os.makedirs(runs_dir, exist_ok=True)
        except OSError as e:
            raise cli.CleanExit('--runs-dir {}: cannot create the folder ({})'.format(args.runs_dir, e.strerror))
        # a run stopped at an earlier --time-limit continues from its last snapshot
        wall = run_jobs([(n, cmd + resume_flags(out), out) for n, cmd, out in jobs], args.jobs, args.time_limit)
        print('all runs: {:.0f}s'.format(wall))
    runs = {name: read_run(out) for name, _, out in jobs}
    found = {k: v for k, v in runs.items() if v is not None}
    require_finished(found, runs_dir)
    try:
        write(args, jobs, found, argv if argv is not None else sys.argv[1:])
        cli.save_json(os.path.splitext(args.report)[0] + '_runs.json', found)
    except OSError as e:   # the runs stay in --runs-dir: tabulate them elsewhere with --no-run
        raise cli.CleanExit('--report {}: cannot write it ({})'.format(args.report, e.strerror))
    print('wrote {} ({} runs, {} stopped before the end)'.format(
        args.report, len(found), sum(not r['finished'] for r in found.values())))
    return 0


def write(args, jobs, found, argv):
    names = [name for name, _, _ in jobs if name in found]
    machines = sorted({'{} / {}'.format(r['machine'].get('cpu', '?'), r['machine'].get('gpu') or 'no GPU')
                       for r in found.values() if r['machine']})
    lines = ['# PGGAN and StyleGAN over the whole schedule', '',
             'Generated by `python benchmarks/progressive_benchmark.py {}`.'.format(' '.join(argv)), '',
             'Every run: `train_progressive.py` on the MNIST training digits at 32 × 32 (unless the variant says), '
             'G and D with {} maps, z {}, {:,} images per fade-in and per stabilisation phase, batch {}, WGAN-GP '
             '(λ 10, drift 0.001), Adam β 0 / 0.99. Scores: {:,} samples at the end of each phase with the '
             "repository's MNIST classifier (FID / IS / classes among the samples).".format(
                 args.ch, args.z_dim, args.phase_images, BATCH, args.score_samples), '',
             'Machine: {}.'.format('; '.join(machines) or 'not recorded'), '',
             'One run, for example: `{}`'.format(display_command(jobs[0][1])), '',
             'Variants:']
    lines += ['- `{}`: {} (`{}`)'.format(v, VARIANTS[v][0], ' '.join(VARIANTS[v][1])) for v in args.variants]
    n_rows = max(len(found[n]['phases']) for n in names)
    lines += ['', 'FID / IS / classes at the end of each phase:', '',
              '| phase | res. | ' + ' | '.join(names) + ' |', '|---|---|' + '---|' * len(names)]
    for i in range(n_rows):
        some = next(found[n]['phases'][i] for n in names if len(found[n]['phases']) > i)
        what = 'stable' if some['phase'] % 2 == 0 else 'fade-in'
        lines.append('| {} {} | {} | '.format(some['phase'], what, some['resolution']) + ' | '.join(
            cell(found[n]['phases'][i]) if len(found[n]['phases']) > i else '–' for n in names) + ' |')
    lines += ['', '| variant | runs | finished | final FID per seed | final FID | final IS | iterations | '
                  'wall s / run | ms / iteration |', '|---|---|---|---|---|---|---|---|---|']
    for v in args.variants:
        rs = [found[n] for n in names if n.rsplit('_s', 1)[0] == v]
        if not rs:
            continue
        done = [r for r in rs if r['finished'] and r['phases']]
        per_seed = ', '.join('{:.0f}{}'.format(r['phases'][-1]['fid'], '' if r['finished'] else ' (stopped)')
                             for r in rs if r['phases'])
        walls = [r['wall_s'] for r in rs if r['wall_s']]
        mss = [r['ms_per_iteration'] for r in rs if r['ms_per_iteration']]
        lines.append('| {} | {} | {} | {} | {} | {} | {} | {} | {} |'.format(
            VARIANTS[v][0], len(rs), len(done), per_seed or '–',
            mean_std([r['phases'][-1]['fid'] for r in done], '{:.0f}') if done else '–',
            mean_std([r['phases'][-1]['inception_score'] for r in done], '{:.2f}') if done else '–',
            ', '.join(str(r['iterations']) for r in rs), '{:.0f}'.format(numpy.median(walls)) if walls else '–',
            '{:.0f}'.format(numpy.median(mss)) if mss else '–'))
    lines += ['', 'The final FID and IS columns average finished runs only; a stopped run ends at its last scored '
              'phase. Wall time is the trainer\'s clock; runs that shared a machine slowed each other.', '']
    pictures = [phase_picture(os.path.join(os.path.abspath(args.runs_dir), n), args.report, n) for n in names]
    lines += [p for p in pictures if p]
    os.makedirs(os.path.dirname(os.path.abspath(args.report)) or '.', exist_ok=True)
    write_report(args.report, '\n'.join(lines) + '\n\n')


if __name__ == '__main__':
    sys.exit(cli.run_main(main, sys.argv[1:]) or 0)
