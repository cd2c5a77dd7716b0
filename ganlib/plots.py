"""Figures: scatter + shaded bivariate KDE of generated 2-D points, one row per run (the unrolled post's
GAN vs unrolled-GAN figure)."""
import glob
import os
import re

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402
from scipy import stats  # noqa: E402


def load_sample_history(run_dir):
    """[(epoch, samples)] from ``<run_dir>/samples/epoch_XXXX.npy``, sorted by epoch."""
    out = []
    for path in glob.glob(os.path.join(run_dir, 'samples', 'epoch_*.npy')):
        epoch = int(re.search(r'epoch_(\d+)\.npy$', path).group(1))
        out.append((epoch, numpy.load(path)))
    return sorted(out, key=lambda t: t[0])


def kde_panel(ax, samples, extent, means=None, kde_points=2000, grid_size=100, seed=0):
    """Shaded Gaussian KDE (scipy.stats.gaussian_kde on a subsample) of the samples inside the panel, with the samples
    scattered on top. The shading is scaled to its own maximum, so a handful of samples inside would look like a
    whole distribution: when 1 % or more of the samples lie outside the panel (or are not finite), the panel says
    how many, and that fraction is returned."""
    samples = numpy.asarray(samples, dtype=numpy.float64)
    total = len(samples)
    samples = samples[numpy.all(numpy.isfinite(samples), axis=1)]
    inside = samples[numpy.all(numpy.abs(samples) <= extent, axis=1)]
    outside = 1.0 - len(inside) / total if total else 0.0
    if len(inside) > kde_points:
        inside = inside[numpy.random.RandomState(seed).choice(len(inside), kde_points, replace=False)]
    g = numpy.linspace(-extent, extent, grid_size)
    xx, yy = numpy.meshgrid(g, g)
    if len(inside) >= 3:
        try:
            density = stats.gaussian_kde(inside.T)(numpy.vstack([xx.ravel(), yy.ravel()])).reshape(xx.shape)
            levels = numpy.linspace(density.max() * 0.02, density.max(), 15)
            ax.contourf(xx, yy, density, levels=levels, cmap='Greens', extend='neither')
        except (numpy.linalg.LinAlgError, ValueError):  # all points (nearly) identical: singular covariance
            pass
    ax.scatter(samples[:, 0], samples[:, 1], s=0.2, c='navy', alpha=0.15, linewidths=0)
    if means is not None:
        ax.scatter(means[:, 0], means[:, 1], s=12, c='r', marker='x', linewidths=0.8)
    if outside >= 0.01:
        share = '> 99' if 0.99 < outside < 1 else '{:.0f}'.format(100 * outside)  # "100 %" only when none is inside
        ax.text(0.03, 0.03, share + ' % outside', transform=ax.transAxes, fontsize=6, color='dimgray', ha='left',
                va='bottom')
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect('equal')
    ax.set_xticks([])
    ax.set_yticks([])
    return outside


def mog_run_label(cfg, name=None):
    """A KDE row's label from a train_mog.py run's config (its args.json): the name given, then the settings that
    define the run — preset, loss, K, packing, z, the σ drawn (σ² with the original std bug), lr, D's hidden
    sizes and the length in generator iterations — over a few short lines."""
    bug = cfg.get('original_std_bug', False)
    std = cfg.get('std')
    lines = [name] if name else []
    lines.append('{}{} K={}{} z={}'.format('' if cfg.get('preset', 'auto') == 'auto' else cfg['preset'] + ': ',
                                         cfg.get('loss', '?'), cfg.get('unroll', '?'),
                                         ' pack={}'.format(cfg['pack']) if cfg.get('pack', 1) > 1 else '',
                                         cfg.get('z_dim', '?')))
    d_hidden = cfg.get('d_hidden')
    lines.append('σ={}{} lr={:g}{}'.format('?' if std is None else '{:g}'.format(std * std if bug else std),
                                         ' (std bug)' if bug else '', cfg.get('lr', float('nan')),
                                         ' D {}'.format(','.join(map(str, d_hidden))) if d_hidden else ''))
    if cfg.get('epochs') and cfg.get('iterations_per_epoch'):
        lines.append('{:,} iterations'.format(cfg['epochs'] * cfg['iterations_per_epoch']))
    return '\n'.join(lines)


def plot_kde_rows(rows, path, extent=4.0, means=None, panel_size=1.8):
    """``rows``: [(row label, [(panel title, samples), ...]), ...] → one PNG, a row per run."""
    if not rows or not any(panels for _, panels in rows):
        raise ValueError('nothing to plot: no samples')
    n_cols = max(len(panels) for _, panels in rows)
    shared_titles = len(set(tuple(title for title, _ in panels) for _, panels in rows)) == 1  # else title each row
    label_width = 0.8 if all('\n' not in label for label, _ in rows) else 2.2  # settings labels read across
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(panel_size * n_cols + label_width, panel_size * len(rows)),
                             squeeze=False)
    for r, (label, panels) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            if c >= len(panels):
                ax.axis('off')
                continue
            title, samples = panels[c]
            kde_panel(ax, samples, extent, means)
            if r == 0 or not shared_titles:
                ax.set_title(title, fontsize=8)
        if '\n' in label:
            axes[r][0].set_ylabel(label, fontsize=7, rotation=0, ha='right', va='center', labelpad=6)
        else:
            axes[r][0].set_ylabel(label, fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pick_epochs(epochs, max_panels=8):
    """At most ``max_panels`` epochs, evenly spread, always keeping the first and the last."""
    epochs = sorted(epochs)
    if len(epochs) <= max_panels:
        return epochs
    idx = numpy.unique(numpy.linspace(0, len(epochs) - 1, max_panels).round().astype(int))
    return [epochs[i] for i in idx]
