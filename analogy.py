#!/usr/bin/env python
"""Latent analogies of a trained face generator (the posts' "analogy" figure).

Writes one PNG: ``--rows`` rows of ``--cols`` images, each row walking between two random latent points
(linear and/or spherical interpolation), then ``--arithmetic`` rows of [a, b, c, a − b + c].
The generator is rebuilt from the run's args.json and a ``gen_iter_N.npz`` snapshot (the latest by default).

  python analogy.py result/anime --rows 20 --cols 10 --mode slerp -o result/anime/analogy.png
"""
import os
import sys

import ganlib.compat  # noqa: F401  (before chainer)

import chainer
import numpy

from ganlib import cli, saved_runs
from ganlib.images import add_column_labels, image_grid, save_png
from ganlib.rng import RandomStream
from ganlib.latent import arithmetic, interpolation_rows


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='analogy.py')
    p.add_argument('run_dir', help='a train_anime.py output folder (has args.json and gen_iter_N.npz)')
    p.add_argument('--snapshot', default=None, help='generator snapshot (default: the latest gen_iter_N.npz)')
    p.add_argument('--rows', type=cli.positive_int, default=10, help='interpolation rows (default 10; the post: 20)')
    p.add_argument('--cols', type=int, default=10, help='images per interpolation row (default 10)')
    p.add_argument('--mode', choices=('linear', 'slerp', 'both'), default='both',
                   help='interpolation: linear, slerp, or both (each pair twice; default)')
    p.add_argument('--arithmetic', type=cli.nonnegative_int, default=4, help='rows of a - b + c (default 4)')
    p.add_argument('--truncation', type=cli.positive_float, default=None,
                   help='truncation trick for the random endpoints (normal latents only)')
    p.add_argument('--seed', type=cli.nonnegative_int, default=0, help='seed of the random endpoints (default 0)')
    p.add_argument('--device', default='cpu', help='cpu (default) or @cupy:N')
    p.add_argument('-o', '--out', default=None, help='output PNG (default RUN_DIR/analogy.png)')
    args = p.parse_args(argv)
    if args.cols < 2:
        p.error('--cols must be at least 2, got {}'.format(args.cols))
    return args


def main(argv=None):
    args = parse_args(argv)
    device = cli.get_device(args.device)
    gen, _, _, path = saved_runs.load_generator(args.run_dir, args.snapshot, saved_runs.IMAGE_KINDS, 'analogy.py')
    if args.truncation is not None and gen.z_distribution != 'normal':
        raise cli.CleanExit('--truncation needs a generator trained with normal latents (this one: {})'.format(
            gen.z_distribution))
    gen.to_device(device)
    rng = RandomStream(args.seed)
    draw = lambda n: chainer.backend.CpuDevice().send(gen.make_hidden(n, rng, truncation=args.truncation))  # noqa
    starts, ends = draw(args.rows), draw(args.rows)
    modes = ['linear', 'slerp'] if args.mode == 'both' else [args.mode]
    blocks = []
    z = numpy.concatenate([interpolation_rows(starts[r:r + 1], ends[r:r + 1], args.cols, m)
                           for r in range(args.rows) for m in modes]).astype(numpy.float32)
    blocks.append((z, args.cols))
    if args.arithmetic:
        a, b, c = draw(args.arithmetic), draw(args.arithmetic), draw(args.arithmetic)
        z = numpy.stack([a, b, c, arithmetic(a, b, c)], axis=1).reshape(-1, gen.z_dim).astype(numpy.float32)
        blocks.append((z, 4))
    labels = [['start ({})'.format('/'.join(modes))] + [''] * (args.cols - 2) + ['end']]
    if args.arithmetic:
        labels.append(['a', 'b', 'c', 'a - b + c'])
    pictures = []
    with chainer.no_backprop_mode(), chainer.using_config('train', False):
        for (z, cols), names in zip(blocks, labels):
            images = []
            for start in range(0, len(z), 100):
                x = gen(device.send(z[start:start + 100]))
                images.append(chainer.backend.CpuDevice().send(x.array))
            pictures.append(add_column_labels(image_grid(numpy.concatenate(images), cols), names, gen.size))
    width = max(p.shape[1] for p in pictures)
    canvas = numpy.full((sum(p.shape[0] for p in pictures) + 8 * (len(pictures) - 1), width, 3), 255, numpy.uint8)
    y = 0
    for p in pictures:
        canvas[y:y + p.shape[0], :p.shape[1]] = p
        y += p.shape[0] + 8
    out = args.out or os.path.join(args.run_dir, 'analogy.png')
    save_png(canvas, out)
    print('wrote {} ({} interpolation rows x {} [{}], {} analogy rows; generator {})'.format(
        out, args.rows * len(modes), args.cols, '/'.join(modes), args.arithmetic, path))
    return out


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
