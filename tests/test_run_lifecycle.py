"""ganlib.run: a failed start never touches an existing run, --resume is checked against the run's settings,
divergence stops the run in one line, short runs still write their outputs, logs get no escape codes."""
import hashlib
import json
import os
import subprocess
import sys
import warnings

import chainer
import numpy
import pytest

import train_mnist_ssl
import train_mog
from ganlib import run
from tests.conftest import ROOT
from tests.test_mnist_ssl import make_tiny_mnist

TINY = ['--z-dim', '4', '--g-hidden', '8,8', '--d-hidden', '8', '--eval-samples', '50', '--plot-samples', '50',
        '--iterations-per-epoch', '5', '--snapshot-every', '1', '--quiet']


def cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'train_mog.py')] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT)


def tree(folder):
    """{relative path: sha1} of every file under ``folder``."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(root, f)
            out[os.path.relpath(path, folder)] = hashlib.sha1(open(path, 'rb').read()).hexdigest()
    return out


@pytest.fixture(scope='module')
def finished_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('runs') / 'mog')
    train_mog.main(TINY + ['--unroll', '5', '--epochs', '2', '--out', out])
    return out


@pytest.mark.parametrize('changed, named', [
    (['--unroll', '0'], '--unroll 0 (snapshot: 5)'),
    (['--dataset', 'grid'], '--dataset grid (snapshot: ring)'),
    (['--z-dim', '8'], '--z-dim 8 (snapshot: 4)'),
])
def test_resume_with_other_model_flags_is_refused_and_the_run_is_untouched(finished_run, changed, named):
    before = tree(finished_run)
    args = TINY + ['--unroll', '5', '--epochs', '3', '--out', finished_run,
                   '--resume', os.path.join(finished_run, 'snapshot_iter_10')]
    proc = cli(*(args + changed))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and named in lines[0] and 'Traceback' not in proc.stderr, \
        proc.stderr
    assert tree(finished_run) == before  # args.json (and everything else) exactly as the run left it


def test_resume_may_change_length_output_and_display(finished_run, tmp_path):
    again = str(tmp_path / 'longer')
    res = train_mog.main(TINY + ['--unroll', '5', '--epochs', '3', '--out', again,
                                 '--resume', os.path.join(finished_run, 'snapshot_iter_10')])
    assert res['iterations'] == 15 and os.path.isfile(os.path.join(again, 'snapshot_iter_15'))
    assert json.load(open(os.path.join(again, 'args.json')))['epochs'] == 3
    assert run.saved_config(os.path.join(again, 'snapshot_iter_15'))['epochs'] == 3  # carried inside the snapshot


def test_every_start_records_its_machine(tmp_path, monkeypatch):
    """Per-seed results depend on the CPU's BLAS kernels: each start or resume adds its machine to machine.json."""
    monkeypatch.setenv('OMP_NUM_THREADS', '1')  # recorded as set (this process's BLAS has long been loaded)
    out = str(tmp_path / 'mog')
    train_mog.main(TINY + ['--unroll', '0', '--epochs', '1', '--out', out])
    train_mog.main(TINY + ['--unroll', '0', '--epochs', '2', '--out', out,
                           '--resume', os.path.join(out, 'snapshot_iter_5')])
    starts = json.load(open(os.path.join(out, 'machine.json')))
    assert [s['iteration'] for s in starts] == [0, 5]
    first = starts[0]
    assert (first['numpy'], first['chainer'], first['cores']) == (numpy.__version__, chainer.__version__, os.cpu_count())
    assert first['threads']['OMP_NUM_THREADS'] == '1' and first['cpu']
    loaded = open('/proc/self/maps').read().lower() if os.path.exists('/proc/self/maps') else ''
    if 'openblas' in loaded:  # both tested stacks: OpenBLAS names the kernel it chose, and its build lists it too
        assert first['openblas']['core'] and first['openblas']['core'] in first['openblas']['config']


def test_divergence_stops_the_run_in_one_line(tmp_path):
    out = str(tmp_path / 'nan')
    proc = cli(*(TINY + ['--lr', '1e30', '--unroll', '0', '--epochs', '4', '--out', out]))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == run.DIVERGED_STATUS, proc.stderr
    assert len(lines) == 1 and 'diverged at iteration 5' in lines[0] and 'NaN/Inf' in lines[0], proc.stderr
    assert 'Traceback' not in proc.stderr and not os.path.exists(os.path.join(out, 'metrics.json'))


class _Poison(chainer.training.Extension):
    """Test helper: writes NaN into G's output layer after iteration ``at`` (a run that diverges later)."""
    trigger = 1, 'iteration'

    def __init__(self, gen, at):
        self.gen, self.at = gen, at

    def __call__(self, trainer):
        if trainer.updater.iteration == self.at:
            self.gen.out.W.array[...] = numpy.nan


def test_divergence_names_the_last_good_snapshot(tmp_path, monkeypatch):
    out = str(tmp_path / 'late')
    real_begin = run.begin

    def begin_with_poison(trainer, args, config, links, guard_trigger, writer=True):
        trainer.extend(_Poison(links['gen'], 7))
        return real_begin(trainer, args, config, links, guard_trigger, writer)
    monkeypatch.setattr(run, 'begin', begin_with_poison)
    with pytest.raises(run.Diverged) as e:
        train_mog.main(TINY + ['--unroll', '0', '--epochs', '4', '--out', out])
    msg = str(e.value)
    assert 'diverged at iteration 10' in msg and 'gen/loss' in msg
    assert msg.endswith(os.path.join(out, 'snapshot_iter_5'))  # iteration 10's snapshot was never written
    assert not os.path.exists(os.path.join(out, 'snapshot_iter_10'))


def test_guard_checks_parameters_when_the_losses_look_fine(tmp_path):
    # an --out of its own: the default result/mog may hold the README's run, which parse_args rightly refuses
    gen, dis = train_mog.build(train_mog.parse_args(TINY + ['--out', str(tmp_path / 'g')]))[1:3]
    dis.out.b.array[0] = numpy.inf
    trainer = type('T', (), {'observation': {'gen/loss': numpy.float32(0.7)},
                             'updater': type('U', (), {'iteration': 3})()})()
    guard = run.DivergenceGuard({'gen': gen, 'dis': dis}, '/nonexistent')
    with pytest.raises(run.Diverged, match=r'iteration 3: dis parameter /out/b is NaN/Inf; last good snapshot: none'):
        guard(trainer)
    dis.out.b.array[0] = 0.0
    guard(trainer)  # all finite: no error


def test_short_ssl_run_still_writes_log_curve_and_final_snapshot(tmp_path):
    data = make_tiny_mnist(str(tmp_path / 'data'))
    out = str(tmp_path / 'short')
    train_mnist_ssl.main(['--data-dir', data, '--labels', '20', '--batch-size', '10', '--d-hidden', '16,8',
                          '--g-hidden', '8', '--epochs', '1', '--iterations-per-epoch', '7', '--quiet', '--out', out])
    for name in ('log', 'accuracy.png', 'snapshot_iter_7', 'metrics.json', 'args.json'):
        assert os.path.isfile(os.path.join(out, name)), name
    log = json.load(open(os.path.join(out, 'log')))
    assert log[-1]['iteration'] == 7 and 'validation/accuracy' in log[-1]


def test_progress_to_a_pipe_has_no_escape_codes(tmp_path):
    proc = cli(*[a for a in TINY if a != '--quiet'] + ['--unroll', '0', '--epochs', '40', '--out', str(tmp_path / 'p')])
    assert proc.returncode == 0, proc.stderr
    assert '\x1b' not in proc.stdout and 'iteration 100/200' in proc.stdout


def test_short_image_run_still_logs(tmp_path):
    import train_anime
    data = make_tiny_mnist(str(tmp_path / 'data'))
    out = str(tmp_path / 'img')
    train_anime.main(['--dataset', 'stacked-mnist', '--data-dir', data, '--stacked-size', '32', '--batch-size', '4',
                      '--g-ch', '16', '--d-ch', '4', '--z-dim', '4', '--epochs', '1', '--iterations-per-epoch', '3',
                      '--grid', '2', '--quiet', '--out', out])  # the log interval is 10 iterations
    log = json.load(open(os.path.join(out, 'log')))
    assert [entry['iteration'] for entry in log] == [3]


def test_a_run_shorter_than_the_snapshot_period_still_resumes_exactly(tmp_path):
    flags = [a for a in TINY if a not in ('--snapshot-every', '1')] + ['--unroll', '0']  # every 10 epochs (default)
    short, longer, straight = (str(tmp_path / name) for name in ('short', 'longer', 'straight'))
    train_mog.main(flags + ['--epochs', '1', '--out', short])
    assert os.path.isfile(os.path.join(short, 'snapshot_iter_5'))  # its last iteration, though not a 10th epoch
    train_mog.main(flags + ['--epochs', '2', '--out', longer, '--resume', os.path.join(short, 'snapshot_iter_5')])
    train_mog.main(flags + ['--epochs', '2', '--out', straight])
    assert sorted(f for f in os.listdir(straight) if f.startswith('snapshot')) == ['snapshot_iter_10']
    full = numpy.load(os.path.join(straight, 'snapshot_iter_10'))
    resumed = numpy.load(os.path.join(longer, 'snapshot_iter_10'))
    keys = [k for k in full.files if k.startswith(('updater/', 'extension_triggers/'))]
    assert any('model:gen' in k for k in keys) and any('_Snapshot/interval' in k for k in keys)
    for k in keys:
        numpy.testing.assert_array_equal(full[k], resumed[k], err_msg=k)


def test_a_snapshot_whose_snapshot_trigger_was_a_plain_interval_trigger_resumes_exactly(tmp_path):
    """Snapshots written before the snapshot trigger fired at the end too hold its state one level up
    (``extension_triggers/_Snapshot/previous_iteration``); they load without Chainer's "not saved" guess."""
    full, resumed = str(tmp_path / 'full'), str(tmp_path / 'resumed')
    train_mog.main(TINY + ['--unroll', '0', '--epochs', '2', '--out', full])
    with numpy.load(os.path.join(full, 'snapshot_iter_5')) as z:
        arrays = {k.replace('extension_triggers/_Snapshot/interval/', 'extension_triggers/_Snapshot/'): z[k]
                  for k in z.files}
    assert 'extension_triggers/_Snapshot/previous_iteration' in arrays
    old = str(tmp_path / 'old_snapshot_iter_5')
    with open(old, 'wb') as f:
        numpy.savez(f, **arrays)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        train_mog.main(TINY + ['--unroll', '0', '--epochs', '2', '--out', resumed, '--resume', old])
    assert not [w for w in seen if 'is not saved' in str(w.message)], [str(w.message) for w in seen]
    a, b = numpy.load(os.path.join(full, 'snapshot_iter_10')), numpy.load(os.path.join(resumed, 'snapshot_iter_10'))
    assert int(b['extension_triggers/_Snapshot/interval/previous_iteration']) == 10
    for k in [k for k in a.files if k.startswith(('updater/', 'extension_triggers/'))]:
        numpy.testing.assert_array_equal(a[k], b[k], err_msg=k)
