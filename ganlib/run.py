"""A training run's lifecycle, shared by the training scripts: output folder, saved configuration, the
--resume compatibility check, the divergence guard, triggers that also fire at the end, the progress
display and finding snapshots.

The order every script follows (so that a failed start never touches an existing run):

1. ``check_out(args.out)`` while parsing: a file, an uncreatable folder or (without --resume) a folder holding
   an earlier run is a one-line error;
2. build the models, trainer and extensions, ``check_resume(args.resume, config)`` and load it;
3. ``start(args.out, config)``: only now is the folder created and ``args.json`` written;
4. ``trainer.run(show_loop_exception_msg=False)`` with a :class:`DivergenceGuard`: a NaN/Inf loss or
   parameter raises :class:`Diverged`, which ``cli.run_main`` prints as one line (exit status 3).
"""
import contextlib
import glob
import json
import os
import re
import sys
import time

import ganlib.compat  # noqa: F401

import chainer
import numpy
from chainer import training
from chainer.training import extensions

from ganlib import cli, machine

# Flags that may differ between a run and its --resume: length, output, display, evaluation cadence,
# where the data is read from, the device and the number of ranks' transport.  Every other flag changes
# the model, the data or the update rule.
RESUME_FREE = frozenset((
    'epochs', 'out', 'resume', 'quiet', 'device', 'communicator', 'data_dir', 'download', 'mirror', 'cache_dir',
    'eval_every', 'log_every', 'plot_every', 'sample_every', 'snapshot_every', 'eval_samples', 'plot_samples',
    'grid', 'score', 'score_samples', 'classifier_cache', 'truncation'))
# Flags added after runs were made, with the value that trains as those runs did: a snapshot whose saved
# configuration lacks one of them resumes when the flag has this value.
ADDED_FLAG_DEFAULTS = {'synthesis_input': 'const', 'style_norm': 'adain', 'mapping_lr_mul': 0.01, 'center_w': False,
                       'fm_layer': 'conv'}
CONFIG_KEY = 'extensions/RunConfig/config'
DIVERGED_STATUS = 3


def add_arguments(parser, out):
    """The run's lifecycle flags, the same in every training script: --resume, --out (default ``out``), --seed,
    --device and --quiet."""
    a = parser.add_argument
    a('--resume', default=None, metavar='SNAPSHOT',
      help='continue a run from one of its snapshot_iter_N files, exactly where it stopped (the model and update '
           'flags must match the run\'s; --epochs may grow)')
    a('--out', default=out,
      help='output folder: new or empty, or the resumed run\'s own (default {}); nothing in it is '
           'overwritten'.format(out))
    a('--seed', type=cli.nonnegative_int, default=0,
      help='seed of every random stream of the run: weights, data, latents, noise (default 0)')
    a('--device', default='cpu', help='cpu (default) or @cupy:N for GPU N')
    a('--quiet', action='store_true', help='no progress bar or per-epoch printout')


def config_dict(args):
    """The run's configuration: every parsed flag as JSON sees it (tuples, nested ones too, become lists), so that
    it compares equal to the copy read back from a snapshot or ``args.json``."""
    return json.loads(json.dumps(dict(sorted(vars(args).items()))))


def check_out(path, flag='--out'):
    """A one-line CleanExit unless ``path`` is, or can become, a writable folder (nothing is created)."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise cli.CleanExit('{} {} exists and is not a folder'.format(flag, path))
        if not os.access(path, os.W_OK | os.X_OK):
            raise cli.CleanExit('{} {}: the folder is not writable'.format(flag, path))
        return
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise cli.CleanExit('{} {}: cannot create the folder ({} is a file)'.format(flag, path, parent))
    if not os.access(parent, os.W_OK | os.X_OK) or not _can_create_in(parent):
        raise cli.CleanExit('{} {}: cannot create the folder ({} is not writable)'.format(flag, path, parent))


def _can_create_in(folder):
    """Whether a file can really be made in ``folder`` (a temporary one, removed at once): ``os.access`` says yes to
    root for pseudo file systems such as /proc, where nothing can be created."""
    import tempfile
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def check_paths(parser, args):
    """The path checks every script makes at parse time: ``--resume`` names a file, ``--out`` is or can become a
    writable folder and, unless resuming, is new or empty (an earlier run's ``args.json`` is named as such), so
    nothing is overwritten; a failure is ``parser.error`` (one line, exit 2, nothing created).  Returns ``args``."""
    if getattr(args, 'resume', None) is not None and not os.path.isfile(args.resume):
        parser.error('--resume: no such snapshot file: {}'.format(args.resume))
    try:
        check_out(args.out)
    except cli.CleanExit as e:
        parser.error(str(e))
    if getattr(args, 'resume', None) is None and os.path.isdir(args.out):
        if os.path.isfile(os.path.join(args.out, 'args.json')):
            parser.error('--out {} already holds a run (args.json): continue it with --resume and one of its '
                         'snapshots, or choose another --out'.format(args.out))
        held = sorted(os.listdir(args.out))
        if held:
            parser.error('--out {} is not empty (it holds {}{}): a new run needs a new or empty folder, so nothing in '
                         'it is overwritten'.format(args.out, ', '.join(held[:3]), ', ...' if len(held) > 3 else ''))
    return args


def start(out, config, iteration=0):
    """The run starts: create ``out``, write ``args.json`` and add this start's machine to ``machine.json`` (one
    record per start or resume, with the iteration it starts at; call after the resume snapshot has loaded)."""
    cli.make_out_dir(out)
    cli.save_json(os.path.join(out, 'args.json'), config)
    path = os.path.join(out, 'machine.json')
    starts = []
    if os.path.isfile(path):
        try:
            with open(path) as f:
                starts = json.load(f)
        except ValueError:
            pass
    starts = starts if isinstance(starts, list) else []
    cli.save_json(path, starts + [dict(iteration=iteration, **machine.describe())])


def saved_config(snapshot):
    """The configuration a trainer snapshot was written with: stored inside it by :class:`RunConfig`, else
    (older snapshots) the ``args.json`` beside it; None if neither exists."""
    try:
        with numpy.load(snapshot, allow_pickle=False) as z:
            if CONFIG_KEY in z.files:
                return json.loads(str(z[CONFIG_KEY]))
    except Exception as e:
        raise cli.CleanExit('cannot read snapshot {}: {}'.format(snapshot, str(e).splitlines()[0] if str(e) else
                                                                 type(e).__name__))
    beside = os.path.join(os.path.dirname(os.path.abspath(snapshot)), 'args.json')
    if os.path.isfile(beside):
        with open(beside) as f:
            return json.load(f)
    return None


def check_resume(snapshot, config):
    """A one-line CleanExit naming the flags that differ from the snapshot's run (``RESUME_FREE`` may)."""
    old = saved_config(snapshot)
    if old is None:
        return
    old = dict({k: v for k, v in ADDED_FLAG_DEFAULTS.items() if k in config}, **old)
    differ = sorted(k for k in set(old) | set(config) if k not in RESUME_FREE and old.get(k) != config.get(k))
    if differ:
        shown = ', '.join('--{} {} (snapshot: {})'.format(k.replace('_', '-'), _flag(config.get(k)), _flag(old.get(k)))
                          for k in differ[:4])
        raise cli.CleanExit('--resume {}: the run was trained with other settings: {}{}'.format(
            snapshot, shown, ' and {} more'.format(len(differ) - 4) if len(differ) > 4 else ''))


def _flag(value):
    if isinstance(value, list):
        return ','.join(str(v) for v in value)
    return value


class RunConfig(training.Extension):
    """Carries the run's configuration inside every trainer snapshot (for :func:`check_resume`)."""
    trigger = 1, 'iteration'
    priority = training.PRIORITY_READER

    def __init__(self, config):
        self.text = json.dumps(config, sort_keys=True)

    def __call__(self, trainer):
        pass

    def serialize(self, serializer):
        if isinstance(serializer, chainer.serializer.Deserializer):
            return  # a resumed run keeps its own (checked) configuration: the next snapshots carry that one
        serializer('config', numpy.array(self.text))


class Diverged(cli.CleanExit):
    """A loss or parameter became NaN/Inf; ``cli.run_main`` prints it as one line (exit status 3)."""
    status = DIVERGED_STATUS


class DivergenceGuard(training.Extension):
    """Stops the run when a reported loss or a parameter of ``links`` is NaN or Inf (checked every
    ``trigger``; runs before the snapshot writers of the same iteration).  The message names the
    iteration, what diverged and the last snapshot in the output folder whose arrays are all finite."""
    priority = training.PRIORITY_WRITER + 10

    def __init__(self, links, out):
        self.links = links
        self.out = out

    def __call__(self, trainer):
        bad = [k for k, v in sorted(trainer.observation.items())
               if k.endswith('loss') and not numpy.isfinite(float(getattr(v, 'array', v)))]
        if not bad:
            for name, link in sorted(self.links.items()):
                for path, p in link.namedparams():
                    if p.array is not None and not bool(link.xp.isfinite(p.array).all()):
                        bad.append('{} parameter {}'.format(name, path))
                        break
        if bad:
            good = last_finite_snapshot(self.out)
            raise Diverged('diverged at iteration {}: {} is NaN/Inf; last good snapshot: {}'.format(
                trainer.updater.iteration, ', '.join(bad[:3]), good or 'none yet'))


def snapshot_iteration(path):
    digits = re.findall(r'(\d+)', os.path.basename(path))
    return int(digits[-1]) if digits else -1


def latest_snapshot(run_dir, pattern='snapshot_iter_*'):
    """The snapshot of ``run_dir`` matching ``pattern`` with the highest iteration, or None."""
    files = glob.glob(os.path.join(run_dir, pattern))
    return max(files, key=snapshot_iteration) if files else None


def last_finite_snapshot(run_dir):
    """The newest trainer snapshot whose float arrays are all finite, or None."""
    for path in sorted(glob.glob(os.path.join(run_dir, 'snapshot_iter_*')), key=snapshot_iteration, reverse=True):
        try:
            with numpy.load(path, allow_pickle=False) as z:
                if all(numpy.isfinite(z[k]).all() for k in z.files if z[k].dtype.kind == 'f'):
                    return path
        except Exception:
            continue
    return None


class EveryOrEnd(object):
    """Trigger: every ``period`` iterations or epochs, and at the run's last iteration (so a run shorter
    than the period still logs, evaluates and snapshots once)."""

    def __init__(self, period, unit, last_iteration):
        self.interval = training.triggers.IntervalTrigger(period, unit)
        self.last_iteration = last_iteration

    def __call__(self, trainer):
        fired = self.interval(trainer)
        return fired or trainer.updater.iteration == self.last_iteration

    def serialize(self, serializer):
        inner = serializer['interval']
        if isinstance(serializer, chainer.serializer.Deserializer) and not _holds(inner, 'previous_iteration'):
            inner = serializer  # written while this trigger was a plain IntervalTrigger (its keys one level up)
        self.interval.serialize(inner)

    def get_training_length(self):
        return self.interval.get_training_length()


def _holds(deserializer, key):
    """Whether a snapshot being read holds ``key`` under the deserializer's path."""
    try:
        return deserializer(key, None) is not None
    except KeyError:
        return False


def snapshots(trainer, every, unit, last_iteration, gen=None):
    """``snapshot_iter_N`` trainer snapshots for --resume (and, given ``gen``, the generator alone as
    ``gen_iter_N.npz``) every ``every`` epochs or iterations (``unit``) and at the run's last iteration.

    Both files are written by one extension under the trainer snapshot's name (``_Snapshot``) with one trigger, so
    the generator file is written exactly when the trainer snapshot is, also after a resume.  Snapshots written
    before kept a second trigger for the generator writer (``_Snapshot_1``, one iteration stale in those made before
    ``b3bfbb0``); it is no longer read."""
    trigger = EveryOrEnd(every, unit, last_iteration)
    if gen is None:
        trainer.extend(extensions.snapshot(filename='snapshot_iter_{.updater.iteration}'), trigger=trigger)
    else:
        trainer.extend(SnapshotWithGenerator(gen), name='_Snapshot', trigger=trigger)


class SnapshotWithGenerator(training.Extension):
    """The trainer snapshot ``snapshot_iter_N`` and the generator alone, ``gen_iter_N.npz``, written together."""

    def __init__(self, gen):
        self.trainer_snapshot = extensions.snapshot(filename='snapshot_iter_{.updater.iteration}')
        self.gen_snapshot = extensions.snapshot_object(gen, 'gen_iter_{.updater.iteration}.npz')
        self.priority = self.trainer_snapshot.priority

    def initialize(self, trainer):
        self.trainer_snapshot.initialize(trainer)
        self.gen_snapshot.initialize(trainer)

    def __call__(self, trainer):
        self.gen_snapshot(trainer)
        self.trainer_snapshot(trainer)

    def finalize(self):
        self.gen_snapshot.finalize()
        self.trainer_snapshot.finalize()


class LineProgress(training.Extension):
    """Progress for a log file: one plain line every ``update_interval`` iterations (no escape codes)."""
    priority = training.PRIORITY_READER

    def __init__(self, total_iterations, update_interval=100, out=None):
        self.total = total_iterations
        self.trigger = (update_interval, 'iteration')
        self.out = out or sys.stdout
        self._start = None

    def initialize(self, trainer):
        self._start = (time.time(), trainer.updater.iteration)

    def __call__(self, trainer):
        it = trainer.updater.iteration
        now = time.time()
        rate = (it - self._start[1]) / max(now - self._start[0], 1e-9)
        self.out.write('iteration {}/{} ({:.1%}), {:.2f} it/s\n'.format(it, self.total, it / max(self.total, 1), rate))
        self.out.flush()


def progress(total_iterations, update_interval):
    """Chainer's ProgressBar on a terminal, :class:`LineProgress` when stdout is a file or a pipe."""
    if sys.stdout.isatty():
        return extensions.ProgressBar(update_interval=update_interval)
    return LineProgress(total_iterations, max(update_interval, 100))


def begin(trainer, args, config, links, guard_trigger, writer=True):
    """Steps 2–4 of a run for a trainer whose extensions are in place: the divergence guard on ``links``
    every ``guard_trigger``, the configuration in every snapshot, --resume checked against it and loaded,
    then (on the writing rank) the output folder and ``args.json``.  Returns the iteration training starts at."""
    trainer.extend(DivergenceGuard(links, args.out), trigger=guard_trigger)
    if writer:
        trainer.extend(RunConfig(config))
    if args.resume:
        check_resume(args.resume, config)
        cli.resume(trainer, args.resume)
    if writer:
        start(args.out, config, trainer.updater.iteration)
    return trainer.updater.iteration


@contextlib.contextmanager
def training_config():
    """How training runs: Chainer's per-call type checks off (about 8 % of a small MLP GAN's step; set
    GANLIB_TYPE_CHECK=1 to keep them, as the tests do), and NumPy's overflow/invalid warnings silenced (a non-finite
    loss or parameter is reported by the DivergenceGuard)."""
    keep_checks = os.environ.get('GANLIB_TYPE_CHECK', '') not in ('', '0')
    with chainer.using_config('type_check', keep_checks), \
            numpy.errstate(over='ignore', invalid='ignore', divide='ignore'):
        yield


def train(trainer):
    """``trainer.run()`` under :func:`training_config`, without Chainer's traceback print-out: errors reach
    ``cli.run_main`` as one line."""
    with training_config():
        trainer.run(show_loop_exception_msg=False)


class _NoEscapes(object):
    """A stream that drops the terminal escape ``ESC[J`` Chainer's PrintReport writes before every line."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        return self.stream.write(text.replace('\033[J', ''))

    def flush(self):
        self.stream.flush()


def print_report(entries):
    """Chainer's PrintReport; to a file or a pipe without terminal escape codes."""
    return extensions.PrintReport(entries, out=sys.stdout if sys.stdout.isatty() else _NoEscapes(sys.stdout))
