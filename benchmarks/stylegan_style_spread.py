#!/usr/bin/env python
"""Where does a StyleGAN run's diversity go?  For every generator snapshot (gen_iter_N.npz) of a
train_progressive.py --generator stylegan run: how different the w = f(z) of random z are (mean pairwise cosine,
std over z / |mean| per coordinate, and the effective number of dimensions they vary in: the participation ratio
(Σλ)² / Σλ² of their covariance's eigenvalues λ, z-dim for an isotropic z, 1 for a line), how much each active layer's style scale (AdaIN's y_s, or the
modulation s with --style-norm demod; "–" for a layer without one) varies with z (std / |mean|), how much the
images vary with z (per-pixel std over z, averaged), and per active layer how much its feature maps'
spatial pattern depends on z (the "pattern spread": each map standardised over its pixels, then its variance over z
at each pixel, averaged; 0 when every z gives the same pattern, 1 when the patterns share nothing), all samples
given the same noise images.  A mapping network that collapses shows in the w columns; a synthesis network that
ignores its styles shows as style spread kept while the image std falls, and the pattern spread says from which
layer on the styles stop changing the feature maps' layout.

  python benchmarks/stylegan_style_spread.py result/stylegan_mnist
"""
import glob
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import chainer  # noqa: E402
import numpy  # noqa: E402

from ganlib import cli  # noqa: E402
from ganlib.progressive import schedule  # noqa: E402
from ganlib.rng import RandomStream  # noqa: E402
from models.stylegan import StyleGenerator  # noqa: E402


class _LayerOutputs(chainer.LinkHook):
    """Records the output of every StyleLayer a forward pass calls, in call order."""
    name = 'LayerOutputs'

    def __init__(self):
        self.outputs = []

    def forward_postprocess(self, args):
        if type(args.link).__name__ == 'StyleLayer':
            self.outputs.append(args.out.array)


def pattern_spread(maps, eps=1e-8):
    """Feature maps (N, C, H, W): each standardised over its pixels; their variance over N, averaged."""
    flat = maps.reshape(maps.shape[0], maps.shape[1], -1)
    flat = (flat - flat.mean(axis=2, keepdims=True)) / (flat.std(axis=2, keepdims=True) + eps)
    return float(flat.var(axis=0).mean())


def layer_patterns(gen, w):
    """Pattern spread of each active layer's output, every sample given the same noise images."""
    noise = [numpy.repeat(x, len(w), axis=0) for x in gen.noise_inputs(1, RandomStream(0))]
    hook = _LayerOutputs()
    with hook:
        gen.synthesize([w] * gen.n_styles, noise)
    return [pattern_spread(m) for m in hook.outputs]


def effective_dims(x):
    """The participation ratio (Σλ)² / Σλ² of the eigenvalues λ of the covariance of the rows of x (N, D)."""
    x = x - x.mean(axis=0)
    lam = numpy.linalg.eigvalsh(x.T @ x / len(x))
    return float(lam.sum() ** 2 / (lam ** 2).sum())


def spread(gen, n, seed):
    """(mean pairwise cosine of w, mean std/|mean| of w, w's effective dimensions, per-pixel image std over z,
    [style spread per layer], [pattern spread per layer])."""
    z = gen.make_hidden(n, RandomStream(seed))
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        w = gen.map(z).array
        unit = w / numpy.linalg.norm(w, axis=1, keepdims=True)
        cosine = float((unit @ unit.T)[numpy.triu_indices(n, 1)].mean())
        relative = float(w.std(axis=0).mean() / numpy.abs(w.mean(axis=0)).mean())
        images = gen(z).array.reshape(n, -1)
        styles = []
        for layer in gen.layers[:2 * (gen.stage + 1)]:
            scale = layer.style_scale(gen.synthesis_w(w))
            styles.append(None if scale is None else
                          float(scale.array.std(axis=0).mean() / numpy.abs(scale.array.mean(axis=0)).mean()))
        patterns = layer_patterns(gen, w)
    return cosine, relative, effective_dims(w), float(images.std(axis=0).mean()), styles, patterns


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='stylegan_style_spread.py')
    p.add_argument('run', help='a train_progressive.py --generator stylegan output folder')
    p.add_argument('--samples', type=cli.positive_int, default=256, help='latents per snapshot (default 256)')
    p.add_argument('--seed', type=cli.nonnegative_int, default=1, help='seed of the latents (default 1)')
    args = p.parse_args(argv)
    config_path = os.path.join(args.run, 'args.json')
    if not os.path.isfile(config_path):
        raise cli.CleanExit('{} is not a train_progressive.py run (no args.json)'.format(args.run))
    config = json.load(open(config_path))
    if config.get('generator') != 'stylegan':
        raise cli.CleanExit('{} is not a StyleGAN run (--generator {})'.format(args.run, config.get('generator')))
    snapshots = sorted(glob.glob(os.path.join(args.run, 'gen_iter_*.npz')),
                       key=lambda f: int(re.search(r'gen_iter_(\d+)', f).group(1)))
    if not snapshots:
        raise cli.CleanExit('no gen_iter_*.npz snapshots in {}'.format(args.run))
    channels = 1 if config.get('dataset', 'mnist') == 'mnist' else 3
    rows = []
    print('| iteration | stage (α) | w cosine | w std / mean | w dims | image std over z | style spread per layer '
          '| pattern spread per layer |')
    print('|---|---|---|---|---|---|---|---|')
    for path in snapshots:
        iteration = int(re.search(r'gen_iter_(\d+)', path).group(1))
        gen = StyleGenerator(config['z_dim'], config['size'], channels, config['ch'], config['mapping_layers'],
                             blur=config.get('blur', False), synthesis_input=config.get('synthesis_input', 'const'),
                             style_norm=config.get('style_norm', 'adain'),
                             mapping_lr_mul=config.get('mapping_lr_mul', 0.01),
                             center_w=config.get('center_w', False))
        chainer.serializers.load_npz(path, gen)
        stage, alpha, _ = schedule(iteration * config['batch_size'], config['phase_images'], gen.top)
        gen.set_stage(stage, alpha)
        cosine, relative, dims, image_std, styles, patterns = spread(gen, args.samples, args.seed)
        rows.append(dict(iteration=iteration, stage=stage, alpha=alpha, w_cosine=cosine, w_relative_std=relative,
                         w_dims=dims, image_std=image_std, style_spread=styles, pattern_spread=patterns))
        print('| {} | {} ({:.2f}) | {:.3f} | {:.3f} | {:.1f} | {:.3f} | {} | {} |'.format(
            iteration, stage, alpha, cosine, relative, dims, image_std,
            ' '.join('–' if s is None else '{:.2f}'.format(s) for s in styles),
            ' '.join('{:.2f}'.format(s) for s in patterns)))
    return rows


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
