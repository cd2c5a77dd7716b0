"""The benchmark scripts run end to end on tiny settings and write their reports."""
import argparse
import json
import os
import re
import sys

import numpy
import pytest

from benchmarks import mnist_ssl_benchmark, mog_benchmark
from tests.test_mnist_ssl import make_tiny_mnist


def test_mog_benchmark_tiny(tmp_path):
    report = str(tmp_path / 'results' / 'mog.md')
    os.makedirs(os.path.dirname(report))
    argv = ['--methods', 'vanilla', 'unrolled5', 'truncation-1', '--datasets', 'ring', '--z-dims', '4',
            '--toolbox-z-dims', '3', '--seeds', '0', '1', '--epochs', '1', '--iterations-per-epoch', '3',
            '--runs-dir', str(tmp_path / 'runs'), '--report', report]
    mog_benchmark.main(argv)
    text = open(report).read()
    assert '| ring | 4 | vanilla |' in text and '| ring | 4 | unrolled5 |' in text
    assert '| ring | 3 | truncation-1 |' in text and '| ring | 4 | truncation-1 |' not in text
    # the truncation row is scored on the truncated samples
    m = json.load(open(str(tmp_path / 'runs' / 'ring_z3_truncation-1_s0' / 'metrics.json')))
    assert m['truncated']['threshold'] == 1.0
    assert mog_benchmark.metrics_of('truncation-1', m) is m['truncated']
    # notes written under the marker survive a rewrite
    with open(report, 'a') as f:
        f.write('\nmy reading of the table\n')
    assert os.path.isfile(str(tmp_path / 'results' / 'mog_ring_z4.png'))
    runs = json.load(open(str(tmp_path / 'results' / 'mog_runs.json')))
    assert len(runs['ring/z4/vanilla']) == 2 and runs['ring/z4/vanilla'][0]['iterations'] == 3
    metrics = str(tmp_path / 'runs' / 'ring_z4_vanilla_s0' / 'metrics.json')
    before = os.path.getmtime(metrics)
    mog_benchmark.main(argv)  # finished runs are reused, not retrained
    assert os.path.getmtime(metrics) == before
    assert open(report).read().count('my reading of the table') == 1


def test_mog_benchmark_keeps_runs_whose_folders_are_gone(tmp_path):
    """Re-tabulating after a seed's run folder was deleted keeps its row from the earlier _runs.json and names it;
    the KDE figure shows the next seed that has a folder; a run of another length is not mixed in."""
    import shutil
    report = str(tmp_path / 'results' / 'tb.md')
    os.makedirs(os.path.dirname(report))
    argv = ['--methods', 'vanilla', '--datasets', 'ring', '--z-dims', '4', '--seeds', '0', '1', '--epochs', '1',
            '--iterations-per-epoch', '3', '--jobs', '1', '--runs-dir', str(tmp_path / 'runs'), '--report', report]
    mog_benchmark.main(argv)
    runs_json = str(tmp_path / 'results' / 'tb_runs.json')
    before = json.load(open(runs_json))
    assert [r['seed'] for r in before['ring/z4/vanilla']] == [0, 1]
    row = [line for line in open(report) if line.startswith('| ring | 4 | vanilla |')]
    assert len(row) == 1 and '/ 8 |' in row[0]
    shutil.rmtree(str(tmp_path / 'runs' / 'ring_z4_vanilla_s0'))
    mog_benchmark.main(argv + ['--no-run'])
    assert json.load(open(runs_json)) == before
    text = open(report).read()
    assert [line for line in text.splitlines(True) if line.startswith('| ring | 4 | vanilla |')] == row
    assert 'ring_z4_vanilla_s0 kept from the earlier `tb_runs.json`' in text
    assert os.path.isfile(str(tmp_path / 'results' / 'tb_ring_z4.png'))
    assert mog_benchmark.first_run(str(tmp_path / 'runs'), 'ring', 4, 'vanilla', [0, 1]) == (
        'vanilla, seed 1', str(tmp_path / 'runs' / 'ring_z4_vanilla_s1'))
    # a seed still training (a folder with samples, no metrics.json) is not drawn: the table does not count it
    unfinished = str(tmp_path / 'runs' / 'ring_z4_vanilla_s0')
    shutil.copytree(str(tmp_path / 'runs' / 'ring_z4_vanilla_s1'), unfinished)
    os.remove(os.path.join(unfinished, 'metrics.json'))
    assert os.listdir(os.path.join(unfinished, 'samples'))
    assert mog_benchmark.first_run(str(tmp_path / 'runs'), 'ring', 4, 'vanilla', [0, 1]) == (
        'vanilla, seed 1', str(tmp_path / 'runs' / 'ring_z4_vanilla_s1'))
    assert mog_benchmark.first_run(str(tmp_path / 'runs'), 'ring', 4, 'vanilla', [0]) is None
    shutil.rmtree(unfinished)
    # another length: the earlier 3-iteration record of seed 0 is not a 6-iteration run
    mog_benchmark.main(argv + ['--no-run', '--iterations-per-epoch', '6'])
    assert 'kept from' not in open(report).read()
    assert [r['seed'] for r in json.load(open(runs_json))['ring/z4/vanilla']] == [1]
    # no folder of the row left: its figures are not redrawn without it, and the report says so
    figures = [str(tmp_path / 'results' / name) for name in ('tb_ring_z4.png', 'tb_ring_z4_curves.png')]
    drawn = [open(f, 'rb').read() for f in figures]
    shutil.rmtree(str(tmp_path / 'runs' / 'ring_z4_vanilla_s1'))
    mog_benchmark.main(argv + ['--no-run'])
    text = open(report).read()
    assert [line for line in text.splitlines(True) if line.startswith('| ring | 4 | vanilla |')] != []
    assert [open(f, 'rb').read() for f in figures] == drawn
    assert '`tb_ring_z4.png` and `tb_ring_z4_curves.png` not redrawn: the run folders of vanilla are gone' in text
    assert '![tb_ring_z4.png](tb_ring_z4.png)' in text and '![tb_ring_z4_curves.png](tb_ring_z4_curves.png)' in text


def test_mog_sweep_starts_with_its_costliest_runs():
    names = [mog_benchmark.run_name(d, 256, m, s) for d in ('grid', 'ring') for s in (0, 1)
             for m in ('vanilla', 'unrolled5', 'minibatch-disc', 'feature-matching', 'lsgan', 'wgan-gp')]
    methods = [n.split('_')[2] for n in sorted(names, key=mog_benchmark.slowest_first)]
    assert methods == [m for m in ('minibatch-disc', 'unrolled5', 'wgan-gp', 'lsgan', 'feature-matching', 'vanilla')
                       for _ in range(4)]


def test_late_change_is_the_last_tenth_minus_the_tenth_ending_at_three_quarters():
    late = mog_benchmark.late_change
    log = [{'epoch': i + 1, 'eval/balanced_hq': i * i / 1000.0} for i in range(20)]
    log.insert(5, {'epoch': 5, 'dis/loss': 0.7})  # entries without the key are not epochs of the curve
    # 20 epochs: the last two (i = 18, 19) minus the two before three quarters (i = 13, 14)
    assert late(log) == pytest.approx((18 ** 2 + 19 ** 2 - 13 ** 2 - 14 ** 2) / 2000.0)
    assert late([{'eval/balanced_hq': float(i)} for i in range(100)]) == pytest.approx(94.5 - 69.5)
    assert late([{'eval/balanced_hq': 0.4}] * 30) == 0.0
    assert late([{'eval/hq': 1.0 * i} for i in range(8)], key='eval/hq') == pytest.approx(7 - 5)
    assert late([{'eval/balanced_hq': 0.1}] * 3) is None


def test_mean_std_signs_only_the_mean():
    from benchmarks.common import mean_std
    assert mean_std([0.01, 0.03], '{:+.1f}') == '+0.0 ± 0.0'
    assert mean_std([1.0, 3.0], '{:+.1f}') == '+2.0 ± 1.0' and mean_std([-1.0, -3.0], '{:+.1f}') == '-2.0 ± 1.0'


def test_mog_benchmark_curves_and_an_interrupted_run_resumes(tmp_path):
    import matplotlib.image
    report = str(tmp_path / 'mog.md')
    runs = tmp_path / 'runs'
    argv = ['--methods', 'vanilla', 'truncation-1', '--datasets', 'ring', '--z-dims', '4', '--toolbox-z-dims', '4',
            '--seeds', '0', '--epochs', '4', '--iterations-per-epoch', '2', '--jobs', '1', '--runs-dir', str(runs),
            '--report', report]
    mog_benchmark.main(argv)
    curves = str(tmp_path / 'mog_ring_z4_curves.png')
    assert matplotlib.image.imread(curves).shape[1] > 4 * matplotlib.image.imread(curves).shape[0] / 2
    assert '![mog_ring_z4_curves.png](mog_ring_z4_curves.png)' in open(report).read()
    run = runs / 'ring_z4_vanilla_s0'
    assert json.load(open(str(run / 'args.json')))['snapshot_every'] == 1  # a snapshot every quarter of the run
    reference = json.load(open(str(run / 'metrics.json')))
    os.remove(str(run / 'metrics.json'))  # as if killed after its third epoch
    os.remove(str(run / 'snapshot_iter_8'))
    mog_benchmark.main(argv)
    resumed = json.load(open(str(run / 'metrics.json')))
    assert resumed['resumed_from'].endswith('snapshot_iter_6') and resumed['iterations'] == 8
    for key in ('modes', 'hq', 'rev_kl', 'rev_kl_hq', 'balanced_hq'):
        assert resumed[key] == reference[key], key
    mog_benchmark.main(argv[:argv.index('--seeds')] + ['--seeds', '0', '1'] + argv[argv.index('--seeds') + 2:] +
                       ['--no-run'])  # seed 1 missing: nothing trained, seed 0 tabulated
    assert not os.path.exists(str(runs / 'ring_z4_vanilla_s1'))
    text = open(report).read()
    assert '--no-run: tabulated the finished runs' in text and '| ring | 4 | vanilla |' in text
    assert [line for line in text.splitlines() if line.startswith('| ring | 4 | vanilla |')][0].endswith(' 1 |')
    # the last-quarter change of balanced HQ: from the run's own log (4 epochs: the 4th minus the 3rd), '–' for the
    # truncation row, whose per-epoch scores are the plain GAN's
    log = [e['eval/balanced_hq'] for e in json.load(open(str(run / 'log')))]
    row = [line for line in text.splitlines() if line.startswith('| ring | 4 | vanilla |')][0].split(' | ')
    assert row[8] == '{:+.1f}'.format(100 * (log[3] - log[2]))
    assert [line for line in text.splitlines() if line.startswith('| ring | 4 | truncation-1 |')][0].split(' | ')[8] \
        == '–'
    runs_json = json.load(open(str(tmp_path / 'mog_runs.json')))
    assert runs_json['ring/z4/vanilla'][0]['late_balanced_hq'] == log[3] - log[2]
    assert 'late_balanced_hq' not in runs_json['ring/z4/truncation-1'][0]


def test_mnist_ssl_benchmark_tiny(tmp_path):
    data = make_tiny_mnist(str(tmp_path / 'data'))
    report = str(tmp_path / 'mnist_ssl.md')
    argv = ['--data-dir', data, '--labels', '20', '--unroll', '0', '2', '--seeds', '0', '--score', '--models', 'post',
            'paper', '--classifier-cache', str(tmp_path / 'cache'), '--epochs', '1', '--iterations-per-epoch', '2',
            '--eval-every', '1', '--eval-average', '0.5', '--runs-dir', str(tmp_path / 'runs'), '--report', report]
    mnist_ssl_benchmark.main(argv)
    text = open(report).read()
    n_unl = json.load(open(str(tmp_path / 'runs' / 'l20_k0_s0' / 'metrics.json')))['split']['unlabeled']
    for row in ('| 20 | {} | post | plain |', '| 20 | {} | post | unrolled K=2 |', '| 20 | {} | paper | plain |',
                '| 20 | {} | paper | unrolled K=2 |'):
        assert row.format(n_unl) in text, row
    plain_row = [line for line in text.splitlines() if line.startswith('| 20 | {} | paper | plain |'.format(n_unl))][0]
    assert '– | –' not in plain_row and len(plain_row.split('|')) == 16  # FID and IS columns filled
    assert plain_row.split('|')[6].strip() != '–'  # the averaged D's accuracy
    acc = [e['validation/accuracy'] for e in json.load(open(str(tmp_path / 'runs' / 'paper_l20_k0_s0' / 'log')))
           if 'validation/accuracy' in e]
    assert len(acc) == 2  # --eval-every 1 over 2 iterations
    assert plain_row.split('|')[9].strip() == '{:.1f}'.format(100 * max(0.0, acc[0] - acc[1]))  # one seed: no sd
    assert os.path.isfile(str(tmp_path / 'mnist_ssl_curves.png')) and 'mnist_ssl_curves.png' in text
    assert os.path.isfile(str(tmp_path / 'runs' / 'paper_l20_k2_s0' / 'metrics.json'))
    with open(report, 'a') as f:
        f.write('my reading\n')
    mnist_ssl_benchmark.main(argv)  # finished runs reused, notes kept
    assert open(report).read().count('my reading') == 1
    mnist_ssl_benchmark.main(argv + ['--no-run', '--seeds', '0', '1'])  # seed 1 missing: tabulated as it is
    assert not os.path.exists(str(tmp_path / 'runs' / 'l20_k0_s1'))
    assert '| 20 | {} | paper | plain |'.format(n_unl) in open(report).read()


def test_validation_drops_sums_the_falls_of_the_validation_curve(tmp_path):
    log = [{'iteration': 1, 'dis/loss': 1.0}] + [{'iteration': i, 'validation/accuracy': a} for i, a in
                                                 enumerate([0.5, 0.6, 0.55, 0.7, 0.64, 0.64, 0.9], 2)]
    json.dump(log, open(str(tmp_path / 'log'), 'w'))
    assert mnist_ssl_benchmark.validation_drops(str(tmp_path)) == pytest.approx(5.0 + 6.0)
    json.dump([{'validation/accuracy': a} for a in (0.1, 0.2, 0.2)], open(str(tmp_path / 'log'), 'w'))
    assert mnist_ssl_benchmark.validation_drops(str(tmp_path)) == 0.0


def test_mnist_ssl_curves_draw_each_seed_thin_and_the_mean_thick(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    runs = []
    for seed, acc in enumerate(([0.5, 0.7, 0.6], [0.3, 0.5, 0.8, 0.9])):  # the longer seed is cut for the mean
        run = tmp_path / 's{}'.format(seed)
        run.mkdir()
        json.dump([{'iteration': 10 * (i + 1), 'validation/accuracy': a} for i, a in enumerate(acc)] +
                  [{'iteration': 99, 'dis/loss': 1.0}], open(str(run / 'log'), 'w'))
        runs.append(str(run))
    drawn = []
    monkeypatch.setattr(plt, 'close', lambda fig: drawn.append(fig))
    path = str(tmp_path / 'c.png')
    assert mnist_ssl_benchmark.plot_curves({20: [('post plain', runs)], 10: [('one', runs[:1])]}, path) == path
    ten, twenty = drawn[0].axes
    lines = [(list(line.get_xdata()), list(line.get_ydata()), line.get_color(), line.get_label()) for line in twenty.lines]
    assert lines[0][:3] == ([10, 20, 30], [50.0, 70.0, 60.0], 'C0') and lines[1][:3] == ([10, 20, 30, 40], [30.0, 50.0, 80.0, 90.0], 'C0')
    assert lines[2][0] == [10, 20, 30] and numpy.allclose(lines[2][1], [40.0, 60.0, 70.0]) and lines[2][3] == 'post plain (2 seeds)'
    assert twenty.lines[2].get_linewidth() > twenty.lines[0].get_linewidth()
    assert [line.get_label() for line in ten.lines] == ['one (1 seed)']  # one seed: its line only, no thin copy
    assert twenty.get_title() == '20 labels' and 'thin, each seed' in drawn[0]._suptitle.get_text() and os.path.isfile(path)


def test_mnist_ssl_benchmark_snapshots_and_an_interrupted_run_resumes(tmp_path):
    data = make_tiny_mnist(str(tmp_path / 'data'), n_train=400)
    runs = tmp_path / 'runs'
    argv = ['--data-dir', data, '--labels', '20', '--unroll', '0', '--seeds', '0', '--epochs', '16',
            '--iterations-per-epoch', '1', '--eval-every', '4', '--jobs', '1', '--runs-dir', str(runs),
            '--report', str(tmp_path / 'ssl.md')]
    mnist_ssl_benchmark.main(argv)
    run = runs / 'l20_k0_s0'
    assert json.load(open(str(run / 'args.json')))['snapshot_every'] == 2  # an eighth of the run
    reference = json.load(open(str(run / 'metrics.json')))
    os.remove(str(run / 'metrics.json'))  # as if killed after its 14th epoch
    os.remove(str(run / 'snapshot_iter_16'))
    mnist_ssl_benchmark.main(argv)
    resumed = json.load(open(str(run / 'metrics.json')))
    assert resumed['resumed_from'].endswith('snapshot_iter_14') and resumed['iterations'] == 16
    for key in ('test_accuracy', 'validation_accuracy'):
        assert resumed[key] == reference[key], key


def test_mnist_ssl_benchmark_unlabelled_counts_are_a_grid_axis(tmp_path):
    data = make_tiny_mnist(str(tmp_path / 'data'), n_train=400)
    report = str(tmp_path / 'counts.md')
    argv = ['--data-dir', data, '--labels', '20', '--unroll', '0', '--seeds', '0', '1', '--epochs', '1',
            '--iterations-per-epoch', '2', '--eval-every', '1', '--max-unlabeled', '100', '200',
            '--lr-schedule', '0:5e-4', '--runs-dir', str(tmp_path / 'runs'), '--report', report]
    mnist_ssl_benchmark.main(argv)
    for n in (100, 200):
        for seed in (0, 1):
            m = json.load(open(str(tmp_path / 'runs' / 'u{}'.format(n) / 'l20_k0_s{}'.format(seed) / 'metrics.json')))
            assert m['split']['unlabeled'] == n and m['config']['max_unlabeled'] == n
            assert m['config']['lr_schedule'] == [[0, 5e-4]]  # passed through to every run
    text = open(report).read()
    assert 'overrides its model\'s learning rate with `--lr-schedule 0:5e-4`' in text
    assert '| 20 | 100 | post | plain |' in text and '| 20 | 200 | post | plain |' in text
    runs = json.load(open(str(tmp_path / 'counts_runs.json')))
    assert len(runs['post/l20/k0/u100']) == 2 and runs['post/l20/k0/u200'][0]['split']['unlabeled'] == 200
    assert '--max-unlabeled 200' in text  # the example command is a run of the grid
    assert [r['seed'] for r in runs['post/l20/k0/u100']] == [0, 1]
    # the trend line: the slope of a dummy-variable least squares on the runs' own metrics
    x, y, d = [], [], []
    for n in (100, 200):
        for seed in (0, 1):
            m = json.load(open(str(tmp_path / 'runs' / 'u{}'.format(n) / 'l20_k0_s{}'.format(seed) / 'metrics.json')))
            x.append(numpy.log2(n))
            y.append(100 * m['test_accuracy'])
            d.append([seed == 0, seed == 1])
    slope = numpy.linalg.lstsq(numpy.column_stack([x, numpy.array(d, float)]), y, rcond=None)[0][0]
    line = re.search(r'\*\*post, 20 labels, plain\*\*: ([-+][0-9.]+) test points per doubling', text)
    assert line and abs(float(line.group(1)) - slope) < 0.006
    assert '4 bootstrap resamples of the 2 seeds' in text


def _dummy_variable_fit(per_seed, at):
    """Reference: ordinary least squares of accuracy on [log2 count, one indicator column per seed]."""
    seeds = sorted(per_seed)
    rows, y = [], []
    for i, s in enumerate(seeds):
        for n, a in per_seed[s]:
            rows.append([numpy.log2(n)] + [float(j == i) for j in range(len(seeds))])
            y.append(a)
    coef = numpy.linalg.lstsq(numpy.array(rows), numpy.array(y), rcond=None)[0]
    return coef[0], numpy.mean(coef[1:]) + coef[0] * numpy.log2(at)


def test_unlabelled_trend_is_the_within_seed_least_squares_slope():
    rng = numpy.random.RandomState(3)
    per_seed = {s: [(n, 88 + s + 1.5 * numpy.log2(n / 2000) + rng.normal(0, 0.5)) for n in (2000, 4000, 8900)]
                for s in (0, 2, 5)}
    per_seed[5] = per_seed[5][1:]  # unbalanced: a pooled fit without the seed intercepts would differ
    per_seed[7] = [(4000, 99.0)]  # one count only: no slope, left out
    x = numpy.log2([n for s in (0, 2, 5) for n, _ in per_seed[s]])
    pooled = numpy.polyfit(x, [a for s in (0, 2, 5) for _, a in per_seed[s]], 1)[0]
    t = mnist_ssl_benchmark.unlabelled_trend(per_seed, at=50000)
    slope, at_value = _dummy_variable_fit({s: per_seed[s] for s in (0, 2, 5)}, 50000)
    assert t['seeds'] == [0, 2, 5] and abs(t['slope'] - slope) < 1e-9 and abs(t['at_value'] - at_value) < 1e-9
    assert abs(pooled - slope) > 0.3
    for s in (0, 2, 5):
        assert abs(t['seed_slopes'][s] - _dummy_variable_fit({s: per_seed[s]}, 50000)[0]) < 1e-9
    assert t['resamples'] == 27  # every resample of 3 seeds
    lo, hi = t['slope_90']
    assert lo < t['slope'] < hi and min(t['seed_slopes'].values()) <= lo and hi <= max(t['seed_slopes'].values())
    assert t['at_value_90'][0] < t['at_value'] < t['at_value_90'][1]
    # points exactly on parallel lines: every resample gives the same slope
    exact = {s: [(n, 90 + s + 2 * numpy.log2(n / 1000)) for n in (1000, 2000, 4000)] for s in range(3)}
    e = mnist_ssl_benchmark.unlabelled_trend(exact, at=16000)
    assert abs(e['slope'] - 2) < 1e-12 and abs(e['slope_90'][0] - 2) < 1e-12 and abs(e['slope_90'][1] - 2) < 1e-12
    assert abs(e['at_value'] - (91 + 8)) < 1e-9  # mean intercept 91, four doublings past 1,000
    # many seeds: seeded random resamples, repeatable
    many = {s: [(n, s + numpy.log2(n) * (1 + 0.1 * s)) for n in (10, 20)] for s in range(8)}
    a = mnist_ssl_benchmark.unlabelled_trend(many, resamples=500)
    assert a['resamples'] == 500 and a == mnist_ssl_benchmark.unlabelled_trend(many, resamples=500)
    one = mnist_ssl_benchmark.unlabelled_trend({0: [(10, 50.0), (20, 53.0)]})
    assert abs(one['slope'] - 3) < 1e-12 and one['slope_90'] is None
    assert mnist_ssl_benchmark.unlabelled_trend({0: [(10, 50.0)]}) is None


def test_mnist_metrics_benchmark_tiny(tmp_path):
    from benchmarks import mnist_metrics_benchmark
    data = make_tiny_mnist(str(tmp_path / 'data'), n_train=200, n_test=100)
    report = str(tmp_path / 'mnist_metrics.md')
    mnist_metrics_benchmark.main(['--data-dir', data, '--classifier-cache', str(tmp_path / 'cache'),
                                  '--classifier-epochs', '1', '--stacked-samples', '300', '--report', report])
    text = open(report).read()
    assert 'test accuracy' in text and '| real training digits (all 200) | 200 |' in text
    assert 'collapsed: test digits of class 1 only' in text and 'Stacked MNIST anchors' in text


def test_stacked_mnist_benchmark_tiny(tmp_path):
    from benchmarks import stacked_mnist_benchmark
    data = make_tiny_mnist(str(tmp_path / 'data'), n_train=200, n_test=50)
    report = str(tmp_path / 'stacked_mnist.md')
    argv = ['--data-dir', data, '--methods', 'dcgan', 'unrolled5', 'pacgan2-radford', 'dcgan-radford-lr2e-4-z100',
            'dcgan-no-noise-leaky', 'dcgan-no-noise-normal0.02',
            '--iterations', '1', '--g-ch', '16', '--d-ch', '2', '--batch-size', '4', '--samples', '200',
            '--classifier-cache', str(tmp_path / 'cache'), '--runs-dir', str(tmp_path / 'runs'), '--report', report]
    stacked_mnist_benchmark.main(argv)
    text = open(report).read()
    assert '| dcgan |' in text and '| unrolled5 |' in text
    runs = json.load(open(str(tmp_path / 'stacked_mnist_runs.json')))
    assert 1 <= runs['dcgan'][0]['modes'] <= 200 and runs['unrolled5'][0]['iterations'] == 1

    def settings(name):
        cfg = json.load(open(str(tmp_path / 'runs' / name / 'args.json')))
        return [cfg[k] for k in ('pack', 'd_noise', 'd_activation', 'init', 'lr', 'z_dim')]
    # the posts' nets, as the report says; Radford et al.'s with the method's own flag kept; PacGAN's protocol
    assert settings('dcgan_s0') == [1, 0.3, 'elu', 'normal:0.001', 1e-4, 50]
    assert 'Gaussian noise of σ 0.3 on its input' in text
    assert settings('pacgan2-radford_s0') == [2, 0.0, 'leaky_relu', 'normal:0.02', 1e-4, 50]
    assert settings('dcgan-radford-lr2e-4-z100_s0') == [1, 0.0, 'leaky_relu', 'normal:0.02', 2e-4, 100]
    # the ablations between the two: one of Radford's changes each, on the posts' nets without input noise
    assert settings('dcgan-no-noise-leaky_s0') == [1, 0.0, 'leaky_relu', 'normal:0.001', 1e-4, 50]
    assert settings('dcgan-no-noise-normal0.02_s0') == [1, 0.0, 'elu', 'normal:0.02', 1e-4, 50]
    assert os.path.isfile(str(tmp_path / 'stacked_mnist' / 'pacgan2-radford_s0.png'))
    assert '![pacgan2-radford, seed 0](stacked_mnist/pacgan2-radford_s0.png)' in text
    stacked_mnist_benchmark.main(argv + ['--no-run'])
    assert 'tabulating finished runs only' in open(report).read() and '| pacgan2-radford |' in open(report).read()


def test_stacked_mnist_benchmark_checkpoints_score_the_generator_mid_run(tmp_path):
    """--checkpoints 2 with --iterations 4: the run is two epochs of two iterations; its iteration-2 generator equals
    that of a separate 2-iteration run bit for bit (the epoch length changes nothing in training) and is scored into
    evaluation_iter_2.json, which the over-training table reports.  A trained but unscored run is scored again
    without retraining."""
    from benchmarks import stacked_mnist_benchmark
    data = make_tiny_mnist(str(tmp_path / 'data'), n_train=200, n_test=50)
    common = ['--data-dir', data, '--methods', 'dcgan', '--g-ch', '16', '--d-ch', '2', '--batch-size', '4',
              '--samples', '200', '--classifier-cache', str(tmp_path / 'cache')]
    argv = common + ['--iterations', '4', '--checkpoints', '2', '--runs-dir', str(tmp_path / 'runs'),
                     '--report', str(tmp_path / 'long.md')]
    stacked_mnist_benchmark.main(argv)
    stacked_mnist_benchmark.main(common + ['--iterations', '2', '--runs-dir', str(tmp_path / 'short'),
                                           '--report', str(tmp_path / 'short.md')])
    run = tmp_path / 'runs' / 'dcgan_s0'
    cfg = json.load(open(str(run / 'args.json')))
    assert (cfg['epochs'], cfg['iterations_per_epoch']) == (2, 2)
    mid = numpy.load(str(run / 'gen_iter_2.npz'))
    short = numpy.load(str(tmp_path / 'short' / 'dcgan_s0' / 'gen_iter_2.npz'))
    assert sorted(mid.files) == sorted(short.files) and len(mid.files) > 0
    for key in mid.files:
        numpy.testing.assert_array_equal(mid[key], short[key], err_msg=key)
    score = json.load(open(str(run / 'evaluation_iter_2.json')))
    assert score['snapshot'].endswith('gen_iter_2.npz') and score['samples'] == 200
    assert json.load(open(str(tmp_path / 'short' / 'dcgan_s0' / 'evaluation.json')))['modes'] == score['modes']
    final = json.load(open(str(run / 'evaluation.json')))
    row = '| dcgan | {} / {:.2f} | {} / {:.2f} |'.format(  # one seed: no spread
        score['modes'], score['kl'], final['modes'], final['kl'])
    text = open(str(tmp_path / 'long.md')).read()
    assert '| method | 2 | 4 |' in text and row in text, text
    assert '![modes and KL over training](long/course.png)' in text
    with open(str(tmp_path / 'long' / 'course.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    runs = json.load(open(str(tmp_path / 'long_runs.json')))
    assert runs['dcgan'][0]['checkpoints'] == {'2': dict(modes=score['modes'], kl=score['kl'])}
    trained = os.path.getmtime(str(run / 'metrics.json'))
    os.remove(str(run / 'evaluation.json'))
    os.remove(str(run / 'evaluation_iter_2.json'))
    stacked_mnist_benchmark.main(argv)
    assert os.path.getmtime(str(run / 'metrics.json')) == trained
    assert json.load(open(str(run / 'evaluation_iter_2.json')))['modes'] == score['modes']
    assert json.load(open(str(run / 'evaluation.json')))['kl'] == final['kl']


def test_stacked_mnist_benchmark_continues_finished_runs_to_a_longer_length(tmp_path):
    """Finished 2-iteration runs, asked for 4: each resumes from its last snapshot and ends bit for bit where a
    4-iteration run of the same seed ends; its old final score and metrics are kept as those of iteration 2, the
    iteration-1 score is not recomputed, and the report sums both parts' wall times.  A length shorter than trained,
    or one that needs another epoch length, is a one-line exit 2 that moves nothing."""
    from benchmarks import stacked_mnist_benchmark
    from tests.test_anime import run_cli
    data = make_tiny_mnist(str(tmp_path / 'data'), n_train=200, n_test=50)
    common = ['--data-dir', data, '--methods', 'dcgan', '--g-ch', '16', '--d-ch', '2', '--batch-size', '4',
              '--samples', '200', '--classifier-cache', str(tmp_path / 'cache')]
    runs, report = str(tmp_path / 'runs'), str(tmp_path / 'r.md')
    stacked_mnist_benchmark.main(common + ['--iterations', '2', '--checkpoints', '1', '--runs-dir', runs,
                                           '--report', report])
    run = tmp_path / 'runs' / 'dcgan_s0'
    short_score, short_metrics = (run / 'evaluation.json').read_text(), (run / 'metrics.json').read_text()
    first = os.path.getmtime(str(run / 'evaluation_iter_1.json'))
    for extra, message in ((['--iterations', '1'], 'trained to 2 iterations, more than --iterations 1'),
                           (['--iterations', '6'], 'trained in epochs of 1 iterations')):
        args = common + extra + ['--runs-dir', runs, '--report', report]
        proc = run_cli('benchmarks/stacked_mnist_benchmark.py', *args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], (extra, proc.stderr)
        assert (run / 'evaluation.json').read_text() == short_score and not (run / 'metrics_iter_2.json').exists()
    longer = ['--iterations', '4', '--checkpoints', '1', '2']
    stacked_mnist_benchmark.main(common + longer + ['--runs-dir', runs, '--report', report])
    stacked_mnist_benchmark.main(common + longer + ['--runs-dir', str(tmp_path / 'whole'),
                                                    '--report', str(tmp_path / 'whole.md')])
    whole = tmp_path / 'whole' / 'dcgan_s0'
    assert (run / 'evaluation_iter_2.json').read_text() == short_score
    assert (run / 'metrics_iter_2.json').read_text() == short_metrics
    assert os.path.getmtime(str(run / 'evaluation_iter_1.json')) == first
    metrics = json.load(open(str(run / 'metrics.json')))
    assert metrics['iterations'] == 4 and metrics['resumed_from'].endswith('snapshot_iter_2')
    ended, separate = numpy.load(str(run / 'gen_iter_4.npz')), numpy.load(str(whole / 'gen_iter_4.npz'))
    assert sorted(ended.files) == sorted(separate.files) and len(ended.files) > 0
    for key in ended.files:
        numpy.testing.assert_array_equal(ended[key], separate[key], err_msg=key)
    for name in ('evaluation_iter_1.json', 'evaluation_iter_2.json', 'evaluation.json'):
        a, b = json.load(open(str(run / name))), json.load(open(str(whole / name)))
        assert (a['modes'], a['kl']) == (b['modes'], b['kl']), name
    record = json.load(open(str(tmp_path / 'r_runs.json')))['dcgan'][0]
    assert [(p['iterations'], p['resumed_from']) for p in record['parts']] == [(2, None), (4, 'snapshot_iter_2')]
    assert record['wall_time_s'] == json.loads(short_metrics)['wall_time_s'] + metrics['wall_time_s']
    text = open(report).read()
    assert '| method | 1 | 2 | 4 |' in text
    assert '| {:.0f} | 1 |'.format(record['wall_time_s']) in text
    args = common + ['--iterations', '2', '--no-run', '--runs-dir', runs, '--report', report]
    proc = run_cli('benchmarks/stacked_mnist_benchmark.py', *args)
    assert proc.returncode == 2 and 'no finished runs' in proc.stderr and 'trained to 4 iterations' in proc.stdout
    assert open(report).read() == text


def test_lsgan_mnist_benchmark_tiny(tmp_path):
    from benchmarks import lsgan_mnist_benchmark
    data = make_tiny_mnist(str(tmp_path / 'data'))
    report = str(tmp_path / 'results' / 'lsgan.md')
    os.makedirs(os.path.dirname(report))
    argv = ['--data-dir', data, '--variants', 'lsgan-nobn', 'gan-bn', '--seeds', '0', '1', '--epochs', '2',
            '--iterations-per-epoch', '1', '--g-ch', '16', '--d-ch', '2', '--batch-size', '4',
            '--score-samples', '20', '--classifier-cache', str(tmp_path / 'cache'),
            '--runs-dir', str(tmp_path / 'runs'), '--report', report]
    lsgan_mnist_benchmark.main(argv)
    text = open(report).read()
    assert '| LSGAN, G without batch norm (the post) |' in text and '| standard GAN, G with batch norm |' in text
    assert 'MNIST_DIR' in text and data not in text  # the report names no machine-specific path
    runs = json.load(open(str(tmp_path / 'results' / 'lsgan_runs.json')))
    assert [r['seed'] for r in runs['gan-bn']] == [0, 1] and runs['gan-bn'][0]['epochs'] == [1, 2]
    assert len(runs['lsgan-nobn'][1]['fid']) == 2 and runs['lsgan-nobn'][1]['iterations'] == 2
    steadier = [numpy.mean(r['fid']) for r in runs['gan-bn']]  # 2 epochs: the last 5 epochs' mean is both's
    row = next(line for line in text.splitlines() if line.startswith('| standard GAN'))
    assert row.split(' | ')[4] == '{:.0f} ± {:.0f}'.format(numpy.mean(steadier), numpy.std(steadier)), row
    cfg = json.load(open(str(tmp_path / 'runs' / 'gan-bn_s1' / 'args.json')))
    assert (cfg['loss'], cfg['g_norm'], cfg['preset'], cfg['seed']) == ('gan', 'batch', 'lsgan-mnist-post', 1)
    assert os.path.isfile(str(tmp_path / 'results' / 'lsgan_fid.png'))
    assert os.path.isfile(str(tmp_path / 'results' / 'lsgan' / 'gan-bn_s0.png'))
    metrics = str(tmp_path / 'runs' / 'gan-bn_s0' / 'metrics.json')
    before = os.path.getmtime(metrics)
    lsgan_mnist_benchmark.main(argv + ['--no-run'])  # tabulates without training
    assert os.path.getmtime(metrics) == before


def test_lsgan_mnist_benchmark_counts_a_resumed_runs_time_before_its_snapshot(tmp_path):
    import train_anime
    from benchmarks import lsgan_mnist_benchmark
    data = make_tiny_mnist(str(tmp_path / 'data'))
    report = str(tmp_path / 'results' / 'longer.md')
    os.makedirs(os.path.dirname(report))
    argv = ['--data-dir', data, '--variants', 'gan-bn', '--seeds', '0', '--iterations-per-epoch', '2',
            '--g-ch', '16', '--d-ch', '2', '--batch-size', '4', '--jobs', '1', '--score-samples', '20',
            '--classifier-cache', str(tmp_path / 'cache'), '--report', report]
    lsgan_mnist_benchmark.main(argv + ['--epochs', '2', '--runs-dir', str(tmp_path / 'runs')])
    first = str(tmp_path / 'runs' / 'gan-bn_s0')
    with numpy.load(os.path.join(first, 'snapshot_iter_4')) as z:  # as if the first 4 iterations took 1000 s
        arrays = dict((k, z[k]) for k in z.files)
    arrays['_snapshot_elapsed_time'] = numpy.asarray(1000.0)
    longer, snapshot = str(tmp_path / 'longer' / 'gan-bn_s0'), str(tmp_path / 'snapshot_iter_4')
    with open(snapshot, 'wb') as f:
        numpy.savez(f, **arrays)
    same = argparse.Namespace(data_dir=data, g_ch=16, d_ch=2, batch_size=4, epochs=3, full_epochs=False,
                              iterations_per_epoch=2, score_samples=20, device='cpu',
                              classifier_cache=str(tmp_path / 'cache'), snapshot_every=1, continue_from=None)
    train_anime.main(lsgan_mnist_benchmark.train_command('gan-bn', 0, same, longer)[2:] + ['--resume', snapshot])
    lsgan_mnist_benchmark.main(argv + ['--epochs', '3', '--no-run', '--runs-dir', str(tmp_path / 'longer')])
    run = json.load(open(str(tmp_path / 'results' / 'longer_runs.json')))['gan-bn'][0]
    segment = json.load(open(os.path.join(longer, 'metrics.json')))['wall_time_s']
    assert run['epochs'] == [1, 2, 3] and run['iterations'] == 6
    assert 1000 < run['wall_time_s'] <= 1000 + segment


def test_lsgan_mnist_benchmark_continues_shorter_runs_and_resumes_an_interrupted_one(tmp_path):
    from benchmarks import lsgan_mnist_benchmark
    data = make_tiny_mnist(str(tmp_path / 'data'))
    report = str(tmp_path / 'results' / 'r.md')
    os.makedirs(os.path.dirname(report))
    argv = ['--data-dir', data, '--variants', 'gan-bn', '--seeds', '0', '--iterations-per-epoch', '2',
            '--g-ch', '16', '--d-ch', '2', '--batch-size', '4', '--score-samples', '20',
            '--classifier-cache', str(tmp_path / 'cache'), '--report', report]
    short, longer, straight = (str(tmp_path / name) for name in ('short', 'longer', 'straight'))
    lsgan_mnist_benchmark.main(argv + ['--epochs', '2', '--runs-dir', short])
    short_metrics = os.path.join(short, 'gan-bn_s0', 'metrics.json')
    before = open(short_metrics).read()
    lsgan_mnist_benchmark.main(argv + ['--epochs', '3', '--runs-dir', longer, '--continue-from', short])
    lsgan_mnist_benchmark.main(argv + ['--epochs', '3', '--runs-dir', straight])
    continued = json.load(open(os.path.join(longer, 'gan-bn_s0', 'metrics.json')))
    assert continued['resumed_from'] == os.path.join(short, 'gan-bn_s0', 'snapshot_iter_4')
    assert continued['iterations'] == 6 and open(short_metrics).read() == before  # the shorter run is only read

    def fids(runs):
        return [e['eval/fid'] for e in json.load(open(os.path.join(runs, 'gan-bn_s0', 'log'))) if 'eval/fid' in e]
    assert len(fids(longer)) == 3 and fids(longer) == fids(straight)  # continued = trained to 3 epochs at once
    # an interrupted run (no metrics.json, its last snapshot at iteration 4) continues from its own snapshot
    run = os.path.join(straight, 'gan-bn_s0')
    for name in ('metrics.json', 'snapshot_iter_6'):
        os.remove(os.path.join(run, name))
    lsgan_mnist_benchmark.main(argv + ['--epochs', '3', '--runs-dir', straight, '--continue-from', short])
    resumed = json.load(open(os.path.join(run, 'metrics.json')))
    assert resumed['resumed_from'] == os.path.join(run, 'snapshot_iter_4') and fids(straight) == fids(longer)


def test_lsgan_mnist_benchmark_scores_saved_generators_at_checkpoints(tmp_path):
    import evaluate
    from benchmarks import lsgan_mnist_benchmark
    data = make_tiny_mnist(str(tmp_path / 'data'))
    report = str(tmp_path / 'results' / 'r.md')
    os.makedirs(os.path.dirname(report))
    cache = str(tmp_path / 'cache')
    argv = ['--data-dir', data, '--variants', 'gan-bn', '--iterations-per-epoch', '2', '--g-ch', '16',
            '--d-ch', '2', '--batch-size', '4', '--score-samples', '20', '--classifier-cache', cache,
            '--checkpoint-samples', '30', '--report', report]
    short, longer = str(tmp_path / 'short'), str(tmp_path / 'longer')
    lsgan_mnist_benchmark.main(argv + ['--seeds', '0', '1', '--epochs', '2', '--runs-dir', short,
                                       '--checkpoints', '2', '4'])
    fid = {}
    for seed in (0, 1):
        run = os.path.join(short, 'gan-bn_s{}'.format(seed))
        for k in (2, 4):  # each score is evaluate.py's own on that generator, 30 samples, latents of seed 0
            mine = str(tmp_path / 'mine.json')
            evaluate.main([run, '--snapshot', os.path.join(run, 'gen_iter_{}.npz'.format(k)), '--samples', '30',
                           '--seed', '0', '--classifier-cache', cache, '-o', mine])
            written = json.load(open(os.path.join(run, 'evaluation_iter_{}.json'.format(k))))['fid']
            # equal up to the BLAS thread count's rounding (the benchmark scores in one-thread processes)
            assert numpy.isclose(written, json.load(open(mine))['fid'], rtol=1e-6, atol=0)
            fid[seed, k] = written
    text = open(report).read()
    for k in (2, 4):
        both = numpy.array([fid[0, k], fid[1, k]])
        assert '| {} | {:.1f} ± {:.1f} ({:.1f} / {:.1f}) |'.format(k, both.mean(), both.std(), *both) in text
    assert 'seeds 0 / 1' in text and '--samples\n30 --seed 0' in text
    # continued to 3 epochs in another folder: iteration 4's generator is the shorter run's, 6's the new one's
    lsgan_mnist_benchmark.main(argv + ['--seeds', '0', '--epochs', '3', '--runs-dir', longer, '--continue-from', short,
                                       '--checkpoints', '4', '6'])
    run = os.path.join(longer, 'gan-bn_s0')
    at4 = json.load(open(os.path.join(run, 'evaluation_iter_4.json')))
    assert at4['snapshot'] == os.path.join(short, 'gan-bn_s0', 'gen_iter_4.npz') and at4['fid'] == fid[0, 4]  # both one-thread
    assert os.path.isfile(os.path.join(run, 'evaluation_iter_6.json'))
    assert not os.path.isfile(os.path.join(short, 'gan-bn_s0', 'evaluation_iter_6.json'))
    # tabulating again reads the scores written; an iteration that was not scored is a dash
    lsgan_mnist_benchmark.main(argv + ['--seeds', '0', '--epochs', '3', '--runs-dir', longer, '--no-run',
                                       '--checkpoints', '2', '4'])
    text = open(report).read()
    assert '| 2 | – |' in text and '| 4 | {:.1f} ({:.1f}) |'.format(fid[0, 4], fid[0, 4]) in text


def test_lsgan_mnist_benchmark_figure_dots_are_the_checkpoint_scores_of_that_sample_count(tmp_path, monkeypatch):
    """The FID figure draws each run's checkpoint scores of --checkpoint-samples samples as dots, in iteration order
    (not the string order of the JSON keys), in its variant's colour; scores of another sample count are left out."""
    from benchmarks import lsgan_mnist_benchmark as bench
    run = dict(at_iteration=[100, 200], fid=[50.0, 40.0], checkpoints={
        '10000': dict(fid=5.0, samples=10000), '9000': dict(fid=7.0, samples=10000), '8000': dict(fid=9.0, samples=30)})
    assert bench.checkpoint_points(run, 10000) == ([9000, 10000], [7.0, 5.0])
    assert bench.checkpoint_points(run, 30) == ([8000], [9.0]) and bench.checkpoint_points({}, 30) == ([], [])
    drawn = {}
    monkeypatch.setattr(bench, 'save_fid_axes', lambda fig, ax, path, xlabel, title: drawn.update(ax=ax, title=title))
    bench.fid_figure({'gan-bn': [run, dict(run, checkpoints={})], 'lsgan-bn': [run]}, str(tmp_path / 'f.png'), 10000)
    dots = [(line.get_color(), list(line.get_xdata()), list(line.get_ydata())) for line in drawn['ax'].lines
            if line.get_marker() == 'o' and len(line.get_xdata())]
    assert dots == [('C0', [9000, 10000], [7.0, 5.0]), ('C1', [9000, 10000], [7.0, 5.0])]
    assert '10,000 samples, dots' in drawn['title']
    assert sum('10,000 samples' in (t.get_label() or '') for t in drawn['ax'].lines) == 1  # one legend entry
    bench.fid_figure({'gan-bn': [dict(run, checkpoints={})]}, str(tmp_path / 'f.png'), 10000)
    assert 'dots' not in drawn['title'] and not [line for line in drawn['ax'].lines if line.get_marker() == 'o'
                                                 and len(line.get_xdata())]


def test_lsgan_mnist_benchmark_bad_continue_from_or_checkpoints_is_one_line(tmp_path):
    from tests.test_anime import run_cli
    for extra, said in ((['--continue-from', str(tmp_path / 'nope')], '--continue-from: no such directory'),
                        (['--continue-from', str(tmp_path), '--runs-dir', str(tmp_path)], 'another folder'),
                        (['--epochs', '2', '--iterations-per-epoch', '3', '--checkpoints', '3', '7'],
                         '--checkpoints: 7 is past the runs\' end (2 epochs × 3 iterations = 6)')):
        proc = run_cli('benchmarks/lsgan_mnist_benchmark.py', '--data-dir', str(tmp_path), '--report',
                       str(tmp_path / 'r.md'), *extra)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert said in proc.stderr and 'Traceback' not in proc.stderr
    assert not os.path.exists(str(tmp_path / 'r.md'))


def test_lsgan_mnist_benchmark_keeps_runs_whose_folders_are_gone(tmp_path):
    """Re-tabulating after a run folder was deleted keeps that run's row, curve and grid from the earlier
    _runs.json; a run of another length is not mixed in, and nothing is kept when there was no earlier report."""
    import shutil
    from benchmarks import lsgan_mnist_benchmark
    data = make_tiny_mnist(str(tmp_path / 'data'))
    report = str(tmp_path / 'results' / 'kept.md')
    os.makedirs(os.path.dirname(report))
    argv = ['--data-dir', data, '--variants', 'gan-bn', '--seeds', '0', '1', '--epochs', '2',
            '--iterations-per-epoch', '1', '--g-ch', '16', '--d-ch', '2', '--batch-size', '4', '--jobs', '1',
            '--score-samples', '20', '--classifier-cache', str(tmp_path / 'cache'),
            '--runs-dir', str(tmp_path / 'runs'), '--report', report]
    lsgan_mnist_benchmark.main(argv)
    before = json.load(open(str(tmp_path / 'results' / 'kept_runs.json')))
    row = [line for line in open(report) if line.startswith('| standard GAN')]
    shutil.rmtree(str(tmp_path / 'runs' / 'gan-bn_s0'))  # the first seed's folder, whose grid the report shows
    lsgan_mnist_benchmark.main(argv + ['--no-run'])
    assert json.load(open(str(tmp_path / 'results' / 'kept_runs.json'))) == before
    text = open(report).read()
    assert [line for line in text.splitlines(True) if line.startswith('| standard GAN')] == row
    assert 'gan-bn_s0 kept from the earlier `kept_runs.json`' in text
    assert '(kept/gan-bn_s0.png)' in text
    # another length: the earlier 2-epoch record of seed 0 is not a 3-epoch run
    lsgan_mnist_benchmark.main(argv + ['--no-run', '--epochs', '3'])
    assert 'kept from' not in open(report).read()
    assert [r['seed'] for r in json.load(open(str(tmp_path / 'results' / 'kept_runs.json')))['gan-bn']] == [1]
    os.remove(str(tmp_path / 'results' / 'kept_runs.json'))
    lsgan_mnist_benchmark.main(argv + ['--no-run'])  # no earlier record: seed 0 is simply missing
    assert [r['seed'] for r in json.load(open(str(tmp_path / 'results' / 'kept_runs.json')))['gan-bn']] == [1]


def test_mean_std_shows_no_spread_for_one_seed():
    from benchmarks.common import mean_std
    assert mean_std([3.0, 5.0], '{:.1f}') == '4.0 ± 1.0'
    assert mean_std([919.4], '{:.0f}') == '919'


def test_lsgan_mnist_benchmark_full_epochs(tmp_path):
    """--full-epochs: no --iterations-per-epoch, an epoch is a pass over the digits, and the table and curves say
    how many iterations that was."""
    from benchmarks import lsgan_mnist_benchmark
    data = make_tiny_mnist(str(tmp_path / 'data'))
    report = str(tmp_path / 'full.md')
    lsgan_mnist_benchmark.main(['--data-dir', data, '--variants', 'lsgan-bn', '--seeds', '0', '--epochs', '2',
                                '--full-epochs', '--g-ch', '16', '--d-ch', '2', '--batch-size', '16',
                                '--score-samples', '20', '--classifier-cache', str(tmp_path / 'cache'), '--jobs', '1',
                                '--runs-dir', str(tmp_path / 'runs'), '--report', report])
    run = str(tmp_path / 'runs' / 'lsgan-bn_s0')
    assert json.load(open(os.path.join(run, 'args.json')))['iterations_per_epoch'] is None
    metrics = json.load(open(os.path.join(run, 'metrics.json')))
    per_epoch = metrics['images'] // 16
    assert metrics['iterations'] == 2 * per_epoch
    runs = json.load(open(str(tmp_path / 'full_runs.json')))
    assert runs['lsgan-bn'][0]['at_iteration'] == [per_epoch, 2 * per_epoch]
    text = open(report).read()
    assert '2 epochs × {} (one pass over the digits) generator iterations = {} iterations'.format(
        per_epoch, 2 * per_epoch) in text and '--iterations-per-epoch' not in text


def test_lsgan_mnist_benchmark_improved_gan_variants(tmp_path):
    """The Improved-GAN post's four variants and the LSGAN post's WGAN run with their own preset's settings."""
    from benchmarks import lsgan_mnist_benchmark
    data = make_tiny_mnist(str(tmp_path / 'data'))
    report = str(tmp_path / 'improved.md')
    variants = ['improved-dcgan', 'improved-fm-md', 'improved-fm-md-o', 'wgan-clip-bn']
    lsgan_mnist_benchmark.main(['--data-dir', data, '--variants'] + variants + [
        '--seeds', '0', '--epochs', '1', '--iterations-per-epoch', '1', '--g-ch', '16', '--d-ch', '2',
        '--batch-size', '4', '--score-samples', '20', '--classifier-cache', str(tmp_path / 'cache'), '--jobs', '1',
        '--runs-dir', str(tmp_path / 'runs'), '--report', report])
    cfg = {v: json.load(open(str(tmp_path / 'runs' / (v + '_s0') / 'args.json'))) for v in variants}
    # the Improved-GAN post's face D (ELU, input noise 0.3, Normal(0.001)) at 32 x 32 instead of its 96
    for key, value in dict(preset='improved-gan-post', size=32, dataset='mnist', loss='gan', d_activation='elu',
                           d_noise=0.3, init='normal:0.001', md_kernels=50, md_dim=5, z_dim=50).items():
        assert cfg['improved-dcgan'][key] == value, key
    assert not cfg['improved-dcgan']['feature_matching'] and not cfg['improved-dcgan']['minibatch_discrimination']
    assert cfg['improved-fm-md']['feature_matching'] and cfg['improved-fm-md']['minibatch_discrimination']
    assert (cfg['improved-fm-md']['fm_layer'], cfg['improved-fm-md-o']['fm_layer']) == ('conv', 'md')
    assert cfg['improved-fm-md-o']['feature_matching'] and cfg['improved-fm-md-o']['minibatch_discrimination']
    # the LSGAN post's WGAN comparison: RMSprop 1e-4, clip 0.01, on its own networks
    wgan = cfg['wgan-clip-bn']
    assert (wgan['preset'], wgan['loss'], wgan['optimizer'], wgan['lr'], wgan['weight_clip'], wgan['n_critic'],
            wgan['d_activation']) == ('lsgan-mnist-post', 'wgan', 'rmsprop', 1e-4, 0.01, 5, 'leaky_relu')
    text = open(report).read()
    assert '| Improved-GAN post: + both |' in text and '`--preset improved-gan-post --feature-matching' in text
    assert "`--preset lsgan-mnist-post`: the LSGAN post's face networks" in text


def test_dcgan_layout_probe_tiny(tmp_path):
    """The stock-Chainer probe trains both layouts and records its curve; bad input is one line, exit 2."""
    from benchmarks import dcgan_layout_probe
    from tests.test_anime import run_cli
    data = make_tiny_mnist(str(tmp_path / 'data'))
    for first in (2, 4):
        out = str(tmp_path / 'probe{}.png'.format(first))
        dcgan_layout_probe.main(['--data-dir', data, '--first-map', str(first), '--g-ch', '16', '--d-ch', '2',
                                 '--iterations', '3', '--batch-size', '4', '--out', out])
        record = json.load(open(out[:-4] + '.json'))
        assert os.path.isfile(out) and [c['iteration'] for c in record['curve']] == [3]
        assert 0 < record['curve'][0]['spread'] < 2
    proc = run_cli('benchmarks/dcgan_layout_probe.py', '--data-dir', str(tmp_path / 'none'), '--out',
                   str(tmp_path / 'x.png'))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and 'Traceback' not in proc.stderr
    assert not os.path.exists(str(tmp_path / 'x.png'))


def test_lsgan_benchmark_refuses_a_broken_earlier_runs_record_in_one_line(tmp_path):
    from tests.test_anime import run_cli
    for text in ('{"gan-bn": [', '[1, 2]'):
        (tmp_path / 'r_runs.json').write_text(text)
        proc = run_cli('benchmarks/lsgan_mnist_benchmark.py', '--no-run', '--runs-dir', str(tmp_path / 'runs'),
                       '--report', str(tmp_path / 'r.md'))
        assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and 'Traceback' not in proc.stderr
        assert 'r_runs.json: not a runs record' in proc.stderr and proc.stdout == ''
        assert (tmp_path / 'r_runs.json').read_text() == text and not (tmp_path / 'r.md').exists()


def test_lsgan_and_stacked_benchmarks_bad_input_one_line(tmp_path):
    """A missing MNIST folder, or --no-run with no finished runs: one line, exit 2, nothing written."""
    from tests.test_anime import run_cli
    report = str(tmp_path / 'r.md')
    for script in ('benchmarks/lsgan_mnist_benchmark.py', 'benchmarks/stacked_mnist_benchmark.py',
                   'benchmarks/progressive_benchmark.py'):
        for extra in (['--data-dir', str(tmp_path / 'none')], ['--no-run', '--runs-dir', str(tmp_path / 'empty')]):
            proc = run_cli(script, *(extra + ['--report', report]))
            lines = proc.stderr.strip().splitlines()
            assert proc.returncode == 2 and len(lines) == 1 and 'Traceback' not in proc.stderr, (script, proc.stderr)
            assert not os.path.exists(report) and not os.path.exists(str(tmp_path / 'empty'))


def test_stacked_benchmark_bad_checkpoints_one_line(tmp_path):
    """A checkpoint at or past --iterations, or not a positive integer: one line, exit 2, nothing written."""
    from tests.test_anime import run_cli
    data = make_tiny_mnist(str(tmp_path / 'data'))
    runs, report = str(tmp_path / 'runs'), str(tmp_path / 'r.md')
    for values, message in ((['10'], 'below --iterations (10)'), (['3', '12'], 'below --iterations (10)'),
                            (['0'], '--checkpoints'), (['x'], '--checkpoints')):
        proc = run_cli('benchmarks/stacked_mnist_benchmark.py', '--data-dir', data, '--iterations', '10',
                       '--runs-dir', runs, '--report', report, '--checkpoints', *values)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], (values, proc.stderr)
        assert not os.path.exists(runs) and not os.path.exists(report)


# (script, the flag of its run folders or None, whether it copies pictures into <report dir>/<report stem>)
OUTPUT_CHECKED = (('stacked_mnist_benchmark', '--runs-dir', True), ('progressive_benchmark', '--runs-dir', True),
                  ('lsgan_mnist_benchmark', '--runs-dir', True), ('mnist_ssl_benchmark', '--runs-dir', False),
                  ('mog_benchmark', '--runs-dir', False), ('pacgan_benchmark', '--runs-dir', False),
                  ('post_mog_benchmark', '--runs-dir', False), ('mnist_metrics_benchmark', None, False),
                  ('speed', None, False), ('gpu_check', '--out', False))


@pytest.mark.parametrize('script,runs_flag,pictures', OUTPUT_CHECKED)
def test_benchmarks_unusable_outputs_one_line_before_any_run(tmp_path, script, runs_flag, pictures):
    """Every benchmark: run folders or a report that cannot be written (a file in the way of a folder, the report a
    folder) are one line on stderr, exit 2, before anything runs; nothing is created."""
    from tests.test_anime import run_cli
    data = make_tiny_mnist(str(tmp_path / 'data'))
    a_file = tmp_path / 'a_file'
    a_file.write_text('not a folder')
    (tmp_path / 'r').write_text('a file where the pictures go')
    (tmp_path / 'folder.md').mkdir()
    runs, report = str(tmp_path / 'runs'), str(tmp_path / 'ok.md')
    base = ['--data-dir', data] if script not in ('mog_benchmark', 'pacgan_benchmark', 'post_mog_benchmark') else []
    base += [runs_flag, runs] if runs_flag else []
    cases = [(['--report', str(a_file / 'r.md')], '--report'),
             (['--report', str(tmp_path / 'folder.md')], 'is a folder')]
    cases += [([runs_flag, str(a_file / 'runs')], runs_flag)] if runs_flag else []
    cases += [(['--report', str(tmp_path / 'r.md')], '--report pictures')] if pictures else []
    for extra, message in cases:
        proc = run_cli('benchmarks/{}.py'.format(script), *(base + ['--report', report] + extra))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], (extra, proc.stderr)
        assert 'Traceback' not in proc.stderr and proc.stdout == '', proc.stdout
        assert not os.path.exists(runs) and not os.path.exists(report)
    assert a_file.read_text() == 'not a folder'


def test_mnist_metrics_benchmark_bad_inputs_one_line(tmp_path):
    """A missing --data-dir and a --runs entry that is not a run folder: one line, exit 2, no report (the first was
    a traceback, the second silently left out of the report)."""
    from tests.test_anime import run_cli
    data = make_tiny_mnist(str(tmp_path / 'data'))
    report = str(tmp_path / 'r.md')
    for extra, message in ((['--data-dir', str(tmp_path / 'nope')], '--data-dir'),
                           (['--data-dir', data, '--runs', str(tmp_path)], '--runs')):
        proc = run_cli('benchmarks/mnist_metrics_benchmark.py', '--report', report, *extra)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], (extra, proc.stderr)
        assert not os.path.exists(report)


def test_progressive_benchmark_bad_flag_values_are_one_line_errors(tmp_path):
    """Bad values: one line on stderr, exit 2, no run folder and no report written."""
    from tests.test_anime import run_cli
    data = make_tiny_mnist(str(tmp_path / 'data'))
    runs, report = str(tmp_path / 'runs'), str(tmp_path / 'r.md')
    a_file = tmp_path / 'a_file'
    a_file.write_text('not a folder')
    for extra, message in ((['--variants', 'nope'], 'invalid choice'), (['--time-limit', '-1'], '--time-limit'),
                           (['--jobs', '0'], '--jobs'), (['--seeds', 'x'], '--seeds'),
                           (['--phase-images', '0'], '--phase-images'),
                           (['--runs-dir', str(a_file / 'runs')], '--runs-dir'),
                           (['--report', str(a_file / 'r.md')], '--report')):
        proc = run_cli('benchmarks/progressive_benchmark.py', '--data-dir', data, '--runs-dir', runs,
                       '--report', report, *extra)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], (extra, proc.stderr)
        assert not os.path.exists(runs) and not os.path.exists(report)


def test_progressive_benchmark_tabulates_finished_runs_and_a_stopped_one_from_its_snapshot(tmp_path):
    """Two tiny whole-schedule runs: one row per phase with each run's FID / IS / classes from its metrics.json;
    a run stopped after iteration 4 is read from its last snapshot (the phases it had scored) and marked stopped."""
    import json
    from benchmarks import progressive_benchmark
    data = make_tiny_mnist(str(tmp_path / 'data'))
    runs, report = tmp_path / 'runs', tmp_path / 'prog.md'
    argv = ['--data-dir', data, '--variants', 'pggan', 'stylegan', '--phase-images', '16', '--ch', '4', '--z-dim', '8',
            '--score-samples', '20', '--classifier-cache', str(tmp_path / 'cache'), '--runs-dir', str(runs),
            '--report', str(report)]
    assert progressive_benchmark.main(argv) == 0
    text = report.read_text()
    done = {v: json.load(open(str(runs / (v + '_s0') / 'metrics.json'))) for v in ('pggan', 'stylegan')}
    for i, phase in enumerate(done['pggan']['phases']):   # 32 px: 7 phases of one iteration each
        assert '| {} {} | {} | {:.0f} / {:.2f} / {} | {:.0f} / '.format(
            i, 'stable' if i % 2 == 0 else 'fade-in', 4 * 2 ** ((i + 1) // 2), phase['fid'],
            phase['inception_score'], phase['classes_captured'], done['stylegan']['phases'][i]['fid']) in text
    assert len(done['pggan']['phases']) == 7 and '| PGGAN, lr 1e-3 (the paper) | 1 | 1 | {:.0f} |'.format(
        done['pggan']['phases'][-1]['fid']) in text
    stopped = runs / 'stylegan_s0'
    os.remove(str(stopped / 'metrics.json'))
    for n in (5, 6, 7):
        os.remove(str(stopped / 'snapshot_iter_{}'.format(n)))
    assert progressive_benchmark.main(argv + ['--no-run']) == 0
    text = report.read_text()
    scored = [p for p in done['stylegan']['phases'] if p['iteration'] <= 4]
    assert len(scored) == 4 and '| StyleGAN, lr 1e-3 (the paper) | 1 | 0 | {:.0f} (stopped) | – | – | 4 |'.format(
        scored[-1]['fid']) in text
    assert '| 4 stable | 16 | {:.0f} / {:.2f} / {} | – |'.format(
        done['pggan']['phases'][4]['fid'], done['pggan']['phases'][4]['inception_score'],
        done['pggan']['phases'][4]['classes_captured']) in text
    record = json.load(open(str(tmp_path / 'prog_runs.json')))
    assert record['stylegan_s0']['finished'] is False and record['pggan_s0']['finished'] is True


def test_progressive_benchmark_stops_a_run_at_its_time_limit(tmp_path):
    """--time-limit: the run's process is killed when the limit passes, and the status line says so."""
    import time
    from benchmarks.common import run_one
    start = time.time()
    name, status = run_one(('slow', [sys.executable, '-c', 'import time; time.sleep(60)'], str(tmp_path / 'slow')), 1)
    assert status == 'stopped at the 1s limit' and time.time() - start < 30


def test_tabulating_nothing_leaves_the_published_report_as_it_is(tmp_path):
    """--no-run / --summarize-only with no finished run (a fresh clone has no run folders): one line, exit 2, and
    the report and its _runs.json keep their bytes instead of being rewritten with an empty table."""
    from tests.test_anime import run_cli
    data = make_tiny_mnist(str(tmp_path / 'data'))
    for script, flag in (('benchmarks/mog_benchmark.py', '--no-run'), ('benchmarks/post_mog_benchmark.py', '--no-run'),
                         ('benchmarks/pacgan_benchmark.py', '--summarize-only'),
                         ('benchmarks/mnist_ssl_benchmark.py', '--no-run')):
        report = tmp_path / (os.path.basename(script)[:-3] + '.md')
        report.write_text('# published\n| a | table |\n')
        runs_json = tmp_path / (os.path.basename(script)[:-3] + '_runs.json')
        runs_json.write_text('{}\n')
        extra = ['--data-dir', data] if 'ssl' in script else []
        files = sorted(os.listdir(str(tmp_path)))
        proc = run_cli(script, *(extra + [flag, '--runs-dir', str(tmp_path / 'empty'), '--report', str(report)]))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and 'no finished runs under' in lines[0], (script, proc.stderr)
        assert report.read_text() == '# published\n| a | table |\n' and runs_json.read_text() == '{}\n', script
        assert sorted(os.listdir(str(tmp_path))) == files, script  # no figure written either


def test_gpu_check_dry_run_on_the_cpu(tmp_path, capsys, monkeypatch):
    """benchmarks/gpu_check.py in its CPU dry-run form: the scripts run, resume is bit-exact, evaluate.py and
    analogy.py read the runs, the report has a row per workload (on a GPU machine: --device @cupy:0); the
    scratch folders it builds the updaters with are removed again (they piled up in /tmp before session 39)."""
    import tempfile
    from benchmarks import gpu_check
    scratch = tmp_path / 'tmp'
    scratch.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(scratch))
    data = make_tiny_mnist(str(tmp_path / 'data'))
    report = str(tmp_path / 'gpu.md')
    argv = ['--data-dir', data, '--device', 'cpu', '--quick', '--iterations', '2', '--time-iterations', '2',
            '--only', 'mog-unrolled5', 'ssl-paper', 'dcgan64', 'stylegan64', 'conditional32',
            '--out', str(tmp_path / 'runs'), '--report', report]
    assert gpu_check.main(argv) == 0, capsys.readouterr().out
    text = open(report).read()
    for name in ('mog-unrolled5', 'ssl-paper', 'dcgan64', 'stylegan64', 'conditional32'):
        assert '| {} | ok | bit-exact |'.format(name) in text
    assert '| evaluate.py ssl-paper | ok |' in text and '| analogy.py dcgan64 | ok |' in text
    assert os.path.isfile(str(tmp_path / 'runs' / 'dcgan64' / 'samples' / 'epoch_0002.png'))
    assert not [f for f in os.listdir(str(scratch)) if f.startswith('gpu_check_build_')]
    capsys.readouterr()
    assert gpu_check.main(argv + ['--dry-run']) == 0
    out = capsys.readouterr().out
    assert out.count('\n') == 5 and 'train_anime.py' in out and '--device cpu' in out
    assert 'train_progressive.py' in out and 'train_conditional.py' in out


def test_gpu_check_detects_a_resume_that_is_not_exact():
    """same_state is what the resume column rests on: it must name the first differing key."""
    import numpy
    from benchmarks.gpu_check import same_state
    a = {'updater/model:gen/W': numpy.zeros(3), 'updater/z_rng/counter': numpy.array(4)}
    b = dict(a, **{'updater/z_rng/counter': numpy.array(5)})
    assert same_state(a, dict(a)) == '' and same_state(a, b) == 'updater/z_rng/counter'
    assert same_state(a, {'updater/model:gen/W': numpy.zeros(3)}).startswith('keys differ')


def test_speed_benchmark_without_pytorch(tmp_path):
    """benchmarks/speed.py measures this tree in its own process and writes the report; PyTorch is optional."""
    from benchmarks import speed
    data = make_tiny_mnist(str(tmp_path / 'data'))
    report = str(tmp_path / 'speed.md')
    assert speed.main(['--data-dir', data, '--only', 'mog-plain', '--updates', '2', '--rounds', '1',
                       '--report', report, '--no-extensions']) == 0
    text = open(report).read()
    assert 'Shares:' not in text  # one workload, no unrolling, no extension run: nothing to share out
    row = [line for line in text.splitlines() if line.startswith('| mog-plain |')][0]
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[1] == '–' and cells[4] == '–' and cells[6] == '≤ 1.5×'  # no baseline, no PyTorch column
    assert float(cells[2].split()[0]) > 0  # after: a real measurement
    from ganlib import machine
    assert 'Machine: {} ({} cores, '.format(machine.cpu_model(), os.cpu_count()) in text  # with its BLAS kernel
    runs = json.load(open(str(tmp_path / 'speed_runs.json')))
    assert runs['raw']['mog-plain']['after'][0]['median'] > 0
    core = (machine.openblas() or {}).get('core')
    if core:  # the worker says which kernel it ran, and the report names it
        assert runs['raw']['mog-plain']['after'][0]['blas'] == core
        assert 'OpenBLAS kernels the Chainer processes ran: after {}.'.format(core) in text


def test_speed_kernels_line_and_children_choose_their_own_kernel(monkeypatch):
    """Each column's kernels as its workers reported them; a worker's environment does not carry the kernel
    ganlib chose for the parent (an older checkout decides for itself), but keeps one the user set."""
    from benchmarks import speed
    from ganlib import blas_kernel
    raw = {'mog-plain': {'after': [dict(median=1, blas='Cooperlake')], 'before': [dict(median=2, blas='Prescott')],
                         'torch': [dict(median=1)]},
           'ssl-post': {'after': [dict(median=1, blas='Cooperlake')], 'before': [dict(error='x')], 'torch': []}}
    line = speed.kernels(raw, [('after', '.'), ('before', '/old')])
    assert line == ' OpenBLAS kernels the Chainer processes ran: after Cooperlake, before Prescott.'
    assert speed.kernels({'mog-plain': {'after': [dict(median=1)]}}, [('after', '.')]) == ''
    seen = []
    monkeypatch.setattr(speed.subprocess, 'run', lambda cmd, env, **kw: seen.append(env) or
                        type('P', (), dict(returncode=0, stdout='{"median": 1}', stderr=''))())
    monkeypatch.setenv('OPENBLAS_CORETYPE', 'Haswell')
    monkeypatch.setenv(blas_kernel.MARKER, 'Haswell')
    assert speed.measure(['x']) == {'median': 1}
    assert 'OPENBLAS_CORETYPE' not in seen[-1] and blas_kernel.MARKER not in seen[-1]
    assert seen[-1]['OPENBLAS_NUM_THREADS'] == '1'
    monkeypatch.delenv(blas_kernel.MARKER)
    speed.measure(['x'])
    assert seen[-1]['OPENBLAS_CORETYPE'] == 'Haswell'


def test_speed_benchmark_shares(tmp_path, monkeypatch):
    """The report's shares: WeightCache's part of an unrolled update (none without unrolling), the part of a real
    train_mog.py run outside its updates, and the unrolled/plain ratio per column."""
    import sys
    from chainer.training import updaters
    from benchmarks import speed
    from ganlib.unrolled import WeightCache
    for owner, name in ((WeightCache, 'save'), (WeightCache, 'restore'), (updaters.StandardUpdater, 'update')):
        monkeypatch.setattr(owner, name, getattr(owner, name))  # undone after the test: the workers wrap them
    monkeypatch.setattr(sys, 'path', list(sys.path))
    monkeypatch.chdir(str(tmp_path))
    out = str(tmp_path / 'never')
    unrolled = speed.chainer_worker(speed.ROOT, 'train_mog.py', ['--unroll', '5', '--quiet', '--out', out], 3, 1)
    plain = speed.chainer_worker(speed.ROOT, 'train_mog.py', ['--unroll', '0', '--quiet', '--out', out], 3, 1)
    assert 0 < unrolled['cache_share'] < 1 and 'cache_share' not in plain
    monkeypatch.setattr(speed, 'EXTENSION_RUN', ['--unroll', '0', '--epochs', '2', '--iterations-per-epoch', '20'])
    ext = speed.extension_worker(speed.ROOT, str(tmp_path / 'run'))
    assert 0 < ext['update_s'] < ext['wall_s'] and ext['extension_share'] == 1 - ext['update_s'] / ext['wall_s']
    assert os.path.isfile(str(tmp_path / 'run' / 'metrics.json'))
    summary = {'mog-plain': dict(after=dict(median=2.0), torch=dict(median=1.0)),
               'mog-unrolled5': dict(after=dict(median=7.0), torch=dict(median=4.0))}
    raw = {'mog-unrolled5': {'after': [unrolled]}, 'extensions': {'after': [ext]}}
    text = '\n'.join(speed.shares(raw, summary))
    assert 'this tree 3.50×, PyTorch 4.00×' in text
    assert '{:.1f} %'.format(unrolled['cache_share'] * 100) in text
    assert '{:.1f} %'.format(ext['extension_share'] * 100) in text


def test_pacgan_benchmark_tiny_and_an_interrupted_run_resumes(tmp_path):
    from benchmarks import pacgan_benchmark
    report = str(tmp_path / 'results' / 'pacgan.md')
    runs = tmp_path / 'runs'
    argv = ['--runs', 'ring:1', 'grid:2', '--seeds', '0', '1', '--epochs', '2', '--iterations-per-epoch', '3',
            '--runs-dir', str(runs), '--report', report]
    pacgan_benchmark.main(argv)
    text = open(report).read()
    assert '| ring | GAN | ' in text and '| grid | PacGAN2 | ' in text
    assert '6.3 ± 0.5 / 98.2 ± 0.2 % / 0.45 ± 0.09' in text and '23.8 ± 0.7 / 91.3 ± 0.8 % / 0.13 ± 0.04' in text
    for name in ('pacgan_curves.png', 'pacgan_ring.png', 'pacgan_grid.png', 'pacgan_runs.json'):
        assert os.path.isfile(str(tmp_path / 'results' / name)), name
    m = json.load(open(str(runs / 'grid_pack2_s1' / 'metrics.json')))
    assert m['config']['pack'] == 2 and m['config']['preset'] == 'pacgan' and m['iterations'] == 6
    # an interrupted run (no metrics.json, last snapshot at iteration 3) continues from its snapshot
    os.remove(str(runs / 'ring_pack1_s0' / 'metrics.json'))
    os.remove(str(runs / 'ring_pack1_s0' / 'snapshot_iter_6'))
    pacgan_benchmark.main(argv)
    m = json.load(open(str(runs / 'ring_pack1_s0' / 'metrics.json')))
    assert m['iterations'] == 6 and m['resumed_from'].endswith('snapshot_iter_3')


def test_batched_seeds_prototype_keeps_each_seed_its_own(capsys):
    import numpy
    from benchmarks import batched_seeds
    net = batched_seeds.SeedBatchedMLP((4, 5, 2), 3, numpy.random.RandomState(0))
    x = numpy.random.RandomState(1).randn(3, 6, 4).astype(numpy.float32)
    out = net(x).array
    for s in range(3):  # seed s sees only its own weights
        h = numpy.maximum(x[s] @ net.W0.array[s] + net.b0.array[s], 0)
        numpy.testing.assert_allclose(out[s], h @ net.W1.array[s] + net.b1.array[s], rtol=1e-5, atol=1e-6)
    single, rows = batched_seeds.main(['--seeds', '2', '--updates', '2', '--repeats', '1'])
    assert single[0] > 0 and rows[0][0] == 2 and '| 2 |' in capsys.readouterr().out


def test_post_mog_benchmark_tiny_and_an_interrupted_run_resumes(tmp_path):
    from benchmarks import post_mog_benchmark
    report = str(tmp_path / 'results' / 'post.md')
    runs = tmp_path / 'runs'
    argv = ['--variants', 'ring_z16', 'double_ring_z256', '--seeds', '0', '--epochs', '2',
            '--iterations-per-epoch', '3', '--snapshot-every', '1', '--runs-dir', str(runs), '--report', report]
    post_mog_benchmark.main(argv)
    text = open(report).read()
    assert '| ring_z16 | GAN (K=1) | ' in text and '| double_ring_z256 | unrolled K=5 | ' in text
    assert ' / 10 |' in text  # the double ring has 10 modes
    for name in ('post_ring_z16.png', 'post_double_ring_z256.png', 'post_runs.json'):
        assert os.path.isfile(str(tmp_path / 'results' / name)), name
    m = json.load(open(str(runs / 'ring_z16_unrolled5_s0' / 'metrics.json')))
    assert m['config']['preset'] == 'unrolled-post' and m['config']['z_dim'] == 16 and m['iterations'] == 6
    assert m['config']['unroll'] == 5 and m['config']['std'] == 0.2
    m = json.load(open(str(runs / 'double_ring_z256_gan_s0' / 'metrics.json')))
    assert m['config']['dataset'] == 'double_ring' and m['config']['unroll'] == 1
    # an interrupted run (no metrics.json, last snapshot at iteration 3) continues from its snapshot
    before = os.path.getmtime(str(runs / 'double_ring_z256_gan_s0' / 'metrics.json'))
    os.remove(str(runs / 'ring_z16_gan_s0' / 'metrics.json'))
    os.remove(str(runs / 'ring_z16_gan_s0' / 'snapshot_iter_6'))
    post_mog_benchmark.main(argv)
    m = json.load(open(str(runs / 'ring_z16_gan_s0' / 'metrics.json')))
    assert m['iterations'] == 6 and m['resumed_from'].endswith('snapshot_iter_3')
    assert os.path.getmtime(str(runs / 'double_ring_z256_gan_s0' / 'metrics.json')) == before  # reused


def test_post_mog_benchmark_first_full_epoch_reads_the_trainer_log(tmp_path):
    from benchmarks.post_mog_benchmark import first_full_epoch, history
    log = [{'epoch': 1, 'iteration': 5, 'dis/loss': 1.0},
           {'epoch': 1, 'iteration': 5, 'eval/modes': 3.0, 'eval/hq': 0.5},
           {'epoch': 2, 'iteration': 10, 'eval/modes': 8.0, 'eval/hq': 0.9},
           {'epoch': 3, 'iteration': 15, 'eval/modes': 7.0, 'eval/hq': 0.9}]
    with open(str(tmp_path / 'log'), 'w') as f:
        json.dump(log, f)
    h = history(str(tmp_path))
    assert h == [(1, 3, 0.5), (2, 8, 0.9), (3, 7, 0.9)]
    assert first_full_epoch(h, 8) == 2 and first_full_epoch(h, 10) is None
    assert history(str(tmp_path / 'missing')) == []


def test_post_mog_and_ssl_benchmarks_refuse_bad_flags_in_one_line(tmp_path):
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = tmp_path / 'runs'
    for script, args in (('post_mog_benchmark.py', ['--variants', 'nope']),
                         ('post_mog_benchmark.py', ['--seeds', '-1']),
                         ('mnist_ssl_benchmark.py', ['--max-unlabeled', '0']),
                         ('mnist_ssl_benchmark.py', ['--lr-schedule', '0:0']),
                         ('mnist_ssl_benchmark.py', ['--data-dir', str(tmp_path / 'missing')])):
        proc = subprocess.run([sys.executable, os.path.join(root, 'benchmarks', script)] + args +
                              ['--runs-dir', str(runs)], capture_output=True, text=True)
        assert proc.returncode == 2, (script, args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and 'error' in lines[0] and 'Traceback' not in proc.stderr, proc.stderr
        assert not runs.exists()  # nothing written


def test_same_as_baseline_finds_equal_runs_and_a_changed_array(tmp_path, capsys):
    import subprocess
    import sys
    import numpy
    from benchmarks import same_as_baseline as sab
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    data = make_tiny_mnist(str(tmp_path / 'data'))
    # this tree against itself: the same snapshots
    assert sab.main(['--baseline-root', root, '--data-dir', data, '--only', 'mog-plain']) == 0
    assert 'mog-plain: bit-exact (' in capsys.readouterr().out
    # a changed array is named; the log, the saved configuration and the elapsed time are not compared
    a, b = str(tmp_path / 'a.npz'), str(tmp_path / 'b.npz')
    numpy.savez(a, w=numpy.ones(3), _snapshot_elapsed_time=1.0, **{'extensions/LogReport/_log': numpy.array('x')})
    numpy.savez(b, w=numpy.array([1.0, 1.0, 1.0 + 1e-15]), _snapshot_elapsed_time=2.0,
                **{'extensions/LogReport/_log': numpy.array('y')})
    assert sab.differences(a, b) == ['w'] and sab.differences(a, a) == []
    # bad input: one line, exit 2
    proc = subprocess.run([sys.executable, os.path.join(root, 'benchmarks', 'same_as_baseline.py'), '--baseline-root',
                           str(tmp_path), '--data-dir', data], stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2 and 'not a checkout of this repository' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_same_as_baseline_compares_two_finished_runs(tmp_path, capsys):
    import json
    import subprocess
    import sys
    import numpy
    from benchmarks import same_as_baseline as sab

    def run(name, w, loss, elapsed):
        out = tmp_path / name
        out.mkdir()
        for it in (5, 10):  # the last snapshot is compared
            with open(out / 'snapshot_iter_{}'.format(it), 'wb') as f:
                numpy.savez(f, w=numpy.asarray(w) * (it == 10), _snapshot_elapsed_time=elapsed)
        (out / 'log').write_text(json.dumps([{'iteration': 5, 'loss': 1.0, 'elapsed_time': elapsed},
                                             {'iteration': 10, 'loss': loss, 'elapsed_time': 2 * elapsed}]))
        return str(out)
    a = run('a', [1.0, 2.0], 0.5, 3.0)
    same = run('same', [1.0, 2.0], 0.5, 9.0)  # only the times differ
    other_w = run('other_w', [1.0, 2.0 + 1e-12], 0.5, 3.0)
    other_log = run('other_log', [1.0, 2.0], 0.5 + 1e-12, 3.0)
    assert sab.main(['--runs', a, same]) == 0
    assert 'bit-exact (1 arrays, snapshot_iter_10; 2 log entries)' in capsys.readouterr().out
    assert sab.main(['--runs', a, other_w]) == 1
    assert 'DIFFERS in 1 arrays: w' in capsys.readouterr().out
    assert sab.main(['--runs', a, other_log]) == 1
    assert 'logs differ from entry 2' in capsys.readouterr().out
    proc = subprocess.run([sys.executable, sab.__file__, '--runs', a, str(tmp_path)], stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2 and 'not a run folder' in proc.stderr and 'Traceback' not in proc.stderr
    proc = subprocess.run([sys.executable, sab.__file__, '--data-dir', str(tmp_path)], stderr=subprocess.PIPE,
                          text=True)
    assert proc.returncode == 2 and '--baseline-root is required' in proc.stderr and 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_equal_cost_compares_runs_at_equal_compute(tmp_path, capsys):
    """Compute = iteration × ms per update in units of the first curve's update; FIDs read at each curve's mean
    final compute, and the first compute below its mean final FID (numbers worked out by hand below)."""
    from benchmarks import equal_cost
    a = {'a': [dict(seed=0, at_iteration=[10, 20, 30], fid=[100, 50, 30]),
               dict(seed=1, at_iteration=[10, 20, 30], fid=[100, 60, 40])]}
    b = {'b': [dict(seed=5, at_iteration=[10, 20, 30, 40], fid=[200, 80, 35, 20])]}
    (tmp_path / 'a_runs.json').write_text(json.dumps(a))
    (tmp_path / 'b_runs.json').write_text(json.dumps(b))
    curves = equal_cost.load_curves([(str(tmp_path / 'a_runs.json'), 'a', '2'),
                                     (str(tmp_path / 'b_runs.json'), 'b', '4')])
    # b's updates cost twice a's: its epochs sit at compute 20, 40, 60, 80 in a's updates
    budget, target, rows = equal_cost.comparison(curves, 0)
    assert (budget, target) == (30, 35)
    assert [(r['seed'], r['final_compute'], r['fid_at_budget'], r['epoch_at_budget'], r['below_target_at'])
            for r in rows] == [(0, 30, 30, 3, 30), (1, 30, 40, 3, None), (5, 80, 200, 1, 80)]
    budget, target, rows = equal_cost.comparison(curves, 1)
    assert (budget, target) == (80, 20)
    # a's runs end at 30, before the budget: no FID there; nothing is below 20 (strictly)
    assert [(r['fid_at_budget'], r['below_target_at']) for r in rows] == [(None, None), (None, None), (20, None)]

    out = tmp_path / 'ec.png'
    equal_cost.main(['--curve', str(tmp_path / 'a_runs.json'), 'a', '2', '--curve', str(tmp_path / 'b_runs.json'),
                     'b', '4', '--out', str(out)])
    text = capsys.readouterr().out
    assert out.stat().st_size > 0
    assert '| b | 5 | 80 | 200.0 (1) | 80 |' in text and '| a | 0 | 30 | – (ended before it) | never |' in text


def test_equal_cost_bad_input_one_line(tmp_path):
    from tests.test_anime import run_cli
    (tmp_path / 'r_runs.json').write_text(json.dumps({'a': [dict(seed=0, at_iteration=[1], fid=[9])]}))
    runs, png = str(tmp_path / 'r_runs.json'), str(tmp_path / 'f.png')
    for argv, says in ((['--curve', runs, 'b', '1'], "no runs of 'b'"),
                       (['--curve', runs, 'a', '0'], 'the cost in ms per update'),
                       (['--curve', str(tmp_path / 'none.json'), 'a', '1'], 'cannot read a runs record'),
                       (['--curve', runs, 'a', '1', '--out', str(tmp_path / 'no' / 'f.png')], 'does not exist')):
        argv = argv + ([] if '--out' in argv else ['--out', png])
        proc = run_cli('benchmarks/equal_cost.py', *argv)
        assert proc.returncode == 2 and proc.stderr.count('\n') == 1 and says in proc.stderr, proc.stderr
        assert 'Traceback' not in proc.stderr and not os.path.exists(png)


@pytest.mark.parametrize('module', ['lsgan_mnist_benchmark', 'mnist_ssl_benchmark', 'mog_benchmark', 'pacgan_benchmark',
                                    'post_mog_benchmark', 'progressive_benchmark', 'stacked_mnist_benchmark'])
def test_benchmark_negative_seed_is_one_line_before_any_run(module, tmp_path, capsys):
    """--seeds -1 (accepted by three benchmarks before, then failing inside each run): one line, exit 2, no report."""
    import importlib
    report = str(tmp_path / 'r.md')
    with pytest.raises(SystemExit) as caught:
        importlib.import_module('benchmarks.' + module).main(['--seeds', '-1', '--report', report])
    lines = capsys.readouterr().err.strip().splitlines()
    assert caught.value.code == 2 and len(lines) == 1 and '--seeds' in lines[0], lines
    assert not os.listdir(str(tmp_path))


@pytest.mark.parametrize('flags, said', [
    (['--data-dir', '/nonexistent/mnist'], '--data-dir: no such folder'),
    (['--baseline-root', '/nonexistent/checkout'], '--baseline-root: no such folder'),
    (['--torch-python', '/nonexistent/python'], '--torch-python: not an executable'),
    (['--rounds', '0'], 'expected a positive integer'),
])
def test_speed_bad_input_is_one_line(tmp_path, flags, said):
    """speed.py: a missing data folder or baseline checkout, a Python that is not there, a bad count: one line on
    stderr, exit 2, before anything is measured; no report is written."""
    from tests.test_anime import run_cli
    data = make_tiny_mnist(str(tmp_path / 'data'))
    argv = ['--data-dir', data, '--report', str(tmp_path / 'speed.md')]
    out = run_cli('benchmarks/speed.py', *(argv + flags))
    assert out.returncode == 2 and said in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert 'Traceback' not in out.stderr and not os.path.exists(str(tmp_path / 'speed.md'))
