"""ChainerMN data-parallel training (ganlib.distributed) on the CPU with Open MPI's mpiexec and the naive
communicator: ranks stay identical, and N ranks at batch B equal one process at batch N·B."""
import os
import shutil
import subprocess
import sys

import numpy
import pytest

from tests.mpi_driver import parameters, train
from tests.test_mnist_ssl import make_tiny_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIEXEC = shutil.which('mpiexec')


def _mpi4py():
    try:
        import mpi4py  # noqa: F401
        return True
    except ImportError:
        return False


needs_mpi = pytest.mark.skipif(MPIEXEC is None or not _mpi4py(), reason='needs Open MPI (mpiexec) and mpi4py')
TINY = ['--z-dim', '8', '--g-hidden', '16,16', '--d-hidden', '16', '--quiet', '--seed', '3']


def mpirun(n, *args, timeout=240):
    cmd = [MPIEXEC, '--allow-run-as-root', '--oversubscribe', '-n', str(n), sys.executable] + list(args)
    env = dict(os.environ, OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1')
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout,
                          cwd=ROOT, env=env)


@needs_mpi
@pytest.mark.parametrize('unroll', ['0', '5'])
def test_two_ranks_stay_identical_and_equal_one_rank_at_twice_the_batch(tmp_path, unroll):
    out = str(tmp_path / 'params.npz')
    proc = mpirun(2, os.path.join(ROOT, 'tests', 'mpi_driver.py'), out, '4', 'train_mog.py',
                  *(TINY + ['--unroll', unroll, '--batch-size', '8', '--communicator', 'naive']))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = numpy.load(out)
    names = sorted(k[2:] for k in got.files if k.startswith('0/'))
    for name in names:  # every look-ahead step was all-reduced: the ranks hold the same θ_G and θ_D
        numpy.testing.assert_array_equal(got['0/' + name], got['1/' + name], err_msg=name)
    _, gen, dis = train('train_mog.py', TINY + ['--unroll', unroll, '--batch-size', '16'], 4)
    ref = parameters(gen, dis)
    assert sorted(ref) == names
    for name in names:
        numpy.testing.assert_allclose(got['0/' + name], ref[name], rtol=1e-4, atol=1e-6, err_msg=name)
    _, gen0, dis0 = train('train_mog.py', TINY + ['--unroll', unroll, '--batch-size', '16'], 0)
    moved = sum(not numpy.array_equal(v, parameters(gen0, dis0)[k]) for k, v in ref.items())
    assert moved == len(ref)  # the comparison is not between untrained models


@needs_mpi
@pytest.mark.parametrize('script, flags', [
    ('train_anime.py', ['--dataset', 'stacked-mnist', '--stacked-size', '64', '--batch-size', '4', '--g-ch', '16',
                        '--d-ch', '4', '--z-dim', '8']),
    ('train_mnist_ssl.py', ['--labels', '20', '--batch-size', '10', '--d-hidden', '16,8', '--g-hidden', '8']),
])
@pytest.mark.parametrize('unroll', ['0', '3'])
def test_image_scripts_keep_ranks_identical(tmp_path, script, flags, unroll):
    """BN and noise layers make ranks see different batches, yet the all-reduced updates keep θ identical."""
    data = make_tiny_mnist(str(tmp_path / 'data'))
    out = str(tmp_path / 'params.npz')
    proc = mpirun(2, os.path.join(ROOT, 'tests', 'mpi_driver.py'), out, '2', script,
                  *(flags + ['--data-dir', data, '--unroll', unroll, '--communicator', 'naive', '--quiet']))
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = numpy.load(out)
    names = sorted(k[2:] for k in got.files if k.startswith('0/'))
    assert names and all(numpy.array_equal(got['0/' + n], got['1/' + n]) for n in names)


@needs_mpi
def test_script_runs_on_two_ranks_rank0_writes_and_resumes(tmp_path):
    run = str(tmp_path / 'run')
    flags = TINY + ['--unroll', '5', '--batch-size', '8', '--communicator', 'naive', '--epochs', '2',
                    '--iterations-per-epoch', '3', '--snapshot-every', '1', '--eval-samples', '100',
                    '--plot-samples', '100']
    proc = mpirun(2, os.path.join(ROOT, 'train_mog.py'), *(flags + ['--out', run]))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('final:') == 1  # rank 0 alone reports and writes
    for name in ('metrics.json', 'log', 'kde.png', 'snapshot_iter_3', 'snapshot_iter_6'):
        assert os.path.isfile(os.path.join(run, name)), name
    again = str(tmp_path / 'again')
    proc = mpirun(2, os.path.join(ROOT, 'train_mog.py'),
                  *(flags + ['--out', again, '--resume', os.path.join(run, 'snapshot_iter_3')]))
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = numpy.load(os.path.join(run, 'snapshot_iter_6')), numpy.load(os.path.join(again, 'snapshot_iter_6'))
    for k in a.files:
        if k.startswith('updater/'):
            numpy.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _one_line_error(proc, words):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and words in lines[0] and 'Traceback' not in proc.stderr, \
        proc.stderr


def test_missing_mpi4py_is_one_line(tmp_path):
    fake = tmp_path / 'fake' / 'mpi4py'
    fake.mkdir(parents=True)
    (fake / '__init__.py').write_text("raise ImportError('No module named mpi4py')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path / 'fake'), os.environ.get('PYTHONPATH')])))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'train_mog.py'), '--communicator', 'naive',
                           '--out', str(tmp_path / 'out')], stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    _one_line_error(proc, 'needs MPI and mpi4py')


@pytest.mark.parametrize('flags, words', [
    (['--unroll', '5', '--unroll-mode', 'second-order'], 'second-order'),
    (['--loss', 'began', '--unroll', '0'], 'began'),
])
def test_refused_combinations_are_one_line(tmp_path, flags, words):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'train_mog.py'), '--communicator', 'naive',
                           '--out', str(tmp_path / 'out')] + flags, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    _one_line_error(proc, words)
