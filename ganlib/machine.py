"""Where a run ran: CPU, BLAS library and kernel, thread settings and package versions.

A seeded run is bit-exact on one machine, but not across machines: OpenBLAS picks its GEMM kernels for the CPU it
finds (``DYNAMIC_ARCH``: e.g. ``SkylakeX`` with AVX-512, ``Zen`` or ``Haswell`` with AVX2), NumPy picks its SIMD
loops the same way, and training amplifies the last-bit differences.  So every run folder records this next to its
configuration (``results/mog_full.md`` shows a seed that ends differently on another CPU)."""
import os
import platform
import sys

from ganlib.blas_kernel import MARKER, openblas  # noqa: F401  (openblas: part of this module's API)

THREAD_VARIABLES = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_CORETYPE', MARKER)


def cpu_model():
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def simd():
    """The SIMD extensions NumPy found on this CPU and may dispatch to (its loops differ with AVX-512 and AVX2)."""
    import numpy
    core = getattr(numpy, '_core', None) or numpy.core
    features = getattr(getattr(core, '_multiarray_umath', None), '__cpu_features__', {})
    return sorted(k for k, v in features.items() if v and k.startswith(('AVX', 'FMA')))


def describe():
    """A JSON-able record of this process's machine and software."""
    import chainer
    import numpy
    record = {
        'cpu': cpu_model(),
        'cores': os.cpu_count(),
        'openblas': openblas(),
        'simd': simd(),
        'threads': {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        'python': sys.version.split()[0],
        'numpy': numpy.__version__,
        'chainer': chainer.__version__,
    }
    cupy = sys.modules.get('cupy')
    if cupy is not None:
        record['cupy'] = cupy.__version__
        try:
            record['gpu'] = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)['name'].decode()
        except Exception:  # no device visible: the version is still worth recording
            pass
    return record


def summary():
    """One line for a report: CPU, cores, OpenBLAS kernel, SIMD, Python and NumPy."""
    r = describe()
    blas = 'OpenBLAS {} kernels'.format(r['openblas']['core']) if r['openblas'] else 'BLAS not OpenBLAS'
    return '{} ({} cores, {}, {}), Python {}, NumPy {}'.format(
        r['cpu'], r['cores'], blas, '/'.join(r['simd']) or 'no AVX', r['python'], r['numpy'])
