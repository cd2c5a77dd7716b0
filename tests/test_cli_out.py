"""--out that cannot be used is one line on stderr and exit status 2 in every training script; analogy.py on a
run that is not an image run says so in one line."""
import os
import subprocess
import sys

import pytest

import train_mog
from tests.conftest import ROOT
from tests.test_mnist_ssl import make_tiny_mnist


def run(script, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, script)] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT)


EVERY_SCRIPT = [  # every training script, with flags small enough for the tiny MNIST
    ('train_mog.py', []),
    ('train_anime.py', ['--dataset', 'stacked-mnist', '--stacked-size', '16', '--batch-size', '4']),
    ('train_mnist_ssl.py', ['--labels', '20', '--batch-size', '10']),
    ('train_progressive.py', []),
    ('train_conditional.py', []),
]


def with_data(tmp_path, script, flags):
    """``flags`` plus ``--data-dir`` of a tiny MNIST for the image scripts."""
    return flags if script == 'train_mog.py' else flags + ['--data-dir', make_tiny_mnist(str(tmp_path / 'data'))]


def assert_one_line(proc, words):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and words in lines[0] and 'Traceback' not in proc.stderr, \
        proc.stderr


@pytest.mark.parametrize('script, flags', [
    ('train_mog.py', []),
    ('train_anime.py', ['--dataset', 'stacked-mnist', '--stacked-size', '16', '--batch-size', '4']),
    ('train_mnist_ssl.py', ['--labels', '20', '--batch-size', '10']),
])
def test_out_that_is_a_file_or_below_a_file(tmp_path, script, flags):
    flags = with_data(tmp_path, script, flags)
    a_file = tmp_path / 'taken'
    a_file.write_text('keep me\n')
    assert_one_line(run(script, *(flags + ['--out', str(a_file), '--quiet'])), 'is not a folder')
    assert_one_line(run(script, *(flags + ['--out', str(a_file / 'sub'), '--quiet'])), 'cannot create the folder')
    assert a_file.read_text() == 'keep me\n'


def test_analogy_on_a_mog_run_is_one_line(tmp_path):
    run_dir = str(tmp_path / 'mog')
    train_mog.main(['--epochs', '1', '--iterations-per-epoch', '2', '--z-dim', '4', '--eval-samples', '50',
                    '--plot-samples', '50', '--quiet', '--out', run_dir])
    assert_one_line(run('analogy.py', run_dir), 'is a mog run: analogy.py needs an image run')


@pytest.mark.parametrize('script, flags', EVERY_SCRIPT)
def test_out_holding_an_earlier_run_is_refused_without_resume(tmp_path, script, flags):
    """Nothing is overwritten: an --out with an earlier run's args.json is one line and exit 2 unless --resume is
    given, and the folder's files are left exactly as they were."""
    flags = with_data(tmp_path, script, flags)
    out = tmp_path / 'run'
    out.mkdir()
    (out / 'args.json').write_text('{"seed": 0}\n')
    (out / 'snapshot_iter_5').write_text('earlier\n')
    assert_one_line(run(script, *(flags + ['--out', str(out), '--quiet'])), 'already holds a run')
    assert sorted(os.listdir(out)) == ['args.json', 'snapshot_iter_5']
    assert (out / 'args.json').read_text() == '{"seed": 0}\n' and (out / 'snapshot_iter_5').read_text() == 'earlier\n'


@pytest.mark.parametrize('script, flags', EVERY_SCRIPT)
def test_out_holding_other_files_is_refused_without_resume(tmp_path, script, flags):
    """A folder with files that are not a run (no args.json) is not written into either: the run would replace a
    user's ``log`` or ``samples/``; one line naming what the folder holds, exit 2, the files untouched."""
    flags = with_data(tmp_path, script, flags)
    out = tmp_path / 'mine'
    out.mkdir()
    (out / 'log').write_text('my notes\n')
    assert_one_line(run(script, *(flags + ['--out', str(out), '--quiet'])), 'is not empty (it holds log)')
    assert os.listdir(out) == ['log'] and (out / 'log').read_text() == 'my notes\n'


def test_an_empty_existing_out_is_accepted(tmp_path):
    """Only files are protected: a folder made beforehand and still empty takes the run."""
    out = tmp_path / 'made'
    out.mkdir()
    assert train_mog.parse_args(['--out', str(out)]).out == str(out)


def test_an_unwritable_out_is_one_line(tmp_path, monkeypatch, capsys):
    """An --out folder (or the parent it would be made in) that cannot be written is refused at parse time, one line,
    exit 2.  Root may write anywhere, so the permission answer is simulated."""
    made = tmp_path / 'made'
    made.mkdir()
    monkeypatch.setattr(os, 'access', lambda path, mode: False)
    for out, words in ((made, 'the folder is not writable'), (made / 'new', 'is not writable)')):
        with pytest.raises(SystemExit) as e:
            train_mog.parse_args(['--out', str(out)])
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and len(err) == 1 and words in err[0], err
    assert not (made / 'new').exists() and os.listdir(str(made)) == []


def test_an_out_where_nothing_can_be_created_is_one_line(tmp_path, monkeypatch, capsys):
    """os.access says yes to root on a pseudo file system (/proc): the parent is also tried with a temporary file,
    which is gone again; such an --out is one line, exit 2, before any training."""
    import tempfile
    made = tmp_path / 'made'
    made.mkdir()

    def refuse(*args, **kwargs):
        raise PermissionError('read-only file system')
    monkeypatch.setattr(tempfile, 'TemporaryFile', refuse)
    with pytest.raises(SystemExit) as e:
        train_mog.parse_args(['--out', str(made / 'new')])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and 'is not writable)' in err[0], err
    monkeypatch.undo()
    assert train_mog.parse_args(['--out', str(made / 'new')]).out == str(made / 'new')
    assert os.listdir(str(made)) == []  # the probe file left nothing behind


class _Parsed(Exception):
    """Raised in place of parsing: carries the script's finished parser."""


def script_modules():
    """Every command-line script: the top-level ones and the benchmarks (speed_torch needs PyTorch, an optional
    benchmark dependency)."""
    import glob
    top = [os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, '*.py'))]
    bench = ['benchmarks.' + os.path.splitext(os.path.basename(p))[0]
             for p in glob.glob(os.path.join(ROOT, 'benchmarks', '*.py'))]
    return sorted(top) + sorted(m for m in bench if m.split('.')[1] not in ('__init__', 'common', 'speed_torch'))


@pytest.mark.parametrize('module', script_modules())
def test_every_option_of_every_script_says_what_it_does(module, monkeypatch):
    """``--help`` explains every flag: each option of each script's parser has a help text."""
    import argparse
    import importlib

    def grab(self, *args, **kwargs):
        raise _Parsed(self)
    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', grab)
    with pytest.raises(_Parsed) as caught:
        importlib.import_module(module).main([])
    parser = caught.value.args[0]
    options = [a for a in parser._actions if a.option_strings]
    assert len(options) > 1
    assert [a.option_strings[-1] for a in options if not a.help] == []
