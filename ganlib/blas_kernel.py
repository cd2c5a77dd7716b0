"""Keep OpenBLAS off its generic kernels on CPUs it does not recognise.

OpenBLAS built with ``DYNAMIC_ARCH`` (NumPy's wheels) picks its GEMM kernels from the CPU's family and model when
the library loads.  A CPU newer than the OpenBLAS build is not in its tables, and OpenBLAS then falls back to its
``Prescott`` kernels (SSE3): NumPy 1.26's OpenBLAS 0.3.23 does so on an Intel Xeon of family 6, model 207
(Emerald Rapids), where a 1024 × 1024 float32 GEMM takes 55–58 ms against 11–16 ms with the AVX-512 kernels it
has.  The kernel can only be chosen before the library loads, through ``OPENBLAS_CORETYPE``, so
``ganlib/__init__.py`` calls :func:`apply` before anything imports NumPy:

* nothing is done when ``OPENBLAS_CORETYPE`` is already set (to anything: setting it yourself is the way out), when
  NumPy is already imported, off Linux, or when the CPU has no AVX2;
* otherwise a child Python (this file run as a script) asks the OpenBLAS that NumPy loads which kernel it picks;
  only if that is one of the generic fallbacks is ``OPENBLAS_CORETYPE`` set to the kernel OpenBLAS itself uses for
  the CPU's instruction set (AVX-512 with BF16: ``Cooperlake``, AVX-512: ``SkylakeX``, AVX2 with FMA: ``Haswell``),
  after a second child confirms that this OpenBLAS accepts it.  ``GANLIB_OPENBLAS_CORETYPE`` records that it was
  set here.

The answer is cached per interpreter, NumPy build and CPU (``~/.cache/gan-stabilisation/openblas_kernel.json``), so
the children run once per machine.  The choice changes only the speed and, as any kernel does, the last bits of
float32 results: a run stays bit-exact on one machine, and ``machine.json`` records the variables.
This module must not import NumPy.
"""
import ctypes
import hashlib
import json
import os
import subprocess
import sys

MARKER = 'GANLIB_OPENBLAS_CORETYPE'
CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'gan-stabilisation', 'openblas_kernel.json')
# OpenBLAS's kernels for CPUs without AVX2: what it falls back to for a CPU it does not know.
GENERIC_KERNELS = frozenset(s.lower() for s in (
    'Prescott', 'Core2', 'Penryn', 'Dunnington', 'Nehalem', 'Katmai', 'Coppermine', 'Northwood', 'Banias',
    'Atom', 'Barcelona', 'Opteron', 'Opteron_SSE3', 'Bobcat', 'Generic', 'unknown'))


def cpu_flags(cpuinfo='/proc/cpuinfo'):
    """The first processor's feature flags from ``/proc/cpuinfo`` (an empty set where it cannot be read)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith('flags'):
                    return frozenset(line.split(':', 1)[1].split())
    except OSError:
        pass
    return frozenset()


def kernel_for(flags):
    """The OpenBLAS kernel for a CPU with these flags, as OpenBLAS's own table assigns it to CPUs it knows (Cooper
    Lake and Sapphire Rapids with AVX-512 BF16, Skylake-X with AVX-512, Haswell with AVX2 and FMA); None without
    AVX2."""
    if {'avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl'} <= flags:
        return 'Cooperlake' if 'avx512_bf16' in flags else 'SkylakeX'
    if {'avx2', 'fma'} <= flags:
        return 'Haswell'
    return None


def openblas():
    """OpenBLAS's build and the kernel it chose at run time (e.g. ``'OpenBLAS 0.3.23.dev … Zen'``), read from the
    library NumPy has loaded; None where NumPy uses another BLAS or the library cannot be asked.  Imports NumPy."""
    import numpy  # noqa: F401  (loads the BLAS)
    try:
        with open('/proc/self/maps') as f:
            paths = sorted({line.split()[-1] for line in f if 'openblas' in line.lower() and '/' in line})
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ('openblas_get_{}64_', 'scipy_openblas_get_{}64_', 'openblas_get_{}', 'scipy_openblas_get_{}'):
            config = getattr(lib, name.format('config'), None)
            core = getattr(lib, name.format('corename'), None)
            if config is not None and core is not None:
                config.restype = core.restype = ctypes.c_char_p
                return {'config': config().decode().strip(), 'core': core().decode().strip()}
    return None


def probe(coretype=None, python=sys.executable):
    """The kernel OpenBLAS picks when NumPy loads it in a child ``python`` running this file (with
    ``OPENBLAS_CORETYPE=coretype`` where given, unset otherwise); None where that cannot be found out."""
    env = {k: v for k, v in os.environ.items() if k != 'OPENBLAS_CORETYPE'}
    if coretype is not None:
        env['OPENBLAS_CORETYPE'] = coretype
    try:
        out = subprocess.run([python, os.path.abspath(__file__)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=env, timeout=60, text=True)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    return lines[-1] if out.returncode == 0 and lines else None


def cache_key(flags, python=sys.executable):
    """What the answer depends on: the interpreter, the NumPy it would import (path and file stamp) and the CPU."""
    import importlib.util
    spec = importlib.util.find_spec('numpy')
    origin = spec.origin if spec is not None and spec.origin else ''
    try:
        stamp = os.stat(origin).st_mtime_ns
    except OSError:
        stamp = 0
    text = '\n'.join([os.path.realpath(python), origin, str(stamp), ' '.join(sorted(flags))])
    return hashlib.sha1(text.encode()).hexdigest()


def decide(flags, probe=probe):
    """The ``OPENBLAS_CORETYPE`` to set, or None: only when OpenBLAS, left alone, picks a generic kernel on a CPU
    with AVX2, and accepts the kernel :func:`kernel_for` names when asked for it."""
    wanted = kernel_for(flags)
    if wanted is None:
        return None
    default = probe()
    if default is None or default.lower() not in GENERIC_KERNELS:
        return None
    forced = probe(wanted)
    return wanted if forced is not None and forced.lower() == wanted.lower() else None


def _read_cache(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _write_cache(path, cache):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = '{}.{}.tmp'.format(path, os.getpid())
        with open(tmp, 'w') as f:
            json.dump(cache, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs the children again next time


def apply(environ=os.environ, modules=sys.modules, platform=sys.platform, flags=None, probe=probe, cache=CACHE):
    """Set ``OPENBLAS_CORETYPE`` in ``environ`` where :func:`decide` says so (see the module's docstring); the
    kernel set, or None."""
    if 'OPENBLAS_CORETYPE' in environ or 'numpy' in modules or not platform.startswith('linux'):
        return None
    flags = cpu_flags() if flags is None else flags
    if kernel_for(flags) is None:
        return None
    key = cache_key(flags)
    known = _read_cache(cache)
    if key in known:
        chosen = known[key]
    else:
        chosen = decide(flags, probe)
        known[key] = chosen
        _write_cache(cache, known)
    if chosen:
        environ['OPENBLAS_CORETYPE'] = chosen
        environ[MARKER] = chosen
    return chosen


def without_choice(environ):
    """A copy of ``environ`` without what :func:`apply` set, for a child that should decide for itself (another
    checkout, say, in a before/after timing); a ``OPENBLAS_CORETYPE`` set by the user is kept."""
    env = dict(environ)
    if env.get(MARKER) is not None and env.pop(MARKER) == env.get('OPENBLAS_CORETYPE'):
        del env['OPENBLAS_CORETYPE']
    return env


if __name__ == '__main__':  # the child of probe(): run as a file, so that the ganlib package is not imported
    found = openblas()
    print(found['core'] if found else '')
