"""train_mog.py end to end: outputs, resume, bad flags."""
import json
import os
import subprocess
import sys

import numpy
import pytest

import train_mog
from tests.conftest import ROOT

TINY = ['--epochs', '2', '--iterations-per-epoch', '5', '--batch-size', '16', '--z-dim', '4',
        '--g-hidden', '8', '--d-hidden', '8', '--eval-samples', '200', '--plot-samples', '300',
        '--plot-every', '1', '--snapshot-every', '1', '--quiet']


def test_short_run_writes_png_json_log_and_snapshots(tmp_path):
    out = str(tmp_path / 'run')
    result = train_mog.main(TINY + ['--unroll', '3', '--out', out])
    for name in ('kde.png', 'metrics.json', 'args.json', 'log', 'snapshot_iter_5', 'snapshot_iter_10',
                 'samples/epoch_0000.npy', 'samples/epoch_0002.npy'):
        assert os.path.isfile(os.path.join(out, name)), name
    with open(os.path.join(out, 'kde.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    metrics = json.load(open(os.path.join(out, 'metrics.json')))
    assert metrics['iterations'] == 10 and metrics['n_modes'] == 8
    assert 0 <= metrics['hq'] <= 1 and 0 <= metrics['modes'] <= 8
    assert metrics['config']['unroll'] == 3 and result['modes'] == metrics['modes']
    log = json.load(open(os.path.join(out, 'log')))
    assert [e['epoch'] for e in log] == [1, 2]
    assert {'gen/loss', 'dis/loss', 'eval/modes', 'eval/hq', 'eval/rev_kl'} <= set(log[0])
    assert numpy.load(os.path.join(out, 'samples', 'epoch_0001.npy')).shape == (300, 2)


@pytest.mark.parametrize('extra', [['--unroll', '2'], ['--loss', 'lsgan', '--feature-matching'],
                                   ['--minibatch-discrimination', '--md-kernels', '3', '--md-dim', '2'],
                                   ['--unroll', '2', '--unroll-mode', 'second-order', '--dataset', 'grid'],
                                   ['--unroll', '0', '--loss', 'wgan', '--gradient-penalty', '10', '--n-critic', '2'],
                                   ['--unroll', '0', '--loss', 'began'],
                                   ['--unroll', '0', '--loss', 'hinge', '--spectral-norm', '--historical-averaging',
                                    '0.01', '--lr-d', '4e-3', '--lr-g', '1e-3'],
                                   ['--unroll', '2', '--loss', 'wgan', '--weight-clip', '0.05', '--ortho-reg', '1e-3',
                                    '--optimizer', 'rmsprop']])
def test_resume_continues_exactly(tmp_path, extra):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    train_mog.main(TINY + extra + ['--out', a])
    train_mog.main(TINY + extra + ['--out', b, '--resume', os.path.join(a, 'snapshot_iter_5')])
    full = numpy.load(os.path.join(a, 'snapshot_iter_10'))
    resumed = numpy.load(os.path.join(b, 'snapshot_iter_10'))
    keys = [k for k in full.files if k.startswith('updater/')]
    assert any('model:gen' in k for k in keys) and any('z_rng' in k for k in keys)
    for k in keys:
        numpy.testing.assert_array_equal(full[k], resumed[k], err_msg=k)


def run_cli(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, 'train_mog.py')] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


@pytest.mark.parametrize('args, words', [
    (['--unroll', '-1'], 'integer >= 0'),
    (['--loss', 'hinge-xyz'], 'invalid choice'),
    (['--z-dim', '0'], 'positive integer'),
    (['--lsgan-abc', '1,2'], 'three comma-separated'),
    (['--init', 'zeros'], 'unknown initializer'),
    (['--device', '@cupy:99'], 'cannot use device'),  # no GPU here, or no 100th GPU on a GPU machine
    (['--seed', '-5'], 'integer >= 0'),
    (['--lr', 'inf'], 'positive finite'),
    (['--beta1', '2'], '[0, 1)'),
    (['--beta1', 'nan'], '[0, 1)'),
    (['--beta2', '1'], '[0, 1)'),
    (['--std', 'inf'], 'positive finite'),
    (['--loss', 'wgan', '--gradient-penalty', '10', '--minibatch-discrimination'], 'per-example critic'),
    (['--loss', 'wgan', '--weight-clip', '0.01', '--unroll-mode', 'second-order'], 'inside the look-ahead'),
    (['--optimizer', 'rmsprop', '--unroll-mode', 'second-order'], 'Adam steps only'),
    (['--unroll', '1', '--unroll-mode', 'second-order', '--loss', 'wgan', '--gradient-penalty', '1'],
     'second-order supports neither'),
    (['--resume', '/nonexistent/snap'], 'no such snapshot'),
    (['--loss', 'gan', '--gradient-penalty', '10'], 'unbounded linear output'),
    (['--loss', 'wgan'], 'needs a Lipschitz constraint'),
    (['--loss', 'wgan', '--weight-clip', '0.01', '--gradient-penalty', '10'], 'choose one Lipschitz'),
    (['--loss', 'hinge', '--weight-clip', '0.01'], 'with --loss wgan'),
    (['--loss', 'lsgan', '--label-smoothing', '0.9'], 'needs the cross-entropy loss'),
    (['--label-smoothing', '1.5'], 'in [0, 1]'),
    (['--label-smoothing', '0.5', '--fake-label', '0.6'], 'must be below'),
    (['--unroll', '5', '--n-critic', '5'], 'choose one'),
    (['--loss', 'began', '--feature-matching', '--unroll', '0'], 'cannot be combined with --feature-matching'),
    (['--historical-averaging', '0.01', '--unroll', '5'], 'look-ahead'),
    (['--truncation', '1', '--z-dist', 'uniform'], 'normal latents'),
])
def test_bad_flags_give_one_line_errors(tmp_path, args, words):
    out = str(tmp_path / 'run')
    proc = run_cli(*(args + ['--epochs', '1', '--iterations-per-epoch', '1', '--quiet', '--out', out]))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and 'Traceback' not in proc.stderr, proc.stderr
    assert not os.path.exists(out)  # a failed start leaves nothing behind


def test_help():
    proc = run_cli('--help')
    assert proc.returncode == 0 and '--unroll' in proc.stdout and '--device' in proc.stdout
