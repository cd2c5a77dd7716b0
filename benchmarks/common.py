"""Shared by the benchmark scripts: run experiment scripts in parallel processes, skip finished runs."""
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import json

import numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_one(job, time_limit=0):
    """job = (name, argv, out_dir[, done_file]); a job whose ``done_file`` (default: the run's ``metrics.json``)
    exists is skipped.  With ``time_limit`` (seconds) a run still going then is killed; its snapshots stay, for a
    later ``--resume``."""
    name, cmd, out = job[:3]
    if os.path.isfile(job[3] if len(job) > 3 else os.path.join(out, 'metrics.json')):
        return name, 'cached'
    env = dict(os.environ, OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', MKL_NUM_THREADS='1')
    start = time.time()
    try:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=time_limit or None)
    except subprocess.TimeoutExpired:
        return name, 'stopped at the {:.0f}s limit'.format(time_limit)
    if proc.returncode != 0:
        return name, 'FAILED ({})\n{}'.format(proc.returncode, proc.stdout[-2000:])
    return name, 'done in {:.0f}s'.format(time.time() - start)


def run_jobs(jobs, n_jobs, time_limit=0):
    """Run all jobs, ``n_jobs`` at a time, printing one line per finished job; return the wall time."""
    start = time.time()
    with ThreadPoolExecutor(n_jobs) as pool:
        for i, (name, status) in enumerate(pool.map(lambda job: run_one(job, time_limit), jobs), 1):
            print('[{}/{}] {}: {}'.format(i, len(jobs), name, status), flush=True)
    return time.time() - start


def mean_std(values, fmt):
    """'mean ± std' over seeds; a single value alone (it has no spread to show).  A signed ``fmt`` ('{:+.1f}')
    signs the mean only."""
    values = numpy.asarray(values, dtype=float)
    if values.size == 1:
        return fmt.format(values[0])
    return (fmt + ' ± ' + fmt.replace('+', '')).format(values.mean(), values.std())


def display_command(cmd):
    """The argv of a run as a user would type it from the repository root."""
    return ' '.join(['python'] + [os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd[1:]])


NOTES_MARKER = '<!-- notes: kept when the benchmark rewrites this file -->'


def write_report(path, text):
    """Write a generated report, keeping any hand-written notes below ``NOTES_MARKER`` of the old file."""
    notes = ''
    if os.path.isfile(path):
        old = open(path).read()
        if NOTES_MARKER in old:
            notes = old[old.index(NOTES_MARKER):]
    with open(path, 'w') as f:
        f.write(text)
        f.write(notes or NOTES_MARKER + '\n')


def last_grid_picture(run_dir, report_path, name, caption, pattern='epoch_*.png', key=None):
    """Copy the run's newest ``samples/<pattern>`` grid (the last in ``key`` order; file name order by default) to
    ``<report dir>/<report stem>/<name>.png``; returns the Markdown image line for the report (``caption``, or
    ``caption(grid path)`` when it is callable), or None when the run drew no grid."""
    import glob
    import shutil
    grids = sorted(glob.glob(os.path.join(run_dir, 'samples', pattern)), key=key)
    if not grids:
        return None
    stem = os.path.splitext(os.path.basename(report_path))[0]
    folder = os.path.join(os.path.dirname(os.path.abspath(report_path)), stem)
    os.makedirs(folder, exist_ok=True)
    shutil.copyfile(grids[-1], os.path.join(folder, name + '.png'))
    return '![{}]({}/{}.png)'.format(caption(grids[-1]) if callable(caption) else caption, stem, name)


def earlier_runs(report_path):
    """The ``<report stem>_runs.json`` a previous run of the benchmark wrote beside the report (``{}`` when none):
    the record of runs whose folders may since have been deleted."""
    from ganlib.cli import CleanExit
    path = os.path.splitext(os.path.abspath(report_path))[0] + '_runs.json'
    if not os.path.isfile(path):
        return {}
    try:
        runs = json.load(open(path))
    except ValueError as e:
        raise CleanExit('{}: not a runs record ({}); move it away to tabulate without it'.format(path, e))
    if not isinstance(runs, dict):
        raise CleanExit('{}: not a runs record (expected an object of variants); move it away to tabulate without '
                        'it'.format(path))
    return runs


def require_finished(found, runs_dir):
    """A one-line CleanExit when there is nothing to tabulate (no finished run under ``runs_dir`` and none kept from an
    earlier record): the report and its ``_runs.json`` are left as they are, not rewritten with an empty table."""
    from ganlib.cli import CleanExit
    if not found:
        raise CleanExit('no finished runs under {}; the report is left as it is'.format(runs_dir))


def kept_picture(report_path, name, caption):
    """The Markdown line of a sample grid an earlier report already copied beside the report, or None."""
    stem = os.path.splitext(os.path.basename(report_path))[0]
    if not os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(report_path)), stem, name + '.png')):
        return None
    return '![{}]({}/{}.png)'.format(caption, stem, name)


MNIST_DIR = os.path.join(ROOT, '..', 'shared', 'data', 'mnist')


def add_grid_arguments(parser, report, runs_dir=None, seeds=None, jobs=False):
    """The flags the benchmarks share, with one wording: ``--seeds`` (when ``seeds``, the default list), ``--jobs``,
    ``--runs-dir`` (when ``runs_dir``) and ``--report``; folders are given relative to the repository."""
    from ganlib import cli
    a = parser.add_argument
    if seeds is not None:
        a('--seeds', nargs='+', type=cli.nonnegative_int, default=list(seeds),
          help='seeds: one run per seed and setting (default {})'.format(' '.join(map(str, seeds))))
    if jobs:
        a('--jobs', type=cli.positive_int, default=2, help='runs at a time, one core each (default 2)')
    if runs_dir is not None:
        a('--runs-dir', default=os.path.join(ROOT, runs_dir),
          help='folder of the run folders; a finished run there is not run again (default {})'.format(runs_dir))
    a('--report', default=os.path.join(ROOT, report),
      help='the Markdown report to write, its pictures in a folder beside it; hand-written notes below its notes '
           'marker are kept (default {})'.format(report))


def add_mnist_arguments(parser, cache=None, required=False):
    """``--data-dir`` (the MNIST IDX folder; default ``../shared/data/mnist`` beside the repository unless
    ``required``) and ``--classifier-cache`` (default ``cache``; None: evaluate.py's)."""
    a = parser.add_argument
    a('--data-dir', required=required, default=None if required else MNIST_DIR,
      help='folder with the four MNIST IDX files{}'.format('' if required else ' (default ../shared/data/mnist)'))
    a('--classifier-cache', default=cache,
      help="where the MNIST classifier is cached (default {})".format(cache or "evaluate.py's"))


def check_outputs(parser, args, runs='--runs-dir', pictures=True):
    """Parse-time checks of a benchmark's outputs, before any run starts: the run folders (the ``runs`` flag, e.g.
    ``--runs-dir``; ``None``: the benchmark has none; not checked with ``--no-run`` / ``--summarize-only``), the
    report's folder and, with ``pictures``, the folder of pictures beside it (``<report dir>/<report stem>``) are, or
    can become, writable folders, and the report is not a folder.  A failure is ``parser.error``: one line, exit 2,
    nothing created."""
    from ganlib.cli import CleanExit
    from ganlib.run import check_out
    report = os.path.abspath(args.report)
    tabulating = getattr(args, 'no_run', False) or getattr(args, 'summarize_only', False)
    try:
        if runs is not None and not tabulating:
            check_out(getattr(args, runs[2:].replace('-', '_')), runs)
        check_out(os.path.dirname(report), '--report')
        if pictures:
            check_out(os.path.splitext(report)[0], '--report pictures')
    except CleanExit as e:
        parser.error(str(e))
    if os.path.isdir(report):
        parser.error('--report {} is a folder'.format(args.report))


def resume_flags(out, earlier=None):
    """``['--resume', <its last snapshot>]`` for a run folder that was interrupted (snapshots, no metrics.json); for a
    run not started yet (no folder, or an empty one), the last snapshot of ``earlier``, the same run's folder at a
    shorter length, which the run then continues into ``out`` (``earlier`` itself is only read); else ``[]``."""
    from ganlib.run import latest_snapshot
    if os.path.isfile(os.path.join(out, 'metrics.json')):
        return []
    snapshot = latest_snapshot(out) if os.path.isdir(out) else None
    if snapshot is None and earlier and os.path.isdir(earlier) and not (os.path.isdir(out) and os.listdir(out)):
        snapshot = latest_snapshot(earlier)
    return ['--resume', snapshot] if snapshot else []


MODE_CURVES = (('eval/modes', 'modes captured', 1), ('eval/hq', 'high quality %', 100),
               ('eval/rev_kl_hq', 'reverse KL (HQ samples)', 1))


def save_fid_axes(fig, ax, path, xlabel, title):
    """Label an FID-curve axes (log FID, legend below the axes, grid) and save the figure as a PNG: one look for every FID plot."""
    import matplotlib.pyplot as plt
    ax.set_xlabel(xlabel)
    ax.set_ylabel('classifier FID (lower is better)')
    ax.set_yscale('log')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(0, -0.16))  # under the axes: it hides no curve
    fig.savefig(path, dpi=120, bbox_inches='tight')
    plt.close(fig)


def mode_curves(series, path, panels=MODE_CURVES, title=''):
    """Mode metrics per epoch of train_mog.py runs → ``path``: one panel per (log key, title, scale) of ``panels``,
    one line per (label, [Chainer log entries of each seed]) of ``series``, the mean over its seeds (cut to the
    shortest).  Returns the path, or None when no series has a log."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    series = [(label, logs) for label, logs in series if logs]
    if not series:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6))
    colors = plt.get_cmap('tab20' if len(series) > 10 else 'tab10')
    for i, (label, logs) in enumerate(series):
        n = min(len(log) for log in logs)
        epochs = [e['epoch'] for e in logs[0][:n]]
        for ax, (key, _, scale) in zip(axes, panels):
            ax.plot(epochs, numpy.mean([[scale * e[key] for e in log[:n]] for log in logs], axis=0),
                    color=colors(i), label=label, lw=1.2)
    for ax, (_, name, _) in zip(axes, panels):
        ax.set_xlabel('epoch')
        ax.set_title('{}, mean over seeds{}'.format(name, title), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2 if len(series) > 6 else 1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def kde_figure(runs, path, max_panels=6):
    """One KDE row per (label, train_mog.py run folder) that saved samples, labelled with the run's settings, the
    mixture read from the first run's args.json → ``path``; returns the path, or None when no run has samples."""
    from ganlib.mog import make_mixture
    from ganlib.plots import load_sample_history, mog_run_label, pick_epochs, plot_kde_rows
    rows, mixture = [], None
    for label, run in runs:
        history = load_sample_history(run)
        if not history:
            continue
        cfg = json.load(open(os.path.join(run, 'args.json')))
        if mixture is None:
            mixture = make_mixture(cfg['dataset'], cfg['std'], cfg['radius'], cfg.get('original_std_bug', False))
        chosen = pick_epochs([e for e, _ in history], max_panels)
        rows.append((mog_run_label(cfg, label), [('epoch {}'.format(e), s) for e, s in history if e in chosen]))
    return plot_kde_rows(rows, path, mixture.extent, mixture.means) if rows else None
