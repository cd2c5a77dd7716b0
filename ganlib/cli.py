"""Command-line helpers shared by the scripts: one-line errors, typed flags, device selection."""
import argparse
import json
import math
import os
import sys

import ganlib.compat  # noqa: F401

import chainer


class CleanExit(Exception):
    """Raised for bad user input; the scripts print it as one line and exit with status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are a single line: ``prog: error: message``."""

    def error(self, message):
        self.exit(2, '{}: error: {}\n'.format(self.prog, message))


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected a positive integer, got {!r}'.format(text))
    if value <= 0:
        raise argparse.ArgumentTypeError('expected a positive integer, got {}'.format(value))
    return value


def nonnegative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected an integer >= 0, got {!r}'.format(text))
    if value < 0:
        raise argparse.ArgumentTypeError('expected an integer >= 0, got {}'.format(value))
    return value


def _float(text, what, ok):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError('expected {}, got {!r}'.format(what, text))
    if not (math.isfinite(value) and ok(value)):
        raise argparse.ArgumentTypeError('expected {}, got {}'.format(what, value))
    return value


def positive_float(text):
    """A finite number > 0 (learning rates, scales: inf and nan are refused)."""
    return _float(text, 'a positive finite number', lambda v: v > 0)


def nonnegative_float(text):
    return _float(text, 'a finite number >= 0', lambda v: v >= 0)


def adam_beta(text):
    """An Adam/RMSprop decay rate β in [0, 1) (β = 1 would never update the moment)."""
    return _float(text, 'a number in [0, 1)', lambda v: 0 <= v < 1)


def int_list(text):
    """'128,128' → (128, 128): layer widths."""
    try:
        values = tuple(int(v) for v in str(text).split(',') if v.strip())
    except ValueError:
        values = ()
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError('expected comma-separated positive integers, got {!r}'.format(text))
    return values


def lr_schedule(text):
    """'0:1e-3,10:3e-4' → [(0, 1e-3), (10, 3e-4)]: (first epoch, learning rate) pairs, rates finite and > 0."""
    try:
        schedule = [(int(e), float(v)) for e, v in (item.split(':') for item in str(text).split(','))]
    except ValueError:
        schedule = []
    if not schedule or not all(e >= 0 and 0 < v < float('inf') for e, v in schedule):
        raise argparse.ArgumentTypeError('expected epoch:rate,... like 0:1e-3,10:3e-4,50:1e-4, got {!r}'.format(text))
    return schedule


def get_device(spec):
    """``cpu``/``-1``/``@numpy`` or ``@cupy:N``/``N`` → a Chainer device (current), or CleanExit."""
    text = str(spec).strip()
    if text in ('cpu', '-1', ''):
        text = '@numpy'
    elif text.isdigit():
        text = '@cupy:' + text
    try:
        device = chainer.get_device(text)
        device.use()
    except Exception as e:  # cupy missing, no GPU, malformed spec
        raise CleanExit('cannot use device {!r}: {}'.format(spec, str(e).splitlines()[0] if str(e) else
                                                             type(e).__name__))
    return device


def make_out_dir(path):
    """Create the output folder ``--out`` (and parents) or raise a one-line CleanExit: an existing regular file,
    or a folder that cannot be created or written to."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise CleanExit('--out {} exists and is not a folder'.format(path))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise CleanExit('--out {}: cannot create the folder ({})'.format(path, e.strerror or e))
    if not os.access(path, os.W_OK | os.X_OK):
        raise CleanExit('--out {}: the folder is not writable'.format(path))
    return path


def save_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write('\n')


def run_main(main, argv=None):
    """Run ``main(argv)``; a CleanExit or a ValueError from building the run becomes one line on stderr."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'script'
    try:
        return main(argv)
    except CleanExit as e:  # bad input (status 2) or a stopped run (ganlib.run.Diverged: 3)
        sys.stderr.write('{}: error: {}\n'.format(prog, e))
        sys.exit(getattr(e, 'status', 2))
    except KeyboardInterrupt:
        sys.stderr.write('{}: interrupted\n'.format(prog))
        sys.exit(130)


def resume(trainer, path):
    """Load a trainer snapshot for ``--resume``; a mismatch is one clear line, not a traceback."""
    try:
        chainer.serializers.load_npz(path, trainer)
    except Exception as e:
        raise CleanExit('cannot resume from {}: {} (was it written with the same flags?)'.format(
            path, str(e).splitlines()[0] if str(e) else type(e).__name__))
