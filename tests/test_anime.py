"""Image GANs: the folder dataset, DCGAN shapes, train_anime.py end to end + exact resume, analogy.py."""
import json
import os
import subprocess
import sys

import chainer
import numpy
import pytest
from PIL import Image

import analogy
import evaluate
import train_anime
from ganlib.images import ImageFolderDataset, ImageFolderError, find_images, image_grid
from ganlib.latent import arithmetic, interpolation_rows, lerp, slerp
from ganlib.rng import RandomStream
from models.dcgan import DCGANDiscriminator, DCGANGenerator, layout
from tests.conftest import ROOT


def make_faces(root, n=10, seed=0):
    """n random RGB images of assorted sizes (PNG and JPEG, one sub-folder), a text file and a broken PNG."""
    rng = numpy.random.RandomState(seed)
    os.makedirs(os.path.join(root, 'sub'), exist_ok=True)
    for i in range(n):
        img = Image.fromarray((rng.rand(40 + 3 * i, 50, 3) * 255).astype(numpy.uint8))
        if i % 2:
            img.save(os.path.join(root, 'face{}.png'.format(i)))
        else:
            img.save(os.path.join(root, 'sub', 'face{}.JPG'.format(i)), quality=95)
    with open(os.path.join(root, 'README.txt'), 'w') as f:
        f.write('not an image')
    with open(os.path.join(root, 'broken.png'), 'wb') as f:
        f.write(b'\x89PNG but truncated')
    return root


def test_dataset_sizes_range_and_bad_files(tmp_path):
    root = make_faces(str(tmp_path / 'faces'))
    paths, others = find_images(root)
    assert len(paths) == 11 and others == 1
    ds = ImageFolderDataset(root, size=16)
    assert len(ds) == 10 and ds.ignored == 1
    assert len(ds.skipped) == 1 and ds.skipped[0][0].endswith('broken.png')
    x = ds.get_example(3)
    assert x.shape == (3, 16, 16) and x.dtype == numpy.float32
    assert x.min() >= -1.0 and x.max() <= 1.0 and x.std() > 0.1
    assert len(ImageFolderDataset(root, size=16, max_images=4)) == 4
    assert '10 images of 16x16 (1 unreadable skipped, 1 non-image files ignored)' == ds.summary()


def test_dataset_centre_crops_and_scales_to_unit_range(tmp_path):
    a = numpy.zeros((10, 30, 3), numpy.uint8)  # 30 wide, 10 high: the centre square is columns 10..19
    a[:, 10:20] = 255
    os.makedirs(str(tmp_path / 'c'))
    Image.fromarray(a).save(str(tmp_path / 'c' / 'x.png'))
    x = ImageFolderDataset(str(tmp_path / 'c'), size=10).get_example(0)
    numpy.testing.assert_array_equal(x, numpy.ones((3, 10, 10), numpy.float32))


def test_dataset_errors(tmp_path):
    with pytest.raises(ImageFolderError, match='no such directory'):
        ImageFolderDataset(str(tmp_path / 'missing'))
    os.makedirs(str(tmp_path / 'empty'))
    with pytest.raises(ImageFolderError, match='no PNG/JPEG images'):
        ImageFolderDataset(str(tmp_path / 'empty'))
    os.makedirs(str(tmp_path / 'bad'))
    open(str(tmp_path / 'bad' / 'a.jpg'), 'wb').write(b'garbage')
    with pytest.raises(ImageFolderError, match='could be read'):
        ImageFolderDataset(str(tmp_path / 'bad'))


@pytest.mark.parametrize('size', [64, 96])
def test_generator_and_discriminator_shapes(size):
    rng = numpy.random.RandomState(0)
    gen = DCGANGenerator(z_dim=8, size=size, ch=64, init='normal:0.02', rng=rng)
    x = gen(gen.make_hidden(2, RandomStream(1)))
    assert x.shape == (2, 3, size, size) and numpy.abs(x.array).max() <= 1.0
    dis = DCGANDiscriminator(size, ch=4, minibatch_discrimination=(5, 3), rng=rng)
    y, h = dis(x, return_features=True)
    assert y.shape == (2,) and h.shape == (2, 8 * 4 * (size // 16) ** 2)
    gen_sa = DCGANGenerator(8, size, 64, self_attention=True, rng=rng)
    dis_sa = DCGANDiscriminator(size, 4, self_attention=True, rng=rng)
    assert dis_sa(gen_sa(gen_sa.make_hidden(2, RandomStream(2)))).shape == (2,)
    assert gen_sa.attention.channels == 16 and dis_sa.attention.channels == 8
    with pytest.raises(ValueError, match='multiple of 16'):
        DCGANGenerator(size=72)


def test_32x32_nets_start_from_4x4_with_three_stride2_layers():
    """DCGAN's 32 x 32 layout: the four-layer face net shrunk to 32 x 32 (a 2 x 2 first map) collapsed to one
    image on MNIST within ~100 iterations, in stock Chainer too (results/lsgan_mnist.md)."""
    assert layout(32) == (3, 4) and layout(64) == (4, 4) and layout(96) == (4, 6)
    rng = numpy.random.RandomState(0)
    gen = DCGANGenerator(8, 32, 64, rng=rng, channels=1, self_attention=True)
    assert gen.l0.W.shape == (64 * 4 * 4, 8)
    assert [gen['dc{}'.format(i)].W.shape[:2] for i in (1, 2, 3)] == [(64, 32), (32, 16), (16, 1)]
    assert not hasattr(gen, 'dc4') and gen.attention.channels == 32  # after dc1: 8 x 8 = size / 4
    x = gen(gen.make_hidden(2, RandomStream(1)))
    assert x.shape == (2, 1, 32, 32)
    dis = DCGANDiscriminator(32, 4, channels=1, self_attention=True, rng=rng)
    assert [dis['c{}'.format(i)].W.shape[:2] for i in (0, 1, 2)] == [(4, 1), (8, 4), (16, 8)]
    assert not hasattr(dis, 'c3') and dis.attention.channels == 8
    y, h = dis(x, return_features=True)
    assert y.shape == (2,) and h.shape == (2, 16 * 4 * 4)


def test_packed_discriminator_equals_the_channel_stacked_one():
    """PacDCGAN (Lin et al. 2018): D with pack m on N images is the unpacked D, built for m × channels, on the
    N/m inputs that stack images i·m … i·m + m − 1 along the channels."""
    packed = DCGANDiscriminator(32, 4, channels=1, pack=2, input_noise=0.0, rng=numpy.random.RandomState(0))
    stacked = DCGANDiscriminator(32, 4, channels=2, input_noise=0.0, rng=numpy.random.RandomState(0))
    x = numpy.random.RandomState(1).uniform(-1, 1, (6, 1, 32, 32)).astype(numpy.float32)
    y, h = packed(x, return_features=True)
    y_ref, h_ref = stacked(x.reshape(3, 2, 32, 32), return_features=True)
    assert y.shape == (3,) and h.shape == (3, 16 * 4 * 4)
    numpy.testing.assert_array_equal(y.array, y_ref.array)
    numpy.testing.assert_array_equal(h.array, h_ref.array)
    with pytest.raises(ValueError, match='divisible'):
        packed(x[:5])
    with pytest.raises(ValueError, match='pack must be'):
        DCGANDiscriminator(32, 4, pack=0)


def test_default_generator_sizes():
    gen = DCGANGenerator()  # the posts' z = 50, 512 feature maps
    assert gen.l0.W.shape == (512 * 16, 50) and gen.dc4.W.shape[1] == 3


def test_interpolations_and_arithmetic():
    a, b = numpy.array([1.0, 0.0, 0.0]), numpy.array([0.0, 2.0, 0.0])
    numpy.testing.assert_allclose(slerp(a, b, 0.0), a)
    numpy.testing.assert_allclose(slerp(a, b, 1.0), b)
    u, v = numpy.array([3.0, 0.0]), numpy.array([0.0, 3.0])
    for t in (0.25, 0.5, 0.9):
        assert numpy.linalg.norm(slerp(u, v, t)) == pytest.approx(3.0)  # stays on the sphere
        numpy.testing.assert_allclose(lerp(u, v, t), (1 - t) * u + t * v)
    numpy.testing.assert_allclose(slerp(u, 2 * u, 0.5), 1.5 * u)  # parallel: linear
    rows = interpolation_rows(numpy.zeros((2, 3)), numpy.ones((2, 3)), 5)
    assert rows.shape == (10, 3) and rows[2].tolist() == [0.5] * 3
    numpy.testing.assert_allclose(arithmetic(a, b, a), 2 * a - b)
    with pytest.raises(ValueError):
        interpolation_rows(numpy.zeros((1, 3)), numpy.ones((1, 3)), 1)


def test_image_grid_layout():
    imgs = -numpy.ones((5, 3, 4, 4))
    grid = image_grid(imgs, cols=2, pad=1)
    assert grid.shape == (3 * 5 + 1, 2 * 5 + 1, 3) and grid[1, 1].tolist() == [0, 0, 0]
    assert grid[-2, -2].tolist() == [255, 255, 255]  # the empty sixth cell stays background


TINY = ['--size', '64', '--batch-size', '4', '--g-ch', '32', '--d-ch', '4', '--z-dim', '8', '--epochs', '2',
        '--iterations-per-epoch', '1', '--grid', '2', '--log-every', '1', '--quiet']


@pytest.mark.parametrize('extra', [[], ['--unroll', '2', '--minibatch-discrimination', '--md-kernels', '4',
                                        '--md-dim', '2', '--loss', 'hinge', '--spectral-norm', '--self-attention',
                                        '--feature-matching'],
                                   ['--pack', '2', '--minibatch-discrimination', '--md-kernels', '4', '--md-dim', '2']])
def test_train_writes_outputs_and_resume_is_exact(tmp_path, extra):
    data = make_faces(str(tmp_path / 'faces'))
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    result = train_anime.main(TINY + extra + ['--data-dir', data, '--out', a])
    assert result['iterations'] == 2 and result['images'] == 10 and result['skipped_files'] == 1
    for name in ('args.json', 'log', 'metrics.json', 'snapshot_iter_1', 'snapshot_iter_2', 'gen_iter_2.npz',
                 'samples/epoch_0000.png', 'samples/epoch_0002.png'):
        assert os.path.isfile(os.path.join(a, name)), name
    with Image.open(os.path.join(a, 'samples', 'epoch_0001.png')) as im:
        assert im.size == (2 * 66 + 2, 14 + 2 * 66 + 2)  # a 14-pixel caption band with the epoch and iteration
    log = json.load(open(os.path.join(a, 'log')))
    assert len(log) == 2 and {'gen/loss', 'dis/loss'} <= set(log[0])
    train_anime.main(TINY + extra + ['--data-dir', data, '--out', b, '--resume', os.path.join(a, 'snapshot_iter_1')])
    full = numpy.load(os.path.join(a, 'snapshot_iter_2'))
    resumed = numpy.load(os.path.join(b, 'snapshot_iter_2'))
    keys = [k for k in full.files if k.startswith('updater/')]
    assert any('model:dis/c3/W' in k for k in keys) and any('noise_rng' in k for k in keys)
    for k in keys:
        numpy.testing.assert_array_equal(full[k], resumed[k], err_msg=k)



def test_resumed_run_writes_generators_only_on_schedule_and_samples_at_its_end(tmp_path):
    data = make_faces(str(tmp_path / 'faces'))
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    flags = TINY[:TINY.index('--epochs')] + TINY[TINY.index('--epochs') + 2:] + [
        '--data-dir', data, '--epochs', '5', '--snapshot-every', '2', '--sample-every', '3']
    train_anime.main(flags + ['--out', a])
    gens = lambda out: sorted(f for f in os.listdir(out) if f.startswith('gen_iter_'))  # noqa: E731
    assert gens(a) == ['gen_iter_2.npz', 'gen_iter_4.npz', 'gen_iter_5.npz']  # every 2nd epoch and the last
    assert sorted(os.listdir(os.path.join(a, 'samples'))) == ['epoch_0000.png', 'epoch_0003.png', 'epoch_0005.png']
    train_anime.main(flags + ['--out', b, '--resume', os.path.join(a, 'snapshot_iter_2')])
    assert gens(b) == ['gen_iter_4.npz', 'gen_iter_5.npz']  # none at iteration 3, right after the resume
    full, resumed = numpy.load(os.path.join(a, 'snapshot_iter_5')), numpy.load(os.path.join(b, 'snapshot_iter_5'))
    for k in [k for k in full.files if k.startswith(('updater/', 'extension_triggers/'))]:
        numpy.testing.assert_array_equal(full[k], resumed[k], err_msg=k)

def test_a_snapshot_with_the_old_stale_generator_trigger_resumes_without_an_extra_generator_file(tmp_path):
    """Snapshots written before b3bfbb0 hold two plain IntervalTriggers: the trainer snapshot's, and the generator
    writer's (``_Snapshot_1``) one iteration stale, since that writer ran after the snapshot was taken.  Resumed,
    such a run writes generator files on its schedule only (before: an extra gen_iter_3.npz right after the resume)
    and ends as the uninterrupted run does."""
    data = make_faces(str(tmp_path / 'faces'))
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    flags = TINY[:TINY.index('--epochs')] + TINY[TINY.index('--epochs') + 2:] + [
        '--data-dir', data, '--epochs', '5', '--snapshot-every', '2']
    train_anime.main(flags + ['--out', a])
    with numpy.load(os.path.join(a, 'snapshot_iter_2')) as z:
        arrays = {k.replace('/interval/', '/'): z[k] for k in z.files}
    prefix = 'extension_triggers/_Snapshot'
    assert int(arrays[prefix + '/previous_iteration']) == 2 and not any(k.startswith(prefix + '_1/') for k in arrays)
    arrays[prefix + '_1/previous_iteration'] = numpy.array(1)          # what the old writer's trigger held
    arrays[prefix + '_1/previous_epoch_detail'] = numpy.array(1.0)
    old = str(tmp_path / 'old_snapshot_iter_2')
    with open(old, 'wb') as f:
        numpy.savez(f, **arrays)
    train_anime.main(flags + ['--out', b, '--resume', old])
    assert sorted(f for f in os.listdir(b) if f.startswith('gen_iter_')) == ['gen_iter_4.npz', 'gen_iter_5.npz']
    full, resumed = numpy.load(os.path.join(a, 'snapshot_iter_5')), numpy.load(os.path.join(b, 'snapshot_iter_5'))
    for k in [k for k in full.files if k.startswith('updater/')]:
        numpy.testing.assert_array_equal(full[k], resumed[k], err_msg=k)


def test_analogy_writes_png_from_a_tiny_generator(tmp_path):
    data = make_faces(str(tmp_path / 'faces'))
    run = str(tmp_path / 'run')
    train_anime.main(TINY + ['--data-dir', data, '--out', run, '--epochs', '1', '--z-dist', 'normal'])
    out = analogy.main([run, '--rows', '3', '--cols', '4', '--mode', 'both', '--arithmetic', '2',
                        '--truncation', '1.5', '-o', str(tmp_path / 'an.png')])
    with Image.open(out) as im:
        w, h = im.size
        pixels = numpy.asarray(im.convert('L'))
    cell, band = 64 + 2, 14
    assert w == 4 * cell + 2 and h == band + (6 * cell + 2) + 8 + band + (2 * cell + 2)
    # each block has a band of column labels with text in it (start/end; a, b, c, a - b + c)
    second = band + 6 * cell + 2 + 8
    for top in (0, second):
        assert (pixels[top:top + band] < 128).sum() > 20
    # the arithmetic block's four labels sit over their four columns
    for k in range(4):
        assert (pixels[second:second + band, 2 + k * cell:2 + (k + 1) * cell] < 128).any(), k
    # sample grids carry their epoch and iteration in a caption band
    with Image.open(os.path.join(run, 'samples', 'epoch_0001.png')) as im:
        grid = numpy.asarray(im.convert('L'))
    assert (grid[:band] < 128).sum() > 20 and (grid[band:band + 2] == 255).all()


def run_cli(script, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, script)] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


@pytest.mark.parametrize('args, words', [
    ([], '--data-dir'),
    (['--data-dir', '/nonexistent/faces'], 'no such directory'),
    (['--data-dir', '.', '--size', '80'], 'invalid choice'),
    (['--data-dir', '.', '--loss', 'began'], 'invalid choice'),
    (['--data-dir', '.', '--loss', 'wgan'], 'Lipschitz'),
    (['--data-dir', '.', '--truncation', '1'], 'normal latents'),
    (['--data-dir', '.', '--lr', 'inf'], 'positive finite'),
    (['--data-dir', '.', '--beta1', 'nan'], '[0, 1)'),
    (['--data-dir', '.', '--seed', '-5'], 'integer >= 0'),
    (['--data-dir', '.', '--loss', 'wgan', '--gradient-penalty', '10', '--d-norm', 'batch'], 'without batch norm'),
    (['--data-dir', '.', '--loss', 'wgan', '--gradient-penalty', '10', '--minibatch-discrimination'],
     'per-example critic'),
    (['--data-dir', '.', '--loss', 'wgan', '--gradient-penalty', '10', '--pack', '2'], 'packed D'),
    (['--data-dir', '.', '--pack', '0'], 'positive integer'),
    (['--data-dir', '.', '--fm-layer', 'md', '--feature-matching'], 'needs --feature-matching and --minibatch'),
    (['--data-dir', '.', '--fm-layer', 'md', '--minibatch-discrimination'], 'needs --feature-matching and'),
    (['--data-dir', '.', '--fm-layer', 'out'], 'invalid choice'),
])
def test_train_anime_bad_input_one_line(tmp_path, args, words):
    out = str(tmp_path / 'run')
    proc = run_cli('train_anime.py', *(args + ['--out', out]))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and 'Traceback' not in proc.stderr, proc.stderr
    assert not os.path.exists(out)  # a failed start leaves nothing behind


def test_train_anime_empty_folder_and_analogy_errors(tmp_path):
    os.makedirs(str(tmp_path / 'empty'))
    proc = run_cli('train_anime.py', '--data-dir', str(tmp_path / 'empty'), '--out', str(tmp_path / 'o'))
    assert proc.returncode == 2 and 'no PNG/JPEG images' in proc.stderr and 'Traceback' not in proc.stderr
    proc = run_cli('analogy.py', str(tmp_path / 'empty'))
    assert proc.returncode == 2 and 'args.json' in proc.stderr and 'Traceback' not in proc.stderr


def test_generator_without_batch_norm_and_one_channel():
    gen = DCGANGenerator(8, 32, 32, 'uniform', 'normal:0.02', rng=numpy.random.RandomState(0), normalization='none',
                         channels=1)
    assert all(getattr(gen, 'bn{}'.format(i)) is None for i in range(gen.n_layers))
    assert not any(isinstance(link, chainer.links.BatchNormalization) for link in gen.links())
    x = gen(gen.make_hidden(3, RandomStream(0)))
    assert x.shape == (3, 1, 32, 32)
    dis = DCGANDiscriminator(32, 4, channels=1, rng=numpy.random.RandomState(1))
    assert dis(x).shape == (3,)
    with pytest.raises(ValueError, match='batch or none'):
        DCGANGenerator(8, 32, 32, normalization='layer')


def test_lsgan_on_mnist_scores_every_epoch_and_evaluates(tmp_path):
    from tests.test_mnist_ssl import make_tiny_mnist
    data = make_tiny_mnist(str(tmp_path / 'mnist'))
    out = str(tmp_path / 'run')
    argv = ['--data-dir', data, '--dataset', 'mnist', '--preset', 'lsgan-mnist-post', '--batch-size', '8',
            '--g-ch', '32', '--d-ch', '4', '--epochs', '2', '--iterations-per-epoch', '2', '--score-samples', '30',
            '--classifier-cache', str(tmp_path / 'clf'), '--grid', '2', '--log-every', '1', '--quiet', '--out', out]
    train_anime.main(argv)
    log = json.load(open(os.path.join(out, 'log')))
    assert {'eval/fid', 'eval/inception_score', 'eval/classes_captured'} <= set(log[-1])
    cfg = json.load(open(os.path.join(out, 'args.json')))
    assert cfg['g_norm'] == 'none' and cfg['dataset'] == 'mnist'
    result = evaluate.main([out, '--samples', '40', '--real-samples', '30', '--classifier-cache',
                            str(tmp_path / 'clf')])
    assert result['kind'] == 'mnist-images' and 'fid' in result and result['samples'] == 40
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'train_anime.py'), '--data-dir', data, '--dataset',
                           'mnist', '--size', '64', '--out', str(tmp_path / 'x')], capture_output=True, text=True)
    assert proc.returncode == 2 and '--size 32' in proc.stderr and not os.path.exists(tmp_path / 'x')
