"""The StyleGAN paper's two diagnostic figures for a ``models.stylegan.StyleGenerator``:

* style mixing (Karras et al. 2019, Fig. 3): images of sources A (top row) whose coarse, middle or fine styles
  are replaced by those of sources B (left column);
* stochastic variation (Fig. 4): the same w under different noise inputs, and the per-pixel standard deviation
  over many noise draws (bright = where the noise acts).
"""
import ganlib.compat  # noqa: F401

import chainer
import numpy

from ganlib.images import add_caption, add_column_labels, image_grid, save_png
from ganlib.rng import RandomStream


def style_ranges(gen):
    """{'coarse': layers, 'middle': …, 'fine': …} of the current stage (the paper: coarse 4²–8², middle 16²–32²,
    fine 64² and up; a network that ends at 32² or below calls its last resolution fine).  Empty ranges are left
    out."""
    top_res = 4 * 2 ** gen.stage
    ranges = {'coarse': [], 'middle': [], 'fine': []}
    for i in range(2 * (gen.stage + 1)):
        res = 4 * 2 ** (i // 2)
        if res <= 8:
            ranges['coarse'].append(i)
        elif res >= 64 or (top_res <= 32 and res == top_res):
            ranges['fine'].append(i)
        else:
            ranges['middle'].append(i)
    return {k: v for k, v in ranges.items() if v}


def _to_cpu(x):
    return chainer.backend.CpuDevice().send(x.array)


def _enlarge(x, size):
    """Pixel-repeat images to at least ``size`` (64 px or more, so that labels fit)."""
    k = max(1, max(size, 64) // x.shape[-1])
    return x.repeat(k, axis=2).repeat(k, axis=3)


def style_mixing(gen, path, seed=0, n_a=4, n_b=3, noise_seed=0):
    """Write the style-mixing figure to ``path``; returns the (rows, cols) of its image grid."""
    xp = gen.xp
    with chainer.no_backprop_mode(), chainer.using_config('train', False):
        w_a = gen.map(gen.make_hidden(n_a, RandomStream(seed)))
        w_b = gen.map(gen.make_hidden(n_b, RandomStream(seed + 1)))
        layers = 2 * (gen.stage + 1)
        noise_a = gen.noise_inputs(n_a, RandomStream(noise_seed))
        a_images = _to_cpu(gen.synthesize([w_a] * layers, noise_a))
        b_images = _to_cpu(gen.synthesize([w_b] * layers, gen.noise_inputs(n_b, RandomStream(noise_seed))))
        rows = [numpy.concatenate([numpy.zeros_like(a_images[:1]), a_images])]
        names = []
        for name, chosen in style_ranges(gen).items():
            names.append('{} (layers {}-{})'.format(name, chosen[0], chosen[-1]))
            for b in range(n_b):
                wb = xp.broadcast_to(w_b.array[b:b + 1], w_a.shape)
                ws = [wb if i in chosen else w_a for i in range(layers)]
                mixed = _to_cpu(gen.synthesize(ws, noise_a))
                rows.append(numpy.concatenate([b_images[b:b + 1], mixed]))
    images = _enlarge(numpy.concatenate(rows), gen.size)
    picture = add_column_labels(image_grid(images, n_a + 1), ['B \\ A'] + ['A{}'.format(i + 1) for i in range(n_a)],
                                images.shape[-1])
    caption = 'style mixing. top row: sources A; left column: sources B\n' + '\n'.join(
        'next {} rows: A with the {} styles of B'.format(n_b, name) for name in names)
    save_png(add_caption(picture, caption), path)
    return len(rows), n_a + 1


def noise_variation(gen, path, seed=0, n_w=4, n_noise=5, n_std=32):
    """Write the stochastic-variation figure: per row one w, ``n_noise`` noise draws, then the per-pixel
    standard deviation over ``n_std`` draws (scaled to the figure's range)."""
    with chainer.no_backprop_mode(), chainer.using_config('train', False):
        w = gen.map(gen.make_hidden(n_w, RandomStream(seed)))
        layers = 2 * (gen.stage + 1)
        draws = numpy.stack([_to_cpu(gen.synthesize([w] * layers, gen.noise_inputs(n_w, RandomStream(k))))
                             for k in range(max(n_std, n_noise))])          # (draws, N, C, H, W)
    std = draws.std(axis=0).mean(axis=1, keepdims=True)                     # (N, 1, H, W)
    std = 2.0 * std / max(float(std.max()), 1e-12) - 1.0
    if draws.shape[2] == 3:
        std = numpy.repeat(std, 3, axis=1)
    cells = numpy.concatenate([numpy.concatenate([draws[:n_noise, i], std[i:i + 1]]) for i in range(n_w)])
    images = _enlarge(cells, gen.size)
    picture = add_column_labels(image_grid(images, n_noise + 1),
                                ['noise {}'.format(k) for k in range(n_noise)] + ['std'], images.shape[-1])
    save_png(add_caption(picture, 'stochastic variation: the same w in each row, different noise\n'
                                  'last column: per-pixel std over {} noise draws'.format(n_std)), path)
    return std
