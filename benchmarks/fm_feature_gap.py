#!/usr/bin/env python
"""Through which of D's features does it tell real batches from fake ones, and which of them does G's feature
matching see?  For train_anime.py runs with minibatch discrimination (Salimans et al. 2016, §3.2), at their trainer
snapshots: D's last layer is linear, y = w_fᵀ f(x) + w_oᵀ o(x) + b, on the conv features f and the minibatch
features o, so the gap between D's mean logit on real and on generated batches splits exactly into a conv part
w_fᵀ(E f(x) − E f(G(z))) and a minibatch part w_oᵀ(E o(x) − E o(G(z))).  Beside them, the feature-matching
distances (§3.1) ‖E f(x) − E f(G(z))‖² (what G matches with --fm-layer conv) and ‖E o(x) − E o(G(z))‖²
(added with --fm-layer md).  Batches as in training: the run's batch size, real digits and G's samples through D
separately, in training mode (batch statistics, D's input noise); means over --batches batch pairs.

  python benchmarks/fm_feature_gap.py result/bench_improved_long/improved-fm-md_s0 --data-dir MNIST_DIR
"""
import argparse
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import chainer  # noqa: E402
import numpy  # noqa: E402

from ganlib import cli, run, saved_runs  # noqa: E402
from ganlib.rng import RandomStream  # noqa: E402
from models.dcgan import DCGANDiscriminator  # noqa: E402

COLUMNS = ('D real > 0 %', 'D fake < 0 %', 'logit gap', 'conv part', 'minibatch part',
           '‖Δ E f‖²', '‖Δ E o‖²')


def feature_gaps(dis, x_real, x_fake):
    """The split of one real and one fake batch (numpy arrays) through ``dis``, a DCGANDiscriminator built with
    ``fm_layer='md'`` (its features are [f, o]): a dict of the logit gap, its conv and minibatch parts, the two
    feature-matching distances and D's accuracy on each batch."""
    if dis.md is None or dis.fm_layer != 'md':
        raise ValueError('feature_gaps needs a discriminator with minibatch discrimination and fm_layer md')
    with chainer.using_config('train', True), chainer.no_backprop_mode():
        y_real, h_real = dis(x_real, return_features=True)
        y_fake, h_fake = dis(x_fake, return_features=True)
    width = h_real.shape[1] - dis.md.n_kernels
    delta = h_real.array.astype(numpy.float64).mean(axis=0) - h_fake.array.astype(numpy.float64).mean(axis=0)
    w = dis.out.W.array[0].astype(numpy.float64)
    return {'D real > 0 %': 100.0 * float((y_real.array > 0).mean()),
            'D fake < 0 %': 100.0 * float((y_fake.array < 0).mean()),
            'logit gap': float(y_real.array.astype(numpy.float64).mean() - y_fake.array.astype(numpy.float64).mean()),
            'conv part': float(w[:width] @ delta[:width]), 'minibatch part': float(w[width:] @ delta[width:]),
            '‖Δ E f‖²': float((delta[:width] ** 2).sum()), '‖Δ E o‖²': float((delta[width:] ** 2).sum())}


def load_pair(run_dir, snapshot, cfg):
    """(G, D) of an image run from one trainer snapshot; D built with fm_layer md whatever the run trained with
    (the layer choice changes only what ``return_features`` gives, not D's weights or output)."""
    gen, _, _, _ = saved_runs.load_generator(run_dir, snapshot, kinds=saved_runs.IMAGE_KINDS, tool='fm_feature_gap')
    dis = DCGANDiscriminator(cfg['size'], cfg['d_ch'], cfg['d_activation'], cfg['d_noise'], cfg['init'],
                             (cfg['md_kernels'], cfg['md_dim']), cfg.get('self_attention', False),
                             normalization=cfg.get('d_norm', 'batch'), channels=1 if cfg['dataset'] == 'mnist' else 3,
                             pack=cfg.get('pack', 1), fm_layer='md')
    chainer.serializers.load_npz(snapshot, dis, path='updater/model:dis/')
    return gen, dis


def analyse(run_dir, data_dir, batches, seed, every):
    """One row per trainer snapshot whose iteration is a multiple of ``every`` (and the last one)."""
    import train_anime  # the run's own data pipeline
    cfg = saved_runs.load_config(run_dir)
    if saved_runs.run_kind(cfg) not in saved_runs.IMAGE_KINDS:
        raise cli.CleanExit('{} is not a train_anime.py run'.format(run_dir))
    if not cfg.get('minibatch_discrimination'):
        raise cli.CleanExit('{} has no minibatch discrimination: there is no minibatch part to split off'.format(
            run_dir))
    snapshots = sorted(glob.glob(os.path.join(run_dir, 'snapshot_iter_*')), key=run.snapshot_iteration)
    last = snapshots[-1:] if snapshots else []
    snapshots = [s for s in snapshots if run.snapshot_iteration(s) % every == 0 or s in last]
    if not snapshots:
        raise cli.CleanExit('no trainer snapshot (snapshot_iter_N) in {}'.format(run_dir))
    dataset = train_anime.load_dataset(argparse.Namespace(**dict(cfg, data_dir=data_dir)), quiet=True)
    n = cfg['batch_size'] * cfg.get('pack', 1)
    rows = []
    for path in snapshots:
        gen, dis = load_pair(run_dir, path, cfg)
        pick, z_rng = numpy.random.RandomState(seed), RandomStream(seed + 1)
        per_batch = []
        for _ in range(batches):
            x_real = numpy.stack([numpy.asarray(dataset[int(i)]) for i in pick.choice(len(dataset), n, False)])
            with chainer.using_config('train', True), chainer.no_backprop_mode():
                x_fake = gen(gen.make_hidden(n, z_rng)).array
            per_batch.append(feature_gaps(dis, x_real, x_fake))
        rows.append(dict({k: float(numpy.mean([b[k] for b in per_batch])) for k in COLUMNS},
                         run=os.path.basename(os.path.normpath(run_dir)), iteration=run.snapshot_iteration(path),
                         fm_layer=cfg.get('fm_layer', 'conv') if cfg.get('feature_matching') else '–'))
    return rows


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='fm_feature_gap.py')
    p.add_argument('runs', nargs='+', help='train_anime.py output folders (runs with --minibatch-discrimination)')
    p.add_argument('--data-dir', required=True, help='the data the runs trained on (the MNIST IDX folder)')
    p.add_argument('--batches', type=cli.positive_int, default=16, help='batch pairs per snapshot (default 16)')
    p.add_argument('--every', type=cli.positive_int, default=1000,
                   help='snapshots at multiples of this iteration, and the last (default 1000)')
    p.add_argument('--seed', type=cli.nonnegative_int, default=0, help='seed of the batches and latents (default 0)')
    args = p.parse_args(argv)
    for run_dir in args.runs:
        if not os.path.isdir(run_dir):
            raise cli.CleanExit('{}: no such run folder'.format(run_dir))
    print('| run | G matches | iteration | ' + ' | '.join(COLUMNS) + ' |')
    print('|---|---|---|' + '---|' * len(COLUMNS))
    rows = []
    for run_dir in args.runs:
        for row in analyse(run_dir, args.data_dir, args.batches, args.seed, args.every):
            rows.append(row)
            print('| {} | {} | {} | '.format(row['run'], row['fm_layer'], row['iteration']) + ' | '.join(
                '{:.1f}'.format(row[k]) if k.startswith('D ') else '{:.3g}'.format(row[k]) for k in COLUMNS) + ' |',
                flush=True)
    return rows


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
