"""Make Chainer 7.8.1 import and run on today's Python and NumPy.

Import this module before ``chainer`` (every module of this repository does, via
``import ganlib.compat``); it imports chainer itself.  It is idempotent and only patches what is
missing:

* ``numpy.float`` (removed in NumPy 1.24) is used by ``F.resize_images``.
* ``numpy.sctypes`` (removed in NumPy 2) is read by ``F.as_strided`` at import.
* ``numpy.distutils`` (gone in Python 3.12, and broken by setuptools >= 74) is
  imported by ``chainer._environment_check`` only for a macOS BLAS warning.
* ``pkg_resources`` (absent when setuptools is not installed) is used by the
  same check to look for optional dependencies.
* the "cuDNN is not enabled" and "pkg_resources is deprecated" import warnings are silenced.
"""
import importlib
import sys
import types
import warnings

import numpy

PATCHES = []


def _patch_numpy_aliases():
    if 'float' not in numpy.__dict__:
        numpy.float = float
        PATCHES.append('numpy.float')
    if 'sctypes' not in numpy.__dict__:
        try:
            numpy.sctypes  # NumPy < 2 serves it through __getattr__
        except AttributeError:
            numpy.sctypes = {
                'int': [numpy.int8, numpy.int16, numpy.int32, numpy.int64],
                'uint': [numpy.uint8, numpy.uint16, numpy.uint32,
                         numpy.uint64],
                'float': [numpy.float16, numpy.float32, numpy.float64,
                          numpy.longdouble],
                'complex': [numpy.complex64, numpy.complex128,
                            numpy.clongdouble],
                'others': [bool, object, bytes, str, numpy.void],
            }
            PATCHES.append('numpy.sctypes')


def _stub_numpy_distutils():
    """Chainer imports numpy.distutils only for a macOS BLAS warning.  The real module is deprecated,
    missing on Python 3.12 and broken by setuptools >= 74, so a stand-in serves the import."""
    if 'numpy.distutils.system_info' in sys.modules:
        return
    pkg = types.ModuleType('numpy.distutils')
    pkg.__path__ = []
    info = types.ModuleType('numpy.distutils.system_info')
    info.get_info = lambda name, notfound_action=0: {}
    pkg.system_info = info
    sys.modules['numpy.distutils'] = pkg
    sys.modules['numpy.distutils.system_info'] = info
    PATCHES.append('numpy.distutils (stub)')


def _stub_pkg_resources():
    try:
        importlib.import_module('pkg_resources')
        return
    except Exception:  # setuptools not installed (e.g. a Python 3.12 venv)
        pass

    class DistributionNotFound(Exception):
        pass

    class VersionConflict(Exception):
        pass

    def require(requirement):
        raise DistributionNotFound(requirement)

    mod = types.ModuleType('pkg_resources')
    mod.DistributionNotFound = DistributionNotFound
    mod.VersionConflict = VersionConflict
    mod.require = require
    sys.modules['pkg_resources'] = mod
    PATCHES.append('pkg_resources (stub)')


def _quiet_import_warnings():
    """Two warnings that every script would print at start on today's GPU stack, and that say nothing the
    user can act on: CuPy >= 14 ships without cuDNN (Chainer then uses CuPy's own convolution and batch
    norm kernels: ``benchmarks/gpu_check.py`` reports it), and setuptools >= 81 deprecates pkg_resources,
    which Chainer's import-time environment check reads."""
    warnings.filterwarnings('ignore', message='cuDNN is not enabled', category=UserWarning)
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated')  # UserWarning or DeprecationWarning


def apply():
    """Apply every needed patch and import chainer; return the list of patches applied so far.

    The ``numpy.distutils``/``pkg_resources`` stand-ins are in ``sys.modules`` only while chainer
    imports, so other code never sees them.
    """
    _patch_numpy_aliases()
    _quiet_import_warnings()
    if 'chainer' in sys.modules:
        return list(PATCHES)
    saved = {name: sys.modules.get(name) for name in
             ('numpy.distutils', 'numpy.distutils.system_info', 'pkg_resources')}
    _stub_numpy_distutils()
    _stub_pkg_resources()
    try:
        importlib.import_module('chainer')
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return list(PATCHES)


apply()
