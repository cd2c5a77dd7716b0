"""ganlib.blas_kernel: OpenBLAS kept off its generic kernels where it does not recognise the CPU."""
import json
import os
import subprocess
import sys

import pytest

from ganlib import blas_kernel
from tests.conftest import ROOT

SKX = {'avx2', 'fma', 'avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl'}


@pytest.mark.parametrize('flags, kernel', [
    (SKX | {'avx512_bf16'}, 'Cooperlake'),  # Cooper Lake, Sapphire / Emerald Rapids, AMD Zen 4 and 5
    (SKX, 'SkylakeX'),
    ({'avx2', 'fma', 'avx512f'}, 'Haswell'),  # AVX-512 foundation alone is not Skylake-X's set
    ({'avx', 'avx2', 'fma'}, 'Haswell'),
    ({'avx', 'avx2'}, None),  # no FMA: OpenBLAS's Haswell kernels need it
    ({'sse2', 'sse3'}, None),
])
def test_kernel_follows_the_instruction_set(flags, kernel):
    assert blas_kernel.kernel_for(frozenset(flags)) == kernel


def test_cpu_flags_reads_the_first_processor(tmp_path):
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n')
    assert blas_kernel.cpu_flags(str(info)) == {'fpu', 'sse2', 'avx2', 'fma'}
    assert blas_kernel.cpu_flags(str(tmp_path / 'missing')) == frozenset()


class FakeProbe:
    """What OpenBLAS would pick: ``default`` when left alone; a forced name if it is in ``accepts``."""

    def __init__(self, default, accepts=('Cooperlake', 'SkylakeX', 'Haswell')):
        self.default, self.accepts, self.calls = default, accepts, []

    def __call__(self, coretype=None):
        self.calls.append(coretype)
        if coretype is None:
            return self.default
        return coretype if coretype in self.accepts else self.default


@pytest.mark.parametrize('default, accepts, expected', [
    ('Prescott', ('Cooperlake',), 'Cooperlake'),  # the fallback: set the kernel OpenBLAS has for this CPU
    ('SkylakeX', ('Cooperlake',), None),  # recognised (even if not as we would): left alone
    ('Zen', ('Cooperlake',), None),
    ('Prescott', (), None),  # an OpenBLAS without that kernel: nothing gained, left alone
    (None, ('Cooperlake',), None),  # no OpenBLAS (another BLAS) or the child failed
])
def test_decide_only_overrides_a_generic_fallback(default, accepts, expected):
    fake = FakeProbe(default, accepts)
    assert blas_kernel.decide(frozenset(SKX | {'avx512_bf16'}), fake) == expected
    assert fake.calls[0] is None


def test_apply_sets_the_variable_once_and_caches_the_answer(tmp_path):
    cache = str(tmp_path / 'cache.json')
    fake = FakeProbe('Prescott')
    env = {}
    kw = dict(modules={}, platform='linux', flags=frozenset(SKX), probe=fake, cache=cache)
    assert blas_kernel.apply(env, **kw) == 'SkylakeX'
    assert env == {'OPENBLAS_CORETYPE': 'SkylakeX', blas_kernel.MARKER: 'SkylakeX'}
    assert fake.calls == [None, 'SkylakeX']
    assert list(json.load(open(cache)).values()) == ['SkylakeX']
    env2 = {}
    assert blas_kernel.apply(env2, **kw) == 'SkylakeX' and env2 == env
    assert fake.calls == [None, 'SkylakeX']  # the second start asked the cache, not OpenBLAS
    # a recognised CPU is cached as such: nothing set, nothing probed again
    cache2 = str(tmp_path / 'cache2.json')
    fake2 = FakeProbe('SkylakeX')
    for _ in range(2):
        env3 = {}
        assert blas_kernel.apply(env3, **dict(kw, probe=fake2, cache=cache2)) is None and env3 == {}
    assert fake2.calls == [None]


@pytest.mark.parametrize('env, modules, platform, flags', [
    ({'OPENBLAS_CORETYPE': 'Prescott'}, {}, 'linux', SKX),  # the user's choice wins, even the slow one
    ({}, {'numpy': object()}, 'linux', SKX),  # too late: the library is loaded
    ({}, {}, 'darwin', SKX),
    ({}, {}, 'linux', {'sse2'}),  # nothing better to pick
])
def test_apply_leaves_alone(tmp_path, env, modules, platform, flags):
    fake = FakeProbe('Prescott')
    before = dict(env)
    assert blas_kernel.apply(env, modules=modules, platform=platform, flags=frozenset(flags), probe=fake,
                             cache=str(tmp_path / 'c.json')) is None
    assert env == before and fake.calls == [] and not os.path.exists(str(tmp_path / 'c.json'))


def test_without_choice_drops_only_what_apply_set():
    mine = {'OPENBLAS_CORETYPE': 'Haswell', blas_kernel.MARKER: 'Haswell', 'PATH': '/bin'}
    assert blas_kernel.without_choice(mine) == {'PATH': '/bin'}
    users = {'OPENBLAS_CORETYPE': 'Zen', 'PATH': '/bin'}
    assert blas_kernel.without_choice(users) == users
    changed = {'OPENBLAS_CORETYPE': 'Zen', blas_kernel.MARKER: 'Haswell'}  # the user changed it afterwards
    assert blas_kernel.without_choice(changed) == {'OPENBLAS_CORETYPE': 'Zen'}


def run_python(code, env):
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_on_this_machine_numpy_under_ganlib_never_runs_a_generic_kernel_on_an_avx2_cpu(tmp_path):
    """The real library, in fresh processes: what NumPy alone picks, and what it runs under ganlib."""
    env = {k: v for k, v in os.environ.items() if k not in ('OPENBLAS_CORETYPE', blas_kernel.MARKER)}
    env['HOME'] = str(tmp_path)  # a fresh cache
    alone = blas_kernel.probe()
    under = run_python('import ganlib, os; from ganlib import machine; '
                       'print(machine.openblas()["core"], os.environ.get("OPENBLAS_CORETYPE", "-"))', env)
    if alone is None:
        pytest.skip('NumPy does not use OpenBLAS here')
    wanted = blas_kernel.kernel_for(blas_kernel.cpu_flags())
    if alone.lower() in blas_kernel.GENERIC_KERNELS and wanted is not None:
        assert under == [wanted, wanted]
    else:
        assert under == [alone, '-']  # a recognised CPU keeps OpenBLAS's own choice
    assert os.path.exists(str(tmp_path / '.cache' / 'gan-stabilisation' / 'openblas_kernel.json'))
    # the user's setting is kept, unmarked
    assert run_python('import ganlib, os; print(os.environ["OPENBLAS_CORETYPE"], os.environ.get("{}", "-"))'
                      .format(blas_kernel.MARKER), dict(env, OPENBLAS_CORETYPE='Prescott')) == ['Prescott', '-']
