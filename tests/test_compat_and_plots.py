"""The compatibility shim, the figure helpers and plot_mog.py."""
import json
import os
import subprocess
import sys

import chainer.functions as F
import numpy
import pytest

import plot_mog
from ganlib import compat
from ganlib.extensions import sample_epochs
from ganlib.plots import pick_epochs, plot_kde_rows
from tests.conftest import ROOT


def test_chainer_imports_and_resize_images_works():
    y = F.resize_images(numpy.ones((1, 1, 4, 4), numpy.float32), (8, 8))
    assert y.shape == (1, 1, 8, 8)
    assert hasattr(numpy, 'sctypes') and numpy.float is float
    patches = compat.apply()
    assert 'numpy.float' in patches  # removed in NumPy 1.24: both tested stacks need it
    assert ('numpy.sctypes' in patches) == (int(numpy.__version__.split('.')[0]) >= 2)  # removed in NumPy 2 only
    assert compat.apply() == patches  # idempotent


def test_gpu_stack_import_warnings_are_silenced_and_others_are_not():
    """CuPy 14 (no cuDNN) and setuptools >= 81 warn at every import: one-line errors must stay one line."""
    code = ('import warnings, ganlib.compat; '
            'warnings.warn("cuDNN is not enabled.\\nPlease reinstall CuPy", UserWarning); '
            'warnings.warn("pkg_resources is deprecated as an API.", UserWarning); '
            'warnings.warn("pkg_resources is deprecated as an API.", DeprecationWarning); '
            'warnings.warn("an unrelated warning", UserWarning)')
    err = subprocess.run([sys.executable, '-W', 'default', '-c', code], cwd=ROOT, stderr=subprocess.PIPE,
                         text=True).stderr
    assert 'an unrelated warning' in err and 'cuDNN' not in err and 'pkg_resources' not in err, err



def test_every_source_compiles_without_warnings():
    """An invalid escape such as ``"\\ "`` in a docstring is only a DeprecationWarning on Python 3.11 but a
    SyntaxWarning printed on 3.12, the first time a module is compiled: one line too many on a script's stderr."""
    import glob
    import warnings
    sources = [p for d in ('', 'ganlib', 'models', 'benchmarks', 'tests')
               for p in glob.glob(os.path.join(ROOT, d, '*.py'))]
    assert len(sources) > 40
    for path in sources:
        with open(path, encoding='utf-8') as f:
            text = f.read()
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            compile(text, path, 'exec')


def test_stand_ins_do_not_leak_into_sys_modules():
    code = ('import sys, ganlib.compat, chainer; '
            'm = sys.modules.get("pkg_resources"); '
            'print(hasattr(m, "__file__") if m else "absent", '
            '"numpy.distutils" in sys.modules and not hasattr(sys.modules["numpy.distutils"], "__file__"))')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, stdout=subprocess.PIPE, text=True).stdout.split()
    assert out[0] in ('True', 'absent')  # a real pkg_resources (has a file) or none: never the stand-in
    assert out[1] == 'False'  # no stub numpy.distutils left behind


def test_kde_figure_rows(tmp_path):
    rng = numpy.random.RandomState(0)
    rows = [('a', [('e0', rng.randn(500, 2)), ('e1', rng.randn(500, 2) * 0.1)]),
            ('b', [('e0', numpy.zeros((50, 2)))])]  # degenerate KDE must not crash
    path = plot_kde_rows(rows, str(tmp_path / 'f.png'), extent=4.0, means=numpy.zeros((1, 2)))
    assert os.path.getsize(path) > 1000
    with pytest.raises(ValueError):
        plot_kde_rows([], str(tmp_path / 'g.png'))


def test_kde_panel_says_how_many_samples_it_cannot_show():
    """A panel whose samples lie partly outside its window (or are not finite) says what fraction it leaves out, so
    a KDE of the few samples inside is not read as the whole distribution; under 1 % it stays silent."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from ganlib.plots import kde_panel
    rng = numpy.random.RandomState(0)
    inside = rng.randn(700, 2) * 0.1
    far = numpy.full((250, 2), 20.0)  # outside a window of extent 4
    nan = numpy.full((50, 2), numpy.nan)
    fig, axes = plt.subplots(1, 5)
    try:
        assert kde_panel(axes[0], numpy.concatenate([inside, far, nan]), 4.0) == pytest.approx(0.3)
        assert [t.get_text() for t in axes[0].texts] == ['30 % outside']
        few = numpy.concatenate([rng.randn(995, 2) * 0.1, numpy.full((5, 2), -9.0)])
        assert kde_panel(axes[1], few, 4.0) == pytest.approx(0.005)
        assert len(axes[1].texts) == 0
        assert kde_panel(axes[2], inside, 4.0) == 0.0
        assert len(axes[2].texts) == 0
        kde_panel(axes[3], numpy.concatenate([inside[:3], numpy.full((997, 2), 9.0)]), 4.0)  # 99.7 % outside
        assert [t.get_text() for t in axes[3].texts] == ['> 99 % outside']
        kde_panel(axes[4], far, 4.0)
        assert [t.get_text() for t in axes[4].texts] == ['100 % outside']
    finally:
        plt.close(fig)


def test_kde_figure_titles_every_row_whose_epochs_differ(tmp_path, monkeypatch):
    """Rows of as many panels but other epochs (a run stopped early, another --epochs) get their own titles; rows
    with the same epochs share the top row's."""
    import matplotlib.axes
    titles = []
    monkeypatch.setattr(matplotlib.axes.Axes, 'set_title', lambda ax, text, **kw: titles.append(text))
    rng = numpy.random.RandomState(1)

    def row(label, epochs):
        return label, [('epoch {}'.format(e), rng.randn(200, 2)) for e in epochs]
    plot_kde_rows([row('a', [0, 50, 100]), row('b', [0, 50, 100])], str(tmp_path / 'same.png'))
    assert titles == ['epoch 0', 'epoch 50', 'epoch 100']
    del titles[:]
    plot_kde_rows([row('a', [0, 50, 100]), row('b', [0, 10, 25])], str(tmp_path / 'other.png'))
    assert titles == ['epoch 0', 'epoch 50', 'epoch 100', 'epoch 0', 'epoch 10', 'epoch 25']


def test_epoch_schedules():
    assert sample_epochs(20, 5) == [1, 5, 10, 15, 20]
    assert sample_epochs(3, 5) == [1, 3]
    assert pick_epochs(list(range(41)), 8)[0] == 0 and pick_epochs(list(range(41)), 8)[-1] == 40
    assert len(pick_epochs(list(range(41)), 8)) == 8


def test_plot_mog_combines_runs_and_rejects_empty_dirs(tmp_path, capsys):
    for name in ('r1', 'r2'):
        os.makedirs(str(tmp_path / name / 'samples'))
        for e in (0, 1):
            numpy.save(str(tmp_path / name / 'samples' / 'epoch_{:04d}.npy'.format(e)),
                       numpy.random.RandomState(e).randn(100, 2).astype(numpy.float32))
    out = str(tmp_path / 'cmp.png')
    plot_mog.main([str(tmp_path / 'r1'), str(tmp_path / 'r2'), '--labels', 'x', 'y', '-o', out])
    assert os.path.isfile(out)
    os.makedirs(str(tmp_path / 'empty'))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'plot_mog.py'), str(tmp_path / 'empty')],
                          stderr=subprocess.PIPE, text=True, cwd=str(tmp_path))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and 'no samples' in proc.stderr


def test_plot_curves(tmp_path):
    import json

    import plot_curves
    for name, acc in (('k1', [0.5, 0.7]), ('k5', [0.4, 0.8])):
        os.makedirs(str(tmp_path / name))
        json.dump([{'iteration': 10 * (i + 1), 'validation/accuracy': a} for i, a in enumerate(acc)],
                  open(str(tmp_path / name / 'log'), 'w'))
    out = str(tmp_path / 'acc.png')
    plot_curves.main([str(tmp_path / 'k1'), str(tmp_path / 'k5'), '-o', out])
    assert os.path.getsize(out) > 1000
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'plot_curves.py'), str(tmp_path)],
                          stderr=subprocess.PIPE, text=True, cwd=str(tmp_path))
    assert proc.returncode == 2 and 'no Chainer log' in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_kde_rows_carry_the_runs_settings(tmp_path, monkeypatch):
    """plot_mog.py, the benchmarks' KDE figures and train_mog.py's own kde.png label a row with what defines the
    run: preset, loss, K, z, the σ drawn (σ² with the std bug), lr, D and the length."""
    import train_mog
    from benchmarks.common import kde_figure
    run = str(tmp_path / 'run')
    train_mog.main(['--preset', 'lsgan-post', '--original-std-bug', '--epochs', '1', '--iterations-per-epoch', '2',
                    '--quiet', '--out', run])
    drawn = []
    monkeypatch.setattr(plot_mog, 'plot_kde_rows', lambda rows, *a, **k: drawn.append([r[0] for r in rows]))
    plot_mog.main([run, '--labels', 'LSGAN', '-o', str(tmp_path / 'x.png')])
    plot_mog.main([run, '-o', str(tmp_path / 'y.png')])
    assert drawn[0] == ['LSGAN\nlsgan-post: lsgan K=0 z=256\nσ=0.04 (std bug) lr=0.0001 D 128,128\n2 iterations']
    assert drawn[1] == [drawn[0][0].split('\n', 1)[1]]  # no name given: the settings alone
    import ganlib.plots
    monkeypatch.setattr(ganlib.plots, 'plot_kde_rows', lambda rows, *a, **k: drawn.append([r[0] for r in rows]))
    kde_figure([('LSGAN', run)], str(tmp_path / 'z.png'))
    assert drawn[2] == drawn[0]
    from ganlib.plots import mog_run_label
    cfg = dict(preset='auto', loss='gan', unroll=5, pack=2, z_dim=16, std=0.2, lr=1e-3, epochs=200,
               iterations_per_epoch=500)
    assert mog_run_label(cfg) == 'gan K=5 pack=2 z=16\nσ=0.2 lr=0.001\n100,000 iterations'


def _curve_trainer(out, epochs, extensions_, run=True):
    """A 4-iteration-per-epoch trainer whose loss reports a different value every iteration."""
    import chainer
    import chainer.links as L
    from chainer import training

    link = L.Linear(1, 1, initialW=0.5, initial_bias=0.0)
    opt = chainer.optimizers.SGD(0.1)
    opt.setup(link)
    data = numpy.linspace(-1, 1, 8, dtype=numpy.float32).reshape(8, 1)

    def loss(x):
        y = F.sum(link(x) ** 2)
        chainer.report({'a/loss': y, 'b/loss': 2 * y + 1})
        return y

    it = chainer.iterators.SerialIterator(data, 2, shuffle=False)
    trainer = training.Trainer(training.updaters.StandardUpdater(it, opt, loss_func=loss), (epochs, 'epoch'),
                               out=str(out))
    for e in extensions_:
        trainer.extend(e)
    if run:
        trainer.run()
    return trainer


@pytest.mark.parametrize('x_key', ['epoch', 'iteration'])
def test_curve_plot_records_what_plot_report_records_and_draws_less_often(tmp_path, x_key):
    from chainer import serializers
    from chainer.training import extensions
    from ganlib.extensions import CurvePlot

    keys = ['a/loss', 'b/loss']
    stock = extensions.PlotReport(keys, x_key, file_name='stock.png')
    curve = CurvePlot(keys, x_key, draw_every=3, file_name='curve.png')
    drawn = []
    draw = curve.draw
    curve.draw = lambda: (drawn.append(len(curve._data['a/loss'])), draw())
    _curve_trainer(tmp_path, 7, [stock, curve])
    assert drawn == [3, 6, 7]  # every 3rd point, then the last at the end
    assert (tmp_path / 'curve.png').stat().st_size > 0
    saved = {}
    for name, ext in (('stock', stock), ('curve', curve)):
        s = serializers.DictionarySerializer()
        ext.serialize(s)
        saved[name] = s.target['_plot_{}.png'.format(name)]
    assert saved['curve'] == saved['stock']  # the same points, bit for bit, as snapshots store them
    assert len(stock._data['a/loss']) == 7 and stock._data['a/loss'][0][1] != stock._data['a/loss'][1][1]


def test_curve_plot_does_not_redraw_when_the_last_point_was_drawn(tmp_path):
    from ganlib.extensions import CurvePlot

    curve = CurvePlot(['a/loss'], 'epoch', draw_every=2, file_name='curve.png')
    drawn = []
    draw = curve.draw
    curve.draw = lambda: (drawn.append(len(curve._data['a/loss'])), draw())
    _curve_trainer(tmp_path, 4, [curve])
    assert drawn == [2, 4]


def test_snapshots_taken_with_plot_report_resume_with_curve_plot_and_back(tmp_path):
    from chainer import serializers
    from chainer.training import extensions
    from ganlib.extensions import CurvePlot

    for make_old, make_new in ((extensions.PlotReport, CurvePlot), (CurvePlot, extensions.PlotReport)):
        old = make_old(['a/loss'], 'epoch', file_name='a.png')
        snapshot = str(tmp_path / 'snapshot')
        serializers.save_npz(snapshot, _curve_trainer(tmp_path, 3, [old]))
        new = make_new(['a/loss'], 'epoch', file_name='a.png')
        serializers.load_npz(snapshot, _curve_trainer(tmp_path, 3, [new], run=False))
        assert new._data == json.loads(json.dumps(old._data)) and len(new._data['a/loss']) == 3  # JSON in snapshots
