#!/usr/bin/env python
"""Progressive growing of GANs (PGGAN, Karras et al. 2018) and the style-based generator (StyleGAN, Karras et
al. 2019) on MNIST or a folder of images.

The networks grow 4 × 4 → 8 × 8 → … → --size: each new resolution fades in over --phase-images real images
(α rising linearly), then trains at that resolution for as many images.  The paper's parts: equalised learning
rate, pixelwise feature normalisation in G, minibatch standard deviation in D, WGAN-GP (λ 10) with the ε-drift
term (0.001), Adam(lr 1e-3, β1 0, β2 0.99), batch 16.  --loss ns-r1 is StyleGAN's FFHQ loss instead: the
non-saturating logistic loss with the R1 penalty γ/2 E‖∇D(x)‖² on reals (γ = --gradient-penalty, 10).  Sizes are scaled for a CPU (--ch 64 feature maps, z 128;
the paper: 512 and 512).  --generator stylegan swaps G for the style-based one (mapping network, constant input,
AdaIN, noise inputs, style mixing 0.9; models/stylegan.py) with the same D, loss and schedule, as the StyleGAN
paper did for its progressive-growing runs, and writes style_mixing.png and noise_variation.png at the end.

Writes, under --out:
  args.json, log (LogReport JSON, with stage and alpha), loss.png, metrics.json (wall time, per-phase scores)
  samples/epoch_XXXX.png           a grid from fixed latents every --sample-every epochs (enlarged to --size)
  samples/phase_K_RESpx.png        the grid at the end of every phase (K = 0, 1, …; fade-in phases are odd)
  snapshot_iter_N, gen_iter_N.npz  trainer snapshots for --resume (exact, also in the middle of a fade-in)
With --dataset mnist the end of every phase is also scored with the repository's MNIST classifier (FID in its
feature space, Inception-style score, classes captured; --score-samples, 0 to skip).

  python train_progressive.py --data-dir MNIST_DIR --out result/pggan_mnist
  python train_progressive.py --data-dir faces/ --dataset folder --size 64 --device @cupy:0 --ch 256
"""
import os
import sys
import time

import ganlib.compat  # noqa: F401  (before chainer)

import chainer
import numpy
from chainer import training
from chainer.training import extensions

from ganlib import cli, run
from ganlib.extensions import SampleGrid, mnist_score
from ganlib.flat_adam import FlatAdam
from ganlib.losses import StandardGANLoss, WassersteinLoss
from ganlib.progressive import ProgressiveUpdater, n_phases
from models.progressive import ProgressiveDiscriminator, ProgressiveGenerator, n_stages
from models.stylegan import STYLE_NORMS, SYNTHESIS_INPUTS, StyleGenerator

KEY_SETTINGS = ('dataset', 'size', 'generator', 'mapping_layers', 'mapping_lr_mul', 'center_w', 'style_mixing',
                'synthesis_input', 'style_norm', 'blur', 'z_dim', 'ch', 'phase_images', 'images', 'batch_size', 'lr',
                'loss', 'gradient_penalty', 'drift')


def unit_interval(text):
    value = cli.nonnegative_float(text)
    if value > 1.0:
        raise cli.argparse.ArgumentTypeError('expected a probability in [0, 1], got {}'.format(value))
    return value


def power_of_two_size(text):
    value = cli.positive_int(text)
    if value < 8 or value & (value - 1):
        raise cli.argparse.ArgumentTypeError('expected a power of two >= 8 (8, 16, 32, 64, …), got {}'.format(value))
    return value


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='train_progressive.py')
    a = p.add_argument
    a('--data-dir', required=True, help='the MNIST IDX folder (--dataset mnist) or a folder of PNG/JPEG images')
    a('--dataset', choices=('mnist', 'folder'), default='mnist',
      help='mnist: the training digits padded to 32 x 32, one channel (default); folder: RGB images')
    a('--size', type=power_of_two_size, default=32, help='final resolution (default 32)')
    a('--max-images', type=cli.positive_int, default=None, help='use the first N images only')
    a('--generator', choices=('pggan', 'stylegan'), default='pggan', help='the growing G (default pggan)')
    a('--mapping-layers', type=cli.nonnegative_int, default=8,
      help='StyleGAN mapping network depth (default 8; 0, an ablation: w is the normalised z)')
    a('--mapping-lr-mul', type=cli.positive_float, default=0.01,
      help="StyleGAN mapping network's learning-rate multiplier (default 0.01, the paper's App. C; 1, an ablation: "
           "the mapping learns at the synthesis network's rate)")
    a('--center-w', action='store_true',
      help="StyleGAN: feed the synthesis network w minus its running mean (the truncation trick's w-bar), so it sees "
           "only the part of w that depends on z (an ablation outside the paper; default off)")
    a('--style-mixing', type=unit_interval, default=0.9, help='StyleGAN style-mixing probability (default 0.9)')
    a('--synthesis-input', choices=SYNTHESIS_INPUTS, default='const',
      help="StyleGAN's 4 x 4 input: const, the learned constant (the paper's configurations D-F; default), or "
           "dense, PGGAN's dense layer fed the first layer's w (configuration C of its Table 1)")
    a('--style-norm', choices=STYLE_NORMS, default='adain',
      help="how StyleGAN's styles act: adain, instance norm then the style's scale and bias (the paper; default); "
           "demod, StyleGAN2's modulated convolutions with weight demodulation; none, no styles and PGGAN's pixel "
           "norm, with --synthesis-input dense only (ablations)")
    a('--blur', action='store_true',
      help="StyleGAN's resampling (App. C): a [1, 2, 1] binomial low-pass after every upsampling conv in G and "
           "before every downsampling conv in D, with either generator (default off: PGGAN's nearest / box)")
    a('--z-dim', type=cli.positive_int, default=128, help='latent size (default 128; the paper 512)')
    a('--ch', type=cli.positive_int, default=64, help='feature maps up to 32 x 32, halved above (default 64)')
    a('--group-size', type=cli.positive_int, default=4, help='minibatch stddev group size (default 4)')
    a('--phase-images', type=cli.positive_int, default=20000,
      help='real images per fade-in and per stabilisation phase (default 20,000; the paper 600,000)')
    a('--images', type=cli.positive_int, default=None,
      help='real images to train on in all (default: until the last resolution has faded in and stabilised)')
    a('--batch-size', type=cli.positive_int, default=16, help='(the paper: 16)')
    a('--lr', type=cli.positive_float, default=1e-3, help='Adam learning rate (the paper: 1e-3)')
    a('--beta1', type=cli.adam_beta, default=0.0, help='(the paper: 0)')
    a('--beta2', type=cli.adam_beta, default=0.99, help='(the paper: 0.99)')
    a('--loss', choices=('wgan-gp', 'ns-r1'), default='wgan-gp',
      help='wgan-gp: WGAN-GP + drift (PGGAN; StyleGAN on CelebA-HQ, default); ns-r1: non-saturating loss + R1 '
           '(StyleGAN on FFHQ)')
    a('--gradient-penalty', type=cli.positive_float, default=10.0,
      help='WGAN-GP lambda, or R1 gamma with --loss ns-r1 (default 10, both papers)')
    a('--drift', type=cli.nonnegative_float, default=0.001,
      help='epsilon of the drift term, --loss wgan-gp only (default 0.001)')
    a('--n-critic', type=cli.positive_int, default=1, help='D steps per G step (the paper: 1)')
    a('--grid', type=cli.positive_int, default=8, help='sample grids are N x N (default 8)')
    a('--sample-every', type=cli.positive_int, default=1, help='epoch grid every N epochs')
    a('--snapshot-every', type=cli.positive_int, default=500,
      help='snapshot every N iterations and at the end (default 500)')
    a('--log-every', type=cli.positive_int, default=50, help='log/print every N iterations')
    a('--score-samples', type=cli.nonnegative_int, default=2000,
      help='MNIST: samples scored with the classifier at the end of every phase (default 2,000; 0: none)')
    a('--classifier-cache', default=None, help='where the MNIST classifier is cached (default: evaluate.py\'s)')
    run.add_arguments(p, 'result/progressive')
    args = p.parse_args(argv)
    top = n_stages(args.size) - 1
    if args.images is None:
        args.images = n_phases(top) * args.phase_images
    if args.style_norm == 'none' and args.synthesis_input != 'dense':
        p.error('--style-norm none needs --synthesis-input dense: with the constant and no styles, z never reaches '
                'the image')
    if args.batch_size % min(args.group_size, args.batch_size):
        p.error('--batch-size {} is not a multiple of --group-size {}'.format(args.batch_size, args.group_size))
    return run.check_paths(p, args)


def load_images(args):
    """(N, C, size, size) float32 in [−1, 1]: MNIST digits padded with background to 32 × 32 and pooled or
    enlarged to --size, or the images of a folder."""
    if args.dataset == 'folder':
        from ganlib.images import ImageFolderDataset, ImageFolderError
        try:
            data = ImageFolderDataset(args.data_dir, args.size, args.max_images)
        except ImageFolderError as e:
            raise cli.CleanExit(str(e))
        return numpy.stack([data.get_example(i) for i in range(len(data))])
    from ganlib.mnist import IDXError, load_mnist, mnist_at, to_unit_range
    try:
        (x, _), _ = load_mnist(args.data_dir)
    except (IDXError, ValueError) as e:
        raise cli.CleanExit(str(e))
    return mnist_at(to_unit_range(x[:args.max_images]), args.size)


def build(args, images, device):
    rng = numpy.random.RandomState(args.seed)
    if args.generator == 'stylegan':
        gen = StyleGenerator(args.z_dim, args.size, images.shape[1], args.ch, args.mapping_layers,
                             mixing=args.style_mixing, seed=args.seed + 6, rng=rng, blur=args.blur,
                             synthesis_input=args.synthesis_input, style_norm=args.style_norm,
                             mapping_lr_mul=args.mapping_lr_mul, center_w=args.center_w)
    else:
        gen = ProgressiveGenerator(args.z_dim, args.size, images.shape[1], args.ch, rng=rng, blur=args.blur)
    dis = ProgressiveDiscriminator(args.size, images.shape[1], args.ch, args.group_size, rng=rng, blur=args.blur)
    opts = []
    for link in (gen, dis):
        link.to_device(device)
        opt = FlatAdam(alpha=args.lr, beta1=args.beta1, beta2=args.beta2, eps=1e-8)
        opt.setup(link)
        opts.append(opt)
    sampler = chainer.iterators.ShuffleOrderSampler(numpy.random.RandomState(args.seed + 1))
    iterator = chainer.iterators.SerialIterator(images, args.batch_size, order_sampler=sampler)
    if args.loss == 'ns-r1':
        loss, penalty = StandardGANLoss(), dict(r1=args.gradient_penalty)
    else:
        loss, penalty = WassersteinLoss(drift=args.drift), dict(gradient_penalty=args.gradient_penalty)
    updater = ProgressiveUpdater(iterator, opts[0], opts[1], loss, seed=args.seed + 2,
                                 iterations_per_epoch=max(1, len(images) // args.batch_size),
                                 n_critic=args.n_critic, device=device, **penalty,
                                 phase_images=args.phase_images, batch_size=args.batch_size)
    return gen, dis, updater


class PhaseEnd(training.Extension):
    """At the end of every phase (and of training): the sample grid ``samples/phase_K_RESpx.png`` and, with a
    ``scorer``, its scores; one entry per phase in ``self.scores`` (saved in snapshots and in metrics.json)."""
    trigger = 1, 'iteration'
    priority = training.PRIORITY_READER

    def __init__(self, grid, total_iterations, scorer=None):
        self.grid, self.total, self.scorer = grid, total_iterations, scorer
        self.scores = []

    def __call__(self, trainer):
        upd = trainer.updater
        done_phase = upd.phase
        next_phase = upd.current()[2]
        if next_phase == done_phase and upd.iteration < self.total:
            return
        res = 4 * 2 ** upd.stage
        name = 'phase_{}_{}px'.format(done_phase, res)
        what = 'fade-in' if upd.alpha < 1.0 or done_phase % 2 == 1 else 'stable'
        self.grid.save(upd.epoch, upd.iteration, name=name, caption='phase {} ({} {}px), iteration {}'.format(
            done_phase, what, res, upd.iteration))
        entry = dict(phase=done_phase, resolution=res, iteration=upd.iteration, images=upd.iteration * upd.images_per_iteration)
        if self.scorer is not None:
            entry.update({k: v for k, v in self.scorer().items() if k != 'class_histogram'})
        self.scores.append(entry)

    def serialize(self, serializer):
        import json
        text = serializer('scores', json.dumps(self.scores))
        self.scores = json.loads(str(text))


def main(argv=None):
    args = parse_args(argv)
    device = cli.get_device(args.device)
    images = load_images(args)
    if len(images) < args.batch_size:
        raise cli.CleanExit('{} images, fewer than one batch of {}'.format(len(images), args.batch_size))
    gen, dis, updater = build(args, images, device)
    config = run.config_dict(args)
    total = -(-args.images // args.batch_size)
    print('settings: ' + ', '.join('{}={}'.format(k, getattr(args, k)) for k in KEY_SETTINGS) +
          '; {} iterations, {} phases of {} images'.format(total, n_phases(gen.top), args.phase_images))

    trainer = training.Trainer(updater, (total, 'iteration'), out=args.out)
    log_trigger = lambda: run.EveryOrEnd(args.log_every, 'iteration', total)  # noqa: E731
    grid = SampleGrid(gen, args.out, args.grid, seed=args.seed + 3, size=args.size)
    scorer = mnist_score(args, gen, device).evaluate if args.dataset == 'mnist' and args.score_samples else None
    phases = PhaseEnd(grid, total, scorer)
    trainer.extend(extensions.LogReport(trigger=log_trigger()))
    trainer.extend(grid, trigger=(args.sample_every, 'epoch'))
    trainer.extend(phases, name='phase_end')
    run.snapshots(trainer, args.snapshot_every, 'iteration', total, gen)
    if extensions.PlotReport.available():
        trainer.extend(extensions.PlotReport(['gen/loss', 'dis/loss'], 'iteration', trigger=log_trigger(),
                                             file_name='loss.png'))
    if not args.quiet:
        trainer.extend(run.print_report(['epoch', 'iteration', 'stage', 'alpha', 'gen/loss', 'dis/loss', 'dis/gp',
                                         'elapsed_time']), trigger=log_trigger())
        trainer.extend(run.progress(total, 5))
    start_iteration = run.begin(trainer, args, config, {'gen': gen, 'dis': dis}, log_trigger())

    start = time.time()
    run.train(trainer)
    wall = time.time() - start
    done = updater.iteration - start_iteration
    result = dict(iterations=updater.iteration, images_shown=updater.iteration * args.batch_size,
                  final_stage=updater.stage, final_alpha=updater.alpha, data_images=len(images),
                  phases=phases.scores, wall_time_s=round(wall, 2), ms_per_iteration=round(1000 * wall / max(1, done), 1),
                  device=str(device), resumed_from=args.resume, config=config)
    if args.generator == 'stylegan':
        from ganlib.style_figures import noise_variation, style_mixing
        style_mixing(gen, os.path.join(args.out, 'style_mixing.png'), seed=args.seed + 7)
        noise_variation(gen, os.path.join(args.out, 'noise_variation.png'), seed=args.seed + 8)
    cli.save_json(os.path.join(args.out, 'metrics.json'), result)
    last = phases.scores[-1] if phases.scores else {}
    print('{} iterations in {:.1f}s ({:.1f} ms/iteration){}; wrote {}'.format(
        done, wall, result['ms_per_iteration'],
        ', last phase FID {fid:.2f}, IS {inception_score:.2f}'.format(**last) if 'fid' in last else '', args.out))
    return result


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
