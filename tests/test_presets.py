"""Presets reproduce the posts' runs: each value checked against the notes on the original experiments
(quoted below; when the notes are beside the repository, the quotes are checked to be in them), and an
explicit flag still overrides a preset."""
import os
import re
import subprocess
import sys

import pytest

import train_anime
import train_mog
from tests.conftest import ROOT

NOTES = os.path.join(os.path.dirname(ROOT), 'shared', 'docs', 'original-experiments.md')


def quoted(*phrases):
    """The phrases of the notes a preset rests on; checked against the notes when they are present."""
    if os.path.isfile(NOTES):
        text = re.sub(r'\s+', ' ', open(NOTES, encoding='utf-8').read())
        for phrase in phrases:
            assert phrase in text, phrase


def settings(module, argv):
    args = module.parse_args(argv + ['--out', os.path.join(ROOT, 'result', 'never-written')])
    return vars(args)


def test_mog_unrolled_post():
    quoted('G: z (256, N(0,1); also 16) → 128 ReLU → 128 ReLU → 2. D: 2 → 128 ReLU → 1 (inputs divided by the '
           'radius scale 2). HeNormal(scale 0.8) init, Adam lr 1e-3 β1 0.5, batch 100, 200 epochs × 500 iterations, '
           'K = 5 vs K = 1 (K = 1 is the plain GAN there)',
           'Ring of 8: mode k at angle 2πk/n − π/2, radius 2',
           'The original cached parameters only')
    s = settings(train_mog, ['--preset', 'unrolled-post'])
    expect = dict(dataset='ring', radius=2.0, std=0.2, z_dim=256, z_dist='normal', g_hidden=(128, 128),
                  d_hidden=(128,), d_activation='relu', input_scale='auto', init='he:0.8', lr=1e-3, beta1=0.5,
                  batch_size=100, epochs=200, iterations_per_epoch=500, unroll=5, loss='gan', unroll_cache='params')
    assert {k: s[k] for k in expect} == expect
    assert settings(train_mog, ['--preset', 'unrolled-post-plain'])['unroll'] == 1


def test_mog_lsgan_post_does_not_unroll():
    quoted('LSGAN post: same ring of 8; D 2 → 128 LeakyReLU(0.2) → 128 LeakyReLU → 1 linear; G as above; '
           'Normal(0.01) init; Adam 1e-4 β1 0.5; batch 100; a,b,c = 0,1,1.')
    s = settings(train_mog, ['--preset', 'lsgan-post'])
    expect = dict(dataset='ring', z_dim=256, g_hidden=(128, 128), d_hidden=(128, 128), d_activation='leaky_relu',
                  init='normal:0.01', lr=1e-4, beta1=0.5, batch_size=100, loss='lsgan', lsgan_abc=(0.0, 1.0, 1.0),
                  unroll=0)
    assert {k: s[k] for k in expect} == expect
    # the bug of issue 16: --loss lsgan alone kept the script's --unroll 5
    assert settings(train_mog, ['--loss', 'lsgan'])['unroll'] == 0
    assert settings(train_mog, [])['unroll'] == 5  # the front door stays the unrolled post's K = 5


def test_explicit_flags_override_a_preset():
    s = settings(train_mog, ['--preset', 'lsgan-post', '--unroll', '5', '--epochs', '3', '--z-dim', '16',
                             '--original-std-bug'])
    assert (s['unroll'], s['epochs'], s['z_dim'], s['original_std_bug'], s['lr']) == (5, 3, 16, True, 1e-4)
    s = settings(train_anime, ['--data-dir', '.', '--preset', 'unrolled-post', '--size', '64', '--unroll', '3'])
    assert (s['size'], s['unroll'], s['d_activation'], s['epochs']) == (64, 3, 'elu', 300)


def test_image_presets():
    quoted('Improved-GAN post: D: noise 0.3 → 4 × [conv 4×4 stride 2 (32, 64, 128, 256) → BN → ELU] → (MD with '
           'B = 50, C = 5) → Linear 1. G: z 50 uniform',
           'Init Normal(0.001); Adam 1e-4, β1 0.5; batch 128.',
           'Unrolled post: K = 5 vs 1, ± MD; 300 epochs',
           'LSGAN post: D 4 × [conv → BN → LeakyReLU] → Linear 1; G z 50 → Linear 512 × 6 × 6 → 4 deconvs → '
           '96 × 96; Normal(0.01); Adam 1e-4 β1 0.5; batch 128.')
    base = dict(size=96, z_dim=50, z_dist='uniform', d_ch=32, lr=1e-4, beta1=0.5, batch_size=128, md_kernels=50,
                md_dim=5)
    improved = settings(train_anime, ['--data-dir', '.', '--preset', 'improved-gan-post'])
    assert {k: improved[k] for k in base} == base
    assert (improved['d_activation'], improved['d_noise'], improved['init'], improved['unroll'], improved['loss']) \
        == ('elu', 0.3, 'normal:0.001', 0, 'gan')
    unrolled = settings(train_anime, ['--data-dir', '.', '--preset', 'unrolled-post'])
    assert (unrolled['unroll'], unrolled['epochs'], unrolled['d_activation']) == (5, 300, 'elu')
    lsgan = settings(train_anime, ['--data-dir', '.', '--preset', 'lsgan-post'])
    assert {k: lsgan[k] for k in base} == base
    assert (lsgan['g_ch'], lsgan['d_activation'], lsgan['d_noise'], lsgan['init'], lsgan['loss'], lsgan['unroll'],
            lsgan['lsgan_abc']) == (512, 'leaky_relu', 0.0, 'normal:0.01', 'lsgan', 0, (0.0, 1.0, 1.0))


def test_lsgan_mnist_preset_has_the_posts_generator_without_batch_norm():
    quoted("The LSGAN post's MNIST failure was later attributed by its author to a generator without batch "
           "normalisation.")
    s = settings(train_anime, ['--data-dir', '.', '--preset', 'lsgan-mnist-post'])
    assert (s['dataset'], s['size'], s['g_norm'], s['loss'], s['lsgan_abc'], s['unroll'], s['lr'], s['beta1'],
            s['batch_size'], s['init'], s['d_activation']) == ('mnist', 32, 'none', 'lsgan', (0.0, 1.0, 1.0), 0, 1e-4,
                                                               0.5, 128, 'normal:0.01', 'leaky_relu')
    fix = settings(train_anime, ['--data-dir', '.', '--preset', 'lsgan-mnist-post', '--g-norm', 'batch'])
    assert fix['g_norm'] == 'batch' and fix['loss'] == 'lsgan'


def test_effective_settings_are_printed_saved_and_labelled(tmp_path):
    out = str(tmp_path / 'run')
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'train_mog.py'), '--preset', 'lsgan-post', '--epochs',
                           '1', '--iterations-per-epoch', '2', '--eval-samples', '50', '--plot-samples', '50',
                           '--quiet', '--out', out], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith('settings: preset=lsgan-post') and 'loss=lsgan' in first and 'unroll=0' in first
    import json
    saved = json.load(open(os.path.join(out, 'args.json')))
    assert (saved['preset'], saved['unroll'], saved['lr'], saved['epochs']) == ('lsgan-post', 0, 1e-4, 1)
