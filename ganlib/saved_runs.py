"""A finished (or running) training run read back from its folder: its saved settings, which script wrote
it, and its generator rebuilt from those settings and loaded from a snapshot (evaluate.py, analogy.py)."""
import json
import os

import ganlib.compat  # noqa: F401

import chainer

from ganlib import cli, run

IMAGE_KINDS = ('faces', 'stacked-mnist', 'mnist-images')


def load_config(run_dir):
    """The run's ``args.json``, or a one-line CleanExit."""
    path = os.path.join(run_dir, 'args.json')
    if not os.path.isfile(path):
        raise cli.CleanExit('{} has no args.json: is it an output folder of one of the training scripts?'.format(
            run_dir))
    with open(path) as f:
        return json.load(f)


def run_kind(cfg):
    """'mnist' (train_mnist_ssl.py), 'stacked-mnist', 'mnist-images' or 'faces' (train_anime.py), or 'mog'
    (train_mog.py)."""
    if 'lr_schedule' in cfg and 'labels' in cfg:
        return 'mnist'
    if cfg.get('dataset') == 'stacked-mnist':
        return 'stacked-mnist'
    if cfg.get('dataset') == 'mnist' and 'g_ch' in cfg:
        return 'mnist-images'
    if cfg.get('dataset') == 'folder':
        return 'faces'
    if 'iterations_per_epoch' in cfg and cfg.get('dataset') in ('ring', 'double_ring', 'grid'):
        return 'mog'
    raise cli.CleanExit('cannot tell which script wrote this args.json')


def build_generator(kind, cfg):
    """The generator the run trained, freshly initialised, from its settings."""
    if kind == 'mnist':
        from models import PaperSSLGenerator, SSLGenerator
        if cfg.get('model') == 'paper':  # train_mnist_ssl.py --model paper
            return PaperSSLGenerator(cfg['z_dim'], cfg['g_hidden'])
        return SSLGenerator(cfg['z_dim'], cfg['g_hidden'])
    if kind == 'mog':
        from models import MLPGenerator
        return MLPGenerator(cfg['z_dim'], cfg['g_hidden'], 2, 'relu', cfg['init'], cfg['z_dist'],
                            batch_norm=cfg.get('g_batch_norm', False))
    from models.dcgan import DCGANGenerator
    return DCGANGenerator(cfg['z_dim'], cfg['size'], cfg['g_ch'], cfg['z_dist'], cfg['init'],
                          cfg.get('self_attention', False), normalization=cfg.get('g_norm', 'batch'),
                          channels=1 if kind == 'mnist-images' else 3)


def latest_generator_snapshot(run_dir):
    """The newest generator snapshot (gen_iter_N.npz), else the newest trainer snapshot."""
    path = run.latest_snapshot(run_dir, 'gen_iter_*.npz') or run.latest_snapshot(run_dir)
    if path is None:
        raise cli.CleanExit('no snapshot (gen_iter_N.npz or snapshot_iter_N) in {}'.format(run_dir))
    return path


def load_generator(run_dir, snapshot=None, kinds=None, tool='this tool'):
    """(generator, kind, settings, snapshot path) of the run in ``run_dir``; ``kinds`` limits the accepted runs."""
    cfg = load_config(run_dir)
    kind = run_kind(cfg)
    if kinds is not None and kind not in kinds:
        raise cli.CleanExit('{} is a {} run: {} needs an image run (train_anime.py output folder)'.format(
            run_dir, kind, tool))
    path = snapshot or latest_generator_snapshot(run_dir)
    if not os.path.isfile(path):
        raise cli.CleanExit('no such snapshot: {}'.format(path))
    gen = build_generator(kind, cfg)
    try:
        if os.path.basename(path).startswith('gen_iter'):
            chainer.serializers.load_npz(path, gen)
        else:
            chainer.serializers.load_npz(path, gen, path='updater/model:gen/')
    except Exception as e:
        raise cli.CleanExit('cannot load the generator from {}: {}'.format(
            path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    return gen, kind, cfg, path
