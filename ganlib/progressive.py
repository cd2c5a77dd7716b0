"""Progressive growing's training schedule and updater (Karras et al. 2018, §3 and App. A.1).

Training is a sequence of phases of ``phase_images`` real images each: stage 0 (4 × 4) stabilises; then each
stage s ≥ 1 first fades in (α rising linearly from 0 to 1 over the phase) and then stabilises (α = 1); after the
last stage's phases, training stays at the full resolution.  The stage and α are a function of the number of
images shown so far, i.e. of the iteration — so a run resumed in the middle of a fade-in continues exactly.
"""
import ganlib.compat  # noqa: F401

from chainer import reporter

from ganlib.updaters import GANUpdater
from models.progressive import downsample, resize_to, upsample


def schedule(images, phase_images, top):
    """(stage, alpha, phase) after ``images`` real images, with phases of ``phase_images`` images and stages
    0 … ``top``.  Phase 0 is stage 0; phases 2s − 1 (fade-in) and 2s (stabilise) are stage s."""
    if phase_images <= 0:
        raise ValueError('phase_images must be positive, got {}'.format(phase_images))
    t = images / float(phase_images)
    phase = int(t)
    if phase == 0:
        return 0, 1.0, 0
    stage = (phase + 1) // 2
    if stage > top:
        return top, 1.0, min(phase, 2 * top)
    alpha = t - phase if phase % 2 == 1 else 1.0
    return stage, alpha, phase


def n_phases(top):
    """Phases until the last stage has faded in and stabilised once: 2 · top + 1."""
    return 2 * top + 1


class ProgressiveUpdater(GANUpdater):
    """``GANUpdater`` whose networks grow: before every iteration G and D get the (stage, α) of the images
    shown so far (``batch_size`` per iteration), and real batches are average-pooled to the current resolution.
    While a stage fades in, the real images are faded too — (1 − α) · upsample(downsample(x)) + α · x at the new
    resolution (the paper's code), so D sees real and fake images made the same way."""

    def __init__(self, *args, phase_images=600000, batch_size=16, **kwargs):
        super().__init__(*args, **kwargs)
        self.phase_images = int(phase_images)
        self.images_per_iteration = int(batch_size)
        gen = self.get_optimizer('gen').target
        self.top = gen.top
        self.stage, self.alpha, self.phase = schedule(0, self.phase_images, self.top)

    def current(self):
        """(stage, alpha, phase) for the next iteration."""
        return schedule(self.iteration * self.images_per_iteration, self.phase_images, self.top)

    def next_real(self):
        x = super().next_real()
        x = resize_to(x, 4 * 2 ** self.stage)
        if self.stage > 0 and self.alpha < 1.0:
            x = (1.0 - self.alpha) * upsample(downsample(x)) + self.alpha * x
        return x.array if hasattr(x, 'array') else x

    def update_core(self):
        self.stage, self.alpha, self.phase = self.current()
        for name in ('gen', 'dis'):
            self.get_optimizer(name).target.set_stage(self.stage, self.alpha)
        super().update_core()
        reporter.report({'stage': self.stage, 'alpha': self.alpha})
