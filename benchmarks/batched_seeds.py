#!/usr/bin/env python
"""Issue 12's measurement before building anything: would training S seeds of the MoG MLP GAN as ONE batched graph
(parameters with a leading seed axis, losses summed — Adam is element-wise, so each seed's step is its own) beat S
separate runs?  Times, in one process and interleaved, the repository's real plain-GAN update (train_mog.py's
updater, one seed) and a minimal seed-batched plain GAN (same shapes: G z 256 → 128 → 128 → 2, D 2 → 128 → 1,
batch 100, Adam), and prints ms per update and the speed-up per seed.  Nothing here is used by the scripts.

  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/batched_seeds.py --seeds 1 3 5 10
"""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import chainer  # noqa: E402
import chainer.functions as F  # noqa: E402
import numpy  # noqa: E402

from ganlib import cli, run  # noqa: E402


class SeedBatchedMLP(chainer.Link):
    """S independent MLPs: layer l has W (S, in, out), b (S, 1, out); x (S, N, in) → (S, N, out)."""

    def __init__(self, sizes, n_seeds, rng):
        super().__init__()
        with self.init_scope():
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                setattr(self, 'W{}'.format(i), chainer.Parameter(
                    (rng.randn(n_seeds, a, b) * 0.8 * numpy.sqrt(2.0 / a)).astype(numpy.float32)))
                setattr(self, 'b{}'.format(i), chainer.Parameter(numpy.zeros((n_seeds, 1, b), numpy.float32)))
        self.n_layers = len(sizes) - 1

    def forward(self, x):
        for i in range(self.n_layers):
            W, b = getattr(self, 'W{}'.format(i)), getattr(self, 'b{}'.format(i))
            x = F.matmul(x, W) + F.broadcast_to(b, (x.shape[0], x.shape[1], W.shape[2]))
            if i < self.n_layers - 1:
                x = F.relu(x)
        return x


def batched_update(gen, dis, opt_g, opt_d, rng, n_seeds, batch=100):
    """One alternating plain-GAN iteration for all S seeds (non-saturating loss, summed over seeds)."""
    real = rng.standard_normal((n_seeds, batch, 2), dtype=numpy.float32)
    z = rng.standard_normal((n_seeds, batch, 256), dtype=numpy.float32)
    with chainer.no_backprop_mode():
        fake = gen(z).array
    d_loss = (F.sum(F.softplus(-dis(real))) + F.sum(F.softplus(dis(fake)))) / batch
    dis.cleargrads()
    d_loss.backward()
    opt_d.update()
    z = rng.standard_normal((n_seeds, batch, 256), dtype=numpy.float32)
    g_loss = F.sum(F.softplus(-dis(gen(z)))) / batch
    gen.cleargrads()
    g_loss.backward()
    opt_g.update()


def median_ms(fn, n, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append(1000 * (time.perf_counter() - start) / n)
    return float(numpy.median(times)), min(times), max(times)


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='batched_seeds.py')
    p.add_argument('--seeds', nargs='+', type=cli.positive_int, default=[1, 3, 5, 10],
                   help='numbers of seeds trained as one batched graph, one timing each (default 1 3 5 10)')
    p.add_argument('--updates', type=cli.positive_int, default=100, help='timed updates per repeat (default 100)')
    p.add_argument('--repeats', type=cli.positive_int, default=5, help='repeats; the median is reported (default 5)')
    args = p.parse_args(argv)
    import train_mog
    real_args = train_mog.parse_args(['--unroll', '0', '--quiet', '--out', os.path.join(ROOT, 'result', 'never')])
    _, _, _, updater = train_mog.build(real_args)
    rng = numpy.random.default_rng(0)
    rows = []
    with run.training_config():
        for _ in range(10):
            updater.update()
        single = median_ms(updater.update, args.updates, args.repeats)
        for s in args.seeds:
            init = numpy.random.RandomState(s)
            gen, dis = SeedBatchedMLP((256, 128, 128, 2), s, init), SeedBatchedMLP((2, 128, 1), s, init)
            opts = []
            for link in (gen, dis):
                opt = chainer.optimizers.Adam(alpha=1e-3, beta1=0.5)
                opt.setup(link)
                opts.append(opt)
            step = lambda: batched_update(gen, dis, opts[0], opts[1], rng, s)  # noqa: E731
            for _ in range(10):
                step()
            batched = median_ms(step, args.updates, args.repeats)
            rows.append((s, batched, s * single[0] / batched[0]))
    print('repository plain-GAN update, one seed: {:.2f} ms (min {:.2f}, max {:.2f})'.format(*single))
    print('| seeds in one graph | ms per update (all seeds) | ms per seed-update | speed-up vs separate runs |')
    print('|---|---|---|---|')
    for s, (med, lo, hi), speedup in rows:
        print('| {} | {:.2f} ({:.2f}–{:.2f}) | {:.2f} | {:.2f}× |'.format(s, med, lo, hi, med / s, speedup))
    return single, rows


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
