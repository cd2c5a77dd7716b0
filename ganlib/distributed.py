"""Data-parallel training over MPI ranks with ChainerMN (Akiba et al. 2017, "ChainerMN: Scalable
Distributed Deep Learning Framework"), for the training scripts' ``--communicator`` flag.

  mpiexec -n 4 .venv/bin/python train_anime.py --communicator pure_nccl --device @cupy:0 ...

Design (one process per rank, N ranks, per-rank batch B):

* every rank iterates over the same *global* batches of N·B examples (same shuffling seed) and keeps
  rows [rB, (r+1)B) — data and latents z alike — so N ranks at batch B train exactly as one process
  at batch N·B would (up to float32 rounding of the gradient mean), for models without batch norm or
  minibatch discrimination (those see the local batch only);
* both optimizers are wrapped by ``chainermn.create_multi_node_optimizer``: every ``update()`` — each
  look-ahead step of a first-order unrolled update included — averages the gradients over the ranks
  first, so every rank holds the same θ_D^(k) and, after the restore, the same θ_D^(1);
* the initial parameters are broadcast from rank 0, and the wrapper is told so, so that its first
  ``update()`` is a real step (ChainerMN's own first call only broadcasts);
* noise layers and the WGAN-GP's ε draw from per-rank forks of their streams;
* logs, samples, snapshots and final metrics are written by rank 0; ``--resume`` loads the one
  snapshot on every rank (it must be readable by all: same machine or a shared file system).

Not distributed: second-order unrolling (its look-ahead gradients live inside the graph) and BEGAN
(k_t would be updated from rank 0's losses only): refused with a one-line error.
"""
import ganlib.compat  # noqa: F401

from ganlib import cli

COMMUNICATORS = ('naive', 'flat', 'hierarchical', 'two_dimensional', 'single_node', 'non_cuda_aware', 'pure_nccl')


def add_arguments(parser):
    parser.add_argument('--communicator', choices=COMMUNICATORS, default=None,
                        help='data-parallel training over MPI ranks with ChainerMN (run under mpiexec): naive '
                             '(CPU), pure_nccl (GPUs), ...; each rank takes its slice of every global batch')


def validate(args):
    """A one-line reason why ``args`` cannot be distributed, or None."""
    if getattr(args, 'communicator', None) is None:
        return None
    if getattr(args, 'unroll', 0) >= 2 and getattr(args, 'unroll_mode', '') == 'second-order':
        return '--communicator cannot be combined with --unroll-mode second-order (use first-order)'
    if getattr(args, 'loss', None) == 'began':
        return '--communicator cannot be combined with --loss began'
    return None


def create(args):
    """The ChainerMN communicator for ``args.communicator`` (None without it), or a one-line CleanExit."""
    if getattr(args, 'communicator', None) is None:
        return None
    try:
        import mpi4py.MPI  # noqa: F401
    except Exception as e:  # not installed, or no MPI library behind it
        raise cli.CleanExit('--communicator needs MPI and mpi4py ({}); install Open MPI (Debian: openmpi-bin '
                            'libopenmpi-dev) and run ./setup.sh --mpi'.format(str(e).splitlines()[0] if str(e)
                                                                               else type(e).__name__))
    import chainermn
    _patch_pack_kernels()
    try:
        return chainermn.create_communicator(args.communicator)
    except Exception as e:  # e.g. pure_nccl without CuPy/NCCL
        raise cli.CleanExit('cannot create the {} communicator: {}'.format(
            args.communicator, str(e).splitlines()[0] if str(e) else type(e).__name__))


def _patch_pack_kernels():
    """ChainerMN's gradient pack/unpack kernels (pure_nccl, non_cuda_aware, ...) use ``half`` from
    ``cupy/carray.cuh``, which CuPy >= 14 no longer defines: NVRTC then fails with "identifier half is
    undefined".  Serve the same kernel sources with ``#include <cuda_fp16.h>`` added (harmless on older
    CuPy).  Checked on an H100 with CuPy 14.2 / CUDA 13 (results/gpu.md)."""
    from chainer.backends import cuda
    from chainermn.communicators import _memory_utility as mu
    if getattr(mu, '_ganlib_fp16_include', False):
        return
    for name in ('_cupy_batched_pack_params', '_cupy_batched_unpack_params'):
        original = getattr(mu, name)

        def patched(original=original):
            captured = {}
            real_raw = cuda.raw
            cuda.raw = lambda code, kernel_name, **kw: captured.update(code=code, name=kernel_name, kw=kw)
            try:
                original()
            finally:
                cuda.raw = real_raw
            code = captured['code'].replace('#include <cupy/carray.cuh>',
                                            '#include <cupy/carray.cuh>\n#include <cuda_fp16.h>')
            return real_raw(code, captured['name'], **captured['kw'])
        setattr(mu, name, patched)
    mu._ganlib_fp16_include = True


def rank(comm):
    return 0 if comm is None else comm.rank


def size(comm):
    return 1 if comm is None else comm.size


def is_writer(comm):
    """True on the rank that writes outputs (rank 0, or the only process)."""
    return rank(comm) == 0


def device_spec(spec, comm):
    """``@cupy:N`` → ``@cupy:<intra-node rank>`` when distributed (one GPU per rank); CPU unchanged."""
    text = str(spec).strip()
    if comm is None or not (text.startswith('@cupy') or text.isdigit()):
        return spec
    return '@cupy:{}'.format(comm.intra_rank)


def wrap_optimizers(comm, *optimizers):
    """Multi-node versions of already set-up optimizers, parameters broadcast from rank 0."""
    if comm is None:
        return optimizers
    import chainermn
    wrapped = []
    for opt in optimizers:
        comm.bcast_data(opt.target)
        mn = chainermn.create_multi_node_optimizer(opt, comm)
        mn.is_changed(opt.target)  # record the parameter set: the first update() then updates
        wrapped.append(mn)
    return tuple(wrapped)


def shard(comm):
    """(rank, number of ranks) for the updaters' slicing of global batches."""
    return rank(comm), size(comm)
