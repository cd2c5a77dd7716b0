#!/usr/bin/env python
"""A 32 × 32 DCGAN on MNIST written with Chainer's stock links only (none of the repository's models, layers or
updaters), to tell a repository bug from a property of the network layout.

--first-map 2: the face nets' four stride-2 layers shrunk to 32 × 32 (G starts from 2 × 2), the layout
models/dcgan.py had at 32 × 32 before session 7; --first-map 4: DCGAN's own 32 × 32 layout (three stride-2 layers
from 4 × 4), what models/dcgan.py uses now.  Standard GAN loss, Normal(0.02), Adam 2e-4 β1 0.5, batch 64,
LeakyReLU 0.2 in D.  Prints D/G losses and the sample spread (per-pixel std over 64 fixed latents, G in training
mode; real digits: 0.30) every 50 iterations; writes the last samples as a PNG grid.

  python benchmarks/dcgan_layout_probe.py --data-dir MNIST_DIR --first-map 2 --out result/layout_2x2.png
"""
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import ganlib.compat  # noqa: E402,F401

import chainer  # noqa: E402
import chainer.functions as F  # noqa: E402
import chainer.links as L  # noqa: E402
import numpy  # noqa: E402

from ganlib import cli  # noqa: E402
from ganlib.images import add_caption, image_grid, save_png  # noqa: E402
from ganlib.mnist import IDXError, load_mnist, mnist_at, to_unit_range  # noqa: E402

Z = 50


class Generator(chainer.Chain):
    def __init__(self, ch, first, n):
        super().__init__()
        self.ch, self.first = ch, first
        w = chainer.initializers.Normal(0.02)
        with self.init_scope():
            self.l0 = L.Linear(Z, ch * first * first, initialW=w)
            self.bn0 = L.BatchNormalization(ch * first * first)
            self.up = chainer.ChainList(*[L.Deconvolution2D(ch >> i, ch >> (i + 1), 4, 2, 1, initialW=w)
                                          for i in range(n - 1)])
            self.bn = chainer.ChainList(*[L.BatchNormalization(ch >> (i + 1)) for i in range(n - 1)])
            self.last = L.Deconvolution2D(ch >> (n - 1), 1, 4, 2, 1, initialW=w)

    def forward(self, z):
        h = F.reshape(F.relu(self.bn0(self.l0(z))), (len(z), self.ch, self.first, self.first))
        for up, bn in zip(self.up, self.bn):
            h = F.relu(bn(up(h)))
        return F.tanh(self.last(h))


class Discriminator(chainer.Chain):
    def __init__(self, ch, first, n):
        super().__init__()
        w = chainer.initializers.Normal(0.02)
        with self.init_scope():
            self.c0 = L.Convolution2D(1, ch, 4, 2, 1, initialW=w)
            self.down = chainer.ChainList(*[L.Convolution2D(ch << i, ch << (i + 1), 4, 2, 1, initialW=w)
                                            for i in range(n - 1)])
            self.bn = chainer.ChainList(*[L.BatchNormalization(ch << (i + 1)) for i in range(n - 1)])
            self.out = L.Linear((ch << (n - 1)) * first * first, 1, initialW=w)

    def forward(self, x):
        h = F.leaky_relu(self.c0(x), 0.2)
        for down, bn in zip(self.down, self.bn):
            h = F.leaky_relu(bn(down(h)), 0.2)
        return F.reshape(self.out(h), (-1,))


def main(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='dcgan_layout_probe.py')
    p.add_argument('--data-dir', default=os.path.join(ROOT, '..', 'shared', 'data', 'mnist'),
                   help='folder with the four MNIST IDX files (default ../shared/data/mnist)')
    p.add_argument('--first-map', type=int, choices=(2, 4), default=4, help="side of G's first feature map")
    p.add_argument('--g-ch', type=cli.positive_int, default=256, help="G's first feature maps (default 256)")
    p.add_argument('--d-ch', type=cli.positive_int, default=32, help="D's first feature maps (default 32)")
    p.add_argument('--iterations', type=cli.positive_int, default=400, help='generator updates (default 400)')
    p.add_argument('--batch-size', type=cli.positive_int, default=64, help='images per update (default 64)')
    p.add_argument('--seed', type=cli.nonnegative_int, default=0, help='seed of weights, data and latents (default 0)')
    p.add_argument('--out', required=True, help='PNG of the last samples (a .json with the curve is written beside)')
    args = p.parse_args(argv)
    n = {2: 4, 4: 3}[args.first_map]
    if args.g_ch >> (n - 1) < 1:
        p.error('--g-ch must be at least {}'.format(1 << (n - 1)))
    try:
        (x, _), _ = load_mnist(args.data_dir)
    except (IDXError, ValueError) as e:
        raise cli.CleanExit(str(e))
    data = mnist_at(to_unit_range(x), 32)
    rng = numpy.random.RandomState(args.seed)
    numpy.random.seed(args.seed)  # stock initialisers draw from numpy's global generator
    gen, dis = Generator(args.g_ch, args.first_map, n), Discriminator(args.d_ch, args.first_map, n)
    opts = []
    for link in (gen, dis):
        opt = chainer.optimizers.Adam(2e-4, beta1=0.5)
        opt.setup(link)
        opts.append(opt)
    draw = lambda k: rng.uniform(-1, 1, (k, Z)).astype(numpy.float32)  # noqa: E731
    fixed, b, curve, start = draw(64), args.batch_size, [], time.time()
    for it in range(1, args.iterations + 1):
        real = data[rng.randint(0, len(data), b)]
        fake = gen(draw(b)).array
        d_loss = F.mean(F.softplus(-dis(real))) + F.mean(F.softplus(dis(fake)))
        dis.cleargrads()
        d_loss.backward()
        opts[1].update()
        g_loss = F.mean(F.softplus(-dis(gen(draw(b)))))
        gen.cleargrads()
        g_loss.backward()
        opts[0].update()
        if it % 50 == 0 or it == args.iterations:
            with chainer.no_backprop_mode():
                samples = gen(fixed).array
            curve.append(dict(iteration=it, d_loss=float(d_loss.array), g_loss=float(g_loss.array),
                              spread=float(samples.std(0).mean()), elapsed_s=round(time.time() - start, 1)))
            print(json.dumps(curve[-1]), flush=True)
    picture = add_caption(image_grid(samples, 8), 'first map {0}x{0}, iteration {1}'.format(
        args.first_map, args.iterations))
    save_png(picture, args.out)
    cli.save_json(os.path.splitext(args.out)[0] + '.json', dict(vars(args), curve=curve))
    print('wrote', args.out)


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
