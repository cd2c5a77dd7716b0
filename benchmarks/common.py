"""Shared by the benchmark scripts: run experiment scripts in parallel processes, skip finished runs."""
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import json

import numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_one(job):
    """job = (name, argv, out_dir); a run whose ``metrics.json`` exists is skipped."""
    name, cmd, out = job
    if os.path.isfile(os.path.join(out, 'metrics.json')):
        return name, 'cached'
    env = dict(os.environ, OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', MKL_NUM_THREADS='1')
    start = time.time()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        return name, 'FAILED ({})\n{}'.format(proc.returncode, proc.stdout[-2000:])
    return name, 'done in {:.0f}s'.format(time.time() - start)


def run_jobs(jobs, n_jobs):
    """Run all jobs, ``n_jobs`` at a time, printing one line per finished job; return the wall time."""
    start = time.time()
    with ThreadPoolExecutor(n_jobs) as pool:
        for i, (name, status) in enumerate(pool.map(run_one, jobs), 1):
            print('[{}/{}] {}: {}'.format(i, len(jobs), name, status), flush=True)
    return time.time() - start


def mean_std(values, fmt):
    values = numpy.asarray(values, dtype=float)
    return (fmt + ' ± ' + fmt).format(values.mean(), values.std())


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


def last_grid_picture(run_dir, report_path, name, caption):
    """Copy the run's newest ``samples/epoch_XXXX.png`` to ``<report dir>/<report stem>/<name>.png``; returns the
    Markdown image line for the report, or None when the run drew no grid."""
    import glob
    import shutil
    grids = sorted(glob.glob(os.path.join(run_dir, 'samples', 'epoch_*.png')))
    if not grids:
        return None
    stem = os.path.splitext(os.path.basename(report_path))[0]
    folder = os.path.join(os.path.dirname(os.path.abspath(report_path)), stem)
    os.makedirs(folder, exist_ok=True)
    shutil.copyfile(grids[-1], os.path.join(folder, name + '.png'))
    return '![{}]({}/{}.png)'.format(caption, stem, name)


def kde_figure(runs, path, max_panels=6):
    """One KDE row per (label, train_mog.py run folder) that saved samples, the mixture read from the first run's
    args.json → ``path``; returns the path, or None when no run has samples."""
    from ganlib.mog import make_mixture
    from ganlib.plots import load_sample_history, pick_epochs, plot_kde_rows
    rows, mixture = [], None
    for label, run in runs:
        history = load_sample_history(run)
        if not history:
            continue
        if mixture is None:
            cfg = json.load(open(os.path.join(run, 'args.json')))
            mixture = make_mixture(cfg['dataset'], cfg['std'], cfg['radius'], cfg.get('original_std_bug', False))
        chosen = pick_epochs([e for e, _ in history], max_panels)
        rows.append((label, [('epoch {}'.format(e), s) for e, s in history if e in chosen]))
    return plot_kde_rows(rows, path, mixture.extent, mixture.means) if rows else None
