#!/usr/bin/env python
"""Score a trained generator and write the numbers as JSON.

What is measured depends on the run (read from its args.json):
  train_mnist_ssl.py run     FID in the repository's MNIST-classifier feature space (vs the test digits),
                             Inception-style score, class histogram, classes captured, KL to uniform
  train_anime.py stacked-mnist   modes captured of 1,000 and KL (VEEGAN/PacGAN: 26,000 samples)
  train_anime.py mnist       as train_mnist_ssl.py runs, on the 32 x 32 samples with their border dropped
  train_anime.py folder      FID with a user-supplied feature extractor (--feature-extractor, required)
  train_mog.py run           modes, high-quality %, reverse KL (as train_mog.py reports)
The MNIST classifier is trained once and cached (--classifier-cache); its test accuracy is reported.

  python evaluate.py result/mnist_ssl --data-dir ../shared/data/mnist
  python evaluate.py result/stacked --samples 26000
"""
import os
import sys

import ganlib.compat  # noqa: F401  (before chainer)

import numpy

from ganlib import cli, saved_runs
from ganlib.classifier import DEFAULT_CLASSIFIER_CACHE, load_or_train
from ganlib.mnist import IDXError, load_mnist, mnist_digits, to_unit_range
from ganlib.scoring import (FeatureExtractorError, face_fid, generate_images, load_feature_extractor, mnist_scores,
                            stacked_scores)


def parse_args(argv=None):
    p = cli.ArgumentParser(description=__doc__.split('\n\n')[0], prog='evaluate.py')
    a = p.add_argument
    a('run_dir', help='output folder of train_mnist_ssl.py, train_anime.py or train_mog.py')
    a('--snapshot', default=None, help='snapshot to score (default: the latest in RUN_DIR)')
    a('--samples', type=cli.positive_int, default=None,
      help='generated samples (default 10,000; 26,000 for stacked MNIST; 2,500 for MoG)')
    a('--real-samples', type=cli.positive_int, default=10000, help='real images for FID (default 10,000)')
    a('--data-dir', default=None, help="MNIST IDX folder (default: the run's own --data-dir)")
    a('--classifier-cache', default=DEFAULT_CLASSIFIER_CACHE, help='where the MNIST classifier is cached')
    a('--classifier-epochs', type=cli.positive_int, default=10, help='epochs if the classifier must be trained')
    a('--feature-extractor', default=None, help='face FID: a pickled Chainer link images -> features')
    a('--truncation', type=cli.positive_float, default=None, help='truncation trick when sampling')
    a('--seed', type=cli.nonnegative_int, default=0, help="seed of the generator's latents (default 0)")
    a('--device', default='cpu', help='cpu (default) or @cupy:N')
    a('-o', '--out', default=None, help='output JSON (default RUN_DIR/evaluation.json)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = saved_runs.load_config(args.run_dir)
    kind = saved_runs.run_kind(cfg)
    device = cli.get_device(args.device)
    extractor = None
    if kind == 'faces':  # fail early, before any work
        try:
            extractor = load_feature_extractor(args.feature_extractor)
        except FeatureExtractorError as e:
            raise cli.CleanExit(str(e))
        extractor.to_device(device)  # the features are computed where the generator runs
    gen, kind, cfg, path = saved_runs.load_generator(args.run_dir, args.snapshot)
    gen.to_device(device)
    n = args.samples or {'stacked-mnist': 26000, 'mog': 2500}.get(kind, 10000)
    result = dict(run_dir=args.run_dir, snapshot=path, kind=kind, seed=args.seed, truncation=args.truncation)

    if kind in ('mnist', 'stacked-mnist', 'mnist-images'):
        data_dir = args.data_dir or cfg.get('data_dir')
        if not data_dir:
            raise cli.CleanExit('give --data-dir (the MNIST IDX folder)')
        try:
            classifier, info = load_or_train(data_dir, args.classifier_cache, epochs=args.classifier_epochs,
                                             device=device)
            _, (x_test, _) = load_mnist(data_dir)
        except (IDXError, ValueError) as e:
            raise cli.CleanExit(str(e))
        result['classifier'] = info
        images = generate_images(gen, n, args.seed, truncation=args.truncation)
        if kind in ('mnist', 'mnist-images'):
            real = to_unit_range(x_test[:args.real_samples])
            result.update(mnist_scores(classifier, mnist_digits(images) if kind == 'mnist-images' else images, real))
        else:
            result.update(stacked_scores(classifier, images))
    elif kind == 'faces':
        from ganlib.images import ImageFolderDataset, ImageFolderError
        try:
            data = ImageFolderDataset(cfg['data_dir'], cfg['size'], max_images=args.real_samples)
        except ImageFolderError as e:
            raise cli.CleanExit(str(e))
        real = numpy.stack([data.get_example(i) for i in range(len(data))])
        result.update(face_fid(extractor, generate_images(gen, n, args.seed, truncation=args.truncation), real))
    else:
        from ganlib.metrics import mode_metrics
        from ganlib.mog import make_mixture
        mixture = make_mixture(cfg['dataset'], cfg['std'], cfg['radius'], cfg.get('original_std_bug', False))
        samples = generate_images(gen, n, args.seed, truncation=args.truncation).astype(numpy.float64)
        result.update(mode_metrics(samples, mixture.means, mixture.std))
    out = args.out or os.path.join(args.run_dir, 'evaluation.json')
    cli.save_json(out, result)
    shown = {k: v for k, v in result.items() if k in ('fid', 'inception_score', 'classes_captured', 'modes',
                                                       'kl', 'hq', 'rev_kl', 'class_kl')}
    print('{}: {}; wrote {}'.format(kind, ', '.join('{} {:.4g}'.format(k, v) for k, v in shown.items()), out))
    return result


if __name__ == '__main__':
    cli.run_main(main, sys.argv[1:])
