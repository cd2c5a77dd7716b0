"""Score generators with ``ganlib.evaluation``'s numbers: MNIST (classifier features), stacked MNIST, faces."""
import os
import pickle

import ganlib.compat  # noqa: F401

import chainer
import numpy

from ganlib.classifier import predict
from ganlib.extensions import generate
from ganlib.evaluation import frechet_distance_of_features, inception_score, mode_histogram, modes_and_kl
from ganlib.stacked_mnist import stacked_mnist_score
from ganlib.rng import RandomStream


def generate_images(gen, n, seed, batch_size=500, truncation=None):
    """n samples of ``gen`` (test mode) as a float32 CPU array, latents from ``RandomStream(seed)``."""
    return generate(gen, n, RandomStream(seed), batch_size, truncation, dtype=numpy.float32)


def mnist_scores(classifier, images, real_images):
    """Classifier-feature FID (generated vs real), Inception-style score (10 splits), class histogram,
    classes captured and KL(class histogram ‖ uniform) of generated digits in [−1, 1]."""
    probs, feats = predict(classifier, images, features=True)
    _, real_feats = predict(classifier, real_images, features=True)
    is_mean, is_std = inception_score(probs, splits=10)
    pred = probs.argmax(axis=1)
    captured, kl = modes_and_kl(pred, 10)
    return {'fid': frechet_distance_of_features(feats, real_feats), 'inception_score': is_mean,
            'inception_score_std': is_std, 'class_histogram': mode_histogram(pred, 10).tolist(),
            'classes_captured': captured, 'class_kl': kl, 'samples': int(len(images)),
            'real_samples': int(len(real_images))}


def class_match(classifier, images, labels):
    """How often the classifier assigns a conditional sample to the class it was generated for, overall and per
    class (``labels``: the conditioning classes of ``images``, digits in [−1, 1])."""
    probs, _ = predict(classifier, images)
    pred, labels = probs.argmax(axis=1), numpy.asarray(labels)
    per_class = [float((pred[labels == c] == c).mean()) if (labels == c).any() else None for c in range(10)]
    return {'class_match': float((pred == labels).mean()), 'class_match_per_class': per_class}


def stacked_scores(classifier, images):
    return stacked_mnist_score(classifier, images)


class FeatureExtractorError(ValueError):
    pass


def load_feature_extractor(path):
    """A user-supplied feature extractor: a pickled Chainer link (``pickle.dump(link.to_cpu(), f)``) that maps
    float32 images (N, 3, S, S) in [−1, 1] to features (N, D).  No download ever happens here."""
    if not path:
        raise FeatureExtractorError('FID on face images needs --feature-extractor FILE: a pickled Chainer link '
                                    'mapping (N, 3, S, S) images in [-1, 1] to (N, D) features')
    if not os.path.isfile(path):
        raise FeatureExtractorError('no such feature extractor file: {}'.format(path))
    try:
        with open(path, 'rb') as f:
            link = pickle.load(f)
    except Exception as e:
        raise FeatureExtractorError('cannot unpickle feature extractor {}: {}'.format(path, e))
    if not callable(link):
        raise FeatureExtractorError('{} does not hold a callable Chainer link'.format(path))
    return link


def extract_features(extractor, images, batch_size=200):
    """Features of CPU ``images`` computed on the extractor's device, returned as a float64 CPU array."""
    out = []
    with chainer.no_backprop_mode(), chainer.using_config('train', False):
        for start in range(0, len(images), batch_size):
            h = extractor(extractor.xp.asarray(numpy.asarray(images[start:start + batch_size], dtype=numpy.float32)))
            h = getattr(h, 'array', h)
            out.append(chainer.backend.CpuDevice().send(h).reshape(len(h), -1))
    return numpy.concatenate(out).astype(numpy.float64)


def face_fid(extractor, images, real_images):
    return {'fid': frechet_distance_of_features(extract_features(extractor, images),
                                                extract_features(extractor, real_images)),
            'samples': int(len(images)), 'real_samples': int(len(real_images))}
