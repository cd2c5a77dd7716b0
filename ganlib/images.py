"""A folder of face images as a Chainer dataset, and image grids.

Images are found recursively (``.png``, ``.jpg``, ``.jpeg``, any case), centre-cropped to a square,
resized to ``size`` × ``size`` (bicubic), converted to RGB and kept in memory as uint8 (45,000 faces at
64 × 64 are 550 MB; at 96 × 96, 1.2 GB).  ``get_example`` returns float32 CHW in [−1, 1].
Files that cannot be decoded are skipped and counted; an empty or image-less folder is an error.
"""
import os

import ganlib.compat  # noqa: F401

import chainer
import numpy

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg')


class ImageFolderError(ValueError):
    """A folder that yields no usable images (the scripts print it as one line)."""


def find_images(root):
    """(image paths sorted, number of other files) under ``root``, recursively."""
    if not os.path.isdir(root):
        raise ImageFolderError('no such directory: {}'.format(root))
    paths, others = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(os.path.join(dirpath, name))
            else:
                others += 1
    return paths, others


def load_image(path, size):
    """uint8 array (3, size, size): RGB, centre-cropped square, bicubic resize.  Raises OSError/ValueError
    for files PIL cannot decode."""
    from PIL import Image
    with Image.open(path) as img:
        img = img.convert('RGB')
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
        if side != size:
            img = img.resize((size, size), Image.BICUBIC)
        return numpy.asarray(img, dtype=numpy.uint8).transpose(2, 0, 1).copy()


class ImageFolderDataset(chainer.dataset.DatasetMixin):
    """All decodable images under ``root`` at ``size`` × ``size``; ``skipped`` lists (path, reason) of the
    rest and ``ignored`` counts non-image files.  ``max_images``: stop after N readable images (sorted paths)."""

    def __init__(self, root, size=64, max_images=None, progress=None):
        if size < 8:
            raise ValueError('image size must be at least 8, got {}'.format(size))
        paths, self.ignored = find_images(root)
        if not paths:
            raise ImageFolderError('no PNG/JPEG images under {} ({} other files)'.format(root, self.ignored))
        self.size = size
        self.paths, self.skipped, arrays = [], [], []
        for i, path in enumerate(paths):
            try:
                arrays.append(load_image(path, size))
                self.paths.append(path)
            except (OSError, ValueError, SyntaxError) as e:
                self.skipped.append((path, str(e).splitlines()[0] if str(e) else type(e).__name__))
            if progress is not None:
                progress(i + 1, len(paths))
            if max_images is not None and len(arrays) >= max_images:
                break
        if not arrays:
            raise ImageFolderError('none of the {} image files under {} could be read (first: {}: {})'.format(
                len(paths), root, *self.skipped[0]))
        self.images = numpy.stack(arrays)

    def __len__(self):
        return len(self.images)

    def get_example(self, i):
        return self.images[i].astype(numpy.float32) / 127.5 - 1.0

    def summary(self):
        return '{} images of {}x{} ({} unreadable skipped, {} non-image files ignored)'.format(
            len(self), self.size, self.size, len(self.skipped), self.ignored)


def to_uint8(images):
    """float images in [−1, 1], (N, C, H, W) → uint8 (N, H, W, C)."""
    x = numpy.clip((numpy.asarray(images, dtype=numpy.float64) + 1.0) * 127.5 + 0.5, 0, 255).astype(numpy.uint8)
    return x.transpose(0, 2, 3, 1)


def image_grid(images, cols, pad=2, background=255):
    """Tile (N, C, H, W) images in [−1, 1] into one uint8 (H', W', 3) picture, ``cols`` per row."""
    x = to_uint8(images)
    n, h, w, c = x.shape
    if c == 1:
        x = numpy.repeat(x, 3, axis=3)
    rows = (n + cols - 1) // cols
    grid = numpy.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), background, numpy.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + k * (w + pad):pad + k * (w + pad) + w] = x[i]
    return grid


def _text_band(width, height=14):
    from PIL import Image, ImageDraw, ImageFont
    band = Image.new('RGB', (width, height), (255, 255, 255))
    return band, ImageDraw.Draw(band), ImageFont.load_default()


def add_caption(picture, text):
    """``picture`` (H, W, 3 uint8) with a white band on top holding ``text`` (e.g. the epoch and iteration), one
    14-pixel line per line of ``text``."""
    lines = text.split('\n')
    band, draw, font = _text_band(picture.shape[1], 14 * len(lines))
    for i, line in enumerate(lines):
        draw.text((3, 1 + 14 * i), line, fill=(0, 0, 0), font=font)
    return numpy.concatenate([numpy.asarray(band, dtype=numpy.uint8), picture])


def add_column_labels(picture, labels, cell_width, pad=2):
    """``picture`` with a band on top naming its columns, each label centred over its ``cell_width`` column
    (the layout of :func:`image_grid`)."""
    band, draw, font = _text_band(picture.shape[1])
    for k, label in enumerate(labels):
        left, _, right, _ = draw.textbbox((0, 0), label, font=font)
        x = pad + k * (cell_width + pad) + (cell_width - (right - left)) // 2
        draw.text((max(0, x), 1), label, fill=(0, 0, 0), font=font)
    return numpy.concatenate([numpy.asarray(band, dtype=numpy.uint8), picture])


def save_png(array, path):
    from PIL import Image
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    Image.fromarray(array).save(path)
