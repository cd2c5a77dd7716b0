"""Run under mpiexec by tests/test_distributed.py (not a test itself):

    mpiexec -n N python tests/mpi_driver.py OUT.npz UPDATES SCRIPT flags...

builds SCRIPT's GAN (train_mog.py, train_anime.py or train_mnist_ssl.py) with those flags, which include
--communicator, makes UPDATES updates, gathers every rank's G and D parameters on rank 0 and saves them as
OUT.npz (keys '<rank>/<gen|dis><path>')."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import chainer  # noqa: E402
import numpy  # noqa: E402

from benchmarks.gpu_check import build_updater, run_updates  # noqa: E402


def train(script, argv, updates):
    """(comm, gen, dis) after ``updates`` updates of SCRIPT's updater built from ``argv`` on the CPU."""
    updater, gen, dis, comm = build_updater(script, argv, chainer.get_device('@numpy'))
    run_updates(updater, gen, dis, updates)
    return comm, gen, dis


def parameters(gen, dis):
    out = {'gen' + path: p.array.copy() for path, p in gen.namedparams()}
    out.update({'dis' + path: p.array.copy() for path, p in dis.namedparams()})
    return out


if __name__ == '__main__':
    comm, gen, dis = train(sys.argv[3], sys.argv[4:], int(sys.argv[2]))
    gathered = comm.gather_obj(parameters(gen, dis))
    if comm.rank == 0:
        numpy.savez(sys.argv[1], **{'{}/{}'.format(r, k): v for r, d in enumerate(gathered) for k, v in d.items()})
