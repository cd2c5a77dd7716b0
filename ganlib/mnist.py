"""MNIST from IDX files (LeCun's format, gzip or not), an optional checked download, and the
semi-supervised split of the Improved-GAN post.

IDX: big-endian magic 0x0000 | type code (0x08 = unsigned byte) | number of dimensions, then one
uint32 size per dimension, then the data.  Anything else gives an ``IDXError`` naming the file.
"""
import gzip
import hashlib
import os
import shutil
import struct
import urllib.request

import numpy

FILES = {
    'train_images': 'train-images-idx3-ubyte',
    'train_labels': 'train-labels-idx1-ubyte',
    'test_images': 't10k-images-idx3-ubyte',
    'test_labels': 't10k-labels-idx1-ubyte',
}
# MD5 of the standard .gz files (as served by the usual MNIST mirrors).
MD5 = {
    'train-images-idx3-ubyte.gz': 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
    'train-labels-idx1-ubyte.gz': 'd53e105ee54ea40749a09fcbcd1e9432',
    't10k-images-idx3-ubyte.gz': '9fb629c4189551a2d022fa330f9573f3',
    't10k-labels-idx1-ubyte.gz': 'ec29112dd5afa0611ce80d1b7f02629c',
}
DEFAULT_MIRROR = 'https://ossci-datasets.s3.amazonaws.com/mnist/'
DEFAULT_CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'gan-stabilisation', 'mnist')


class IDXError(ValueError):
    """A missing, malformed or truncated IDX file."""


def _open(path):
    with open(path, 'rb') as f:
        head = f.read(2)
    return gzip.open(path, 'rb') if head == b'\x1f\x8b' else open(path, 'rb')


def read_idx(path):
    """Read one IDX file (``.gz`` or raw) into a uint8 numpy array."""
    try:
        with _open(path) as f:
            data = f.read()
    except FileNotFoundError:
        raise IDXError('{}: no such file'.format(path))
    except (OSError, EOFError) as e:
        raise IDXError('{}: cannot read ({})'.format(path, e))
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IDXError('{}: not an IDX file (bad magic number)'.format(path))
    if data[2] != 0x08:
        raise IDXError('{}: unsupported IDX data type 0x{:02x} (expected unsigned bytes)'.format(path, data[2]))
    ndim = data[3]
    if ndim == 0 or len(data) < 4 + 4 * ndim:
        raise IDXError('{}: truncated IDX header'.format(path))
    shape = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    expected = int(numpy.prod(shape))
    body = data[4 + 4 * ndim:]
    if len(body) != expected:
        raise IDXError('{}: {} data bytes for shape {} (expected {}): truncated or corrupt'.format(
            path, len(body), shape, expected))
    return numpy.frombuffer(body, dtype=numpy.uint8).reshape(shape)


def write_idx(path, array):
    """Write a uint8 array as IDX (gzip if ``path`` ends in .gz) — used by the tests."""
    array = numpy.asarray(array, dtype=numpy.uint8)
    payload = bytes([0, 0, 0x08, array.ndim]) + struct.pack('>' + 'I' * array.ndim, *array.shape) + array.tobytes()
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'wb') as f:
        f.write(payload)


def _find(data_dir, stem):
    for name in (stem + '.gz', stem):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    raise IDXError('{}: missing {}(.gz) — expected the four standard MNIST IDX files there'.format(data_dir, stem))


def load_mnist(data_dir):
    """((x_train, y_train), (x_test, y_test)) as uint8 arrays, images flattened to 784."""
    if not os.path.isdir(data_dir):
        raise IDXError('{}: no such directory'.format(data_dir))
    arrays = {key: read_idx(_find(data_dir, stem)) for key, stem in FILES.items()}
    out = []
    for split in ('train', 'test'):
        x, y = arrays[split + '_images'], arrays[split + '_labels']
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise IDXError('{}: {} images {} and labels {} do not match'.format(data_dir, split, x.shape, y.shape))
        if y.max(initial=0) > 9:
            raise IDXError('{}: {} labels outside 0..9'.format(data_dir, split))
        out.append((x.reshape(len(x), -1), y.astype(numpy.int32)))
    return tuple(out)


def _md5(path):
    h = hashlib.md5()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def download_mnist(cache_dir=DEFAULT_CACHE, mirror=DEFAULT_MIRROR, md5=MD5, timeout=30):
    """Fetch the four .gz files into ``cache_dir`` (kept if already there with the right MD5).

    Raises ``IDXError`` with one clear sentence when offline or on a checksum mismatch."""
    os.makedirs(cache_dir, exist_ok=True)
    for name, digest in md5.items():
        path = os.path.join(cache_dir, name)
        if os.path.isfile(path) and _md5(path) == digest:
            continue
        url = mirror.rstrip('/') + '/' + name
        tmp = path + '.part'
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, 'wb') as f:
                shutil.copyfileobj(r, f)
        except Exception as e:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise IDXError('cannot download {} ({}); without a network pass --data-dir with the IDX files'.format(
                url, getattr(e, 'reason', e)))
        if _md5(tmp) != digest:
            os.remove(tmp)
            raise IDXError('{}: checksum mismatch (expected MD5 {}); not saved'.format(url, digest))
        os.replace(tmp, path)
    return cache_dir


def to_unit_range(x):
    """uint8 pixels → float32 in [−1, 1] (the generator's tanh range)."""
    return (x.astype(numpy.float32) / 127.5 - 1.0).astype(numpy.float32)


def ssl_split(y, n_labeled, seed, n_validation):
    """Indices (labeled, unlabeled, validation) of the Improved-GAN post's split.

    Shuffle all training indices with ``seed``; the last ``n_validation`` are validation; of the rest,
    the first ``n_labeled / 10`` of each class (in shuffled order) are labelled, the remainder unlabelled.
    """
    y = numpy.asarray(y)
    if n_labeled <= 0 or n_labeled % 10:
        raise ValueError('the number of labels must be a positive multiple of 10, got {}'.format(n_labeled))
    if not 0 <= n_validation < len(y):
        raise ValueError('validation size {} does not fit {} training digits'.format(n_validation, len(y)))
    order = numpy.random.RandomState(seed).permutation(len(y))
    validation = order[len(y) - n_validation:]
    train = order[:len(y) - n_validation]
    per_class = n_labeled // 10
    labeled = []
    for k in range(10):
        idx = train[y[train] == k][:per_class]
        if len(idx) < per_class:
            raise ValueError('only {} training digits of class {} for {} labels per class'.format(
                len(idx), k, per_class))
        labeled.append(idx)
    labeled = numpy.concatenate(labeled)
    unlabeled = numpy.setdiff1d(train, labeled, assume_unique=True)
    unlabeled = train[numpy.isin(train, unlabeled)]  # keep the shuffled order
    return labeled, unlabeled, validation


def mnist_at(x, size):
    """Digits (N, 784) in [−1, 1] → (N, 1, size, size): padded with −1 to 32 × 32, then 2×2-averaged down or
    pixel-repeated up to ``size``."""
    x = numpy.pad(numpy.asarray(x, numpy.float32).reshape(-1, 1, 28, 28), ((0, 0), (0, 0), (2, 2), (2, 2)),
                  constant_values=-1.0)
    while x.shape[-1] > size:
        n, c, h, w = x.shape
        x = x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    if x.shape[-1] < size:
        k = size // x.shape[-1]
        x = x.repeat(k, axis=2).repeat(k, axis=3)
    return numpy.ascontiguousarray(x, dtype=numpy.float32)


def mnist_digits(images):
    """Generated (N, 1, s, s) images → (N, 28, 28) digits for the classifier: brought to 32 × 32 and the
    2-pixel border dropped."""
    x = numpy.asarray(images, numpy.float32)
    while x.shape[-1] < 32:
        x = x.repeat(2, axis=2).repeat(2, axis=3)
    while x.shape[-1] > 32:
        n, c, h, w = x.shape
        x = x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    return x[:, 0, 2:30, 2:30]
