"""GAN update rules as ``StandardUpdater`` subclasses."""
import ganlib.compat  # noqa: F401

import chainer
import numpy
from chainer import reporter, training

from ganlib.losses import feature_matching_loss
from ganlib.regularizers import gradient_penalty, r1_penalty
from ganlib.rng import RandomStream
from ganlib.serialization import serialize_random_state
from ganlib.unrolled import WeightCache, substituted_params, unroll_discriminator

UNROLL_MODES = ('first-order', 'second-order')


def backward_to(loss, link):
    """``loss.backward()`` for ``link``'s parameters only: ``chainer.grad`` walks just the paths from them to
    ``loss``, so the other network's weight gradients (the generator step's discriminator gradients, cleared
    right after, or the unrolled steps' θ_D gradients in second order) are never computed.  Each parameter's
    gradient is the same backprop step's, on the same arrays, as ``loss.backward()`` would give; parameters
    ``loss`` does not depend on keep ``grad`` None."""
    params = list(link.params())
    chainer.grad([loss], params, set_grad=True)



class GANUpdater(training.updaters.StandardUpdater):
    """Alternating GAN update, optionally unrolled (Metz et al. 2017) and with feature matching.

    One call of ``update()`` (one iteration) is:

    1. for k = 1..max(K, 1): one D optimizer step on a fresh real batch and a fresh, detached fake batch;
       with K ≥ 2 (first order) θ_D (and the optimizer state) is cached after the first step;
    2. one G optimizer step against the current θ_D^(K) — the adversarial loss ``loss.g_loss`` or, with
       ``feature_matching``, Salimans et al.'s ‖E f(x) − E f(G(z))‖² on D's last hidden layer;
    3. with K ≥ 2, θ_D ← θ_D^(1): the discriminator ends after its first step (Metz et al. §2.2).

    Without unrolling, step 1 runs ``n_critic`` times (WGAN's n_critic, Arjovsky et al. Alg. 1); with
    ``gradient_penalty`` λ > 0 every discriminator loss gets WGAN-GP's λ E(‖∇D(x̂)‖ − 1)², or with ``r1`` γ > 0
    the R1 penalty γ/2 E‖∇D(x)‖² on the real batch (either reported as ``dis/gp``).  Optimizer hooks with a ``serialize(serializer, link)`` method (historical averaging)
    are saved with the updater.

    ``simultaneous=True`` is the ALI/PacGAN code's rule instead (Dumoulin et al. 2017's ``ali_algorithm``):
    one real batch, one fake batch G(z) with its graph, D's gradient of the D loss and G's gradient of the
    G loss both taken at the current (θ_G, θ_D), then both optimisers step — no D step before G's.

    K = 0 and K = 1 are the plain GAN in first order.  ``unroll_mode='second-order'`` back-propagates G's
    gradient through the K ≥ 1 steps (Eq. 12; at K = 1 that term is what distinguishes it from the plain GAN)
    instead of caching/restoring; the reported ``dis/loss`` is the first look-ahead step's (no extra forward).  ``restore_optimizer_state=False``
    caches parameters only, as the posts' original code did.

    ``iterations_per_epoch`` (optional) makes ``epoch`` count generator iterations (500 in the posts)
    whatever K is; without it an epoch is one pass of the iterator.
    """

    def __init__(self, iterator, gen_optimizer, dis_optimizer, loss, unroll_k=0,
                 unroll_mode='first-order', restore_optimizer_state=True, feature_matching=False,
                 seed=0, iterations_per_epoch=None, n_critic=1, gradient_penalty=0.0, converter=None, device=None,
                 shard=(0, 1), simultaneous=False, r1=0.0):
        if int(unroll_k) != unroll_k or unroll_k < 0:
            raise ValueError('unroll K must be an integer >= 0, got {}'.format(unroll_k))
        if int(n_critic) != n_critic or n_critic < 1:
            raise ValueError('n_critic must be an integer >= 1, got {}'.format(n_critic))
        if n_critic > 1 and unroll_k >= 2:
            raise ValueError('n_critic > 1 and unrolling (K >= 2) both set the discriminator steps; choose one')
        if gradient_penalty < 0:
            raise ValueError('gradient penalty weight must be >= 0, got {}'.format(gradient_penalty))
        if r1 < 0:
            raise ValueError('R1 weight must be >= 0, got {}'.format(r1))
        if gradient_penalty > 0 and r1 > 0:
            raise ValueError('choose one gradient penalty: WGAN-GP or R1')
        if (gradient_penalty > 0 or r1 > 0) and unroll_k >= 1 and unroll_mode == 'second-order':
            raise ValueError('the gradient penalty cannot be combined with second-order unrolling')
        if simultaneous and (unroll_k >= 2 or n_critic > 1 or (unroll_k >= 1 and unroll_mode == 'second-order')):
            raise ValueError('simultaneous updates take one D and one G step per iteration: not with unrolling '
                             'or n_critic > 1')
        if unroll_mode not in UNROLL_MODES:
            raise ValueError('unknown unroll mode {!r} (choose {})'.format(unroll_mode, ', '.join(UNROLL_MODES)))
        kw = {'device': device}
        if converter is not None:
            kw['converter'] = converter
        super().__init__(iterator, {'gen': gen_optimizer, 'dis': dis_optimizer}, **kw)
        self.loss = loss
        self.unroll_k = int(unroll_k)
        self.unroll_mode = unroll_mode
        self.feature_matching = feature_matching
        self.simultaneous = bool(simultaneous)
        self.iterations_per_epoch = iterations_per_epoch
        self.rng = RandomStream(seed)
        self.n_critic = int(n_critic)
        self.gp_lambda = float(gradient_penalty)
        self.r1_gamma = float(r1)
        self.gp_rng = RandomStream(seed + 7919)
        self.shard = tuple(shard)
        if self.shard[1] > 1:  # data-parallel rank (ganlib.distributed): its own ε
            self.gp_rng = self.gp_rng.fork(self.shard[0])
        self._last_gp = None
        self.cache = WeightCache(dis_optimizer.target, dis_optimizer,
                                 include_optimizer=restore_optimizer_state,
                                 include_persistents=restore_optimizer_state)

    # -- epochs counted in generator iterations (optional) ------------------------------------------
    @property
    def epoch(self):
        if self.iterations_per_epoch:
            return self.iteration // self.iterations_per_epoch
        return super().epoch

    @property
    def epoch_detail(self):
        if self.iterations_per_epoch:
            return self.iteration / self.iterations_per_epoch
        return super().epoch_detail

    @property
    def previous_epoch_detail(self):
        if self.iterations_per_epoch:
            return (self.iteration - 1) / self.iterations_per_epoch if self.iteration > 0 else None
        return super().previous_epoch_detail

    @property
    def is_new_epoch(self):
        if self.iterations_per_epoch:
            return self.iteration % self.iterations_per_epoch == 0
        return super().is_new_epoch

    # -- pieces ------------------------------------------------------------------------------------
    def local(self, batch):
        """This rank's rows of a global batch (``shard`` = (rank r, N ranks): rows [rB, (r+1)B), B = len/N)."""
        r, n = self.shard
        if n == 1:
            return batch
        b = len(batch) // n
        return batch[r * b:(r + 1) * b]

    def next_real(self):
        """A fresh real batch (this rank's slice), on the device (subclasses may return a tuple, see
        ``batch_size``)."""
        batch = self.get_iterator('main').next()
        return self.converter(self.local(batch), self.device)

    def batch_size(self, real):
        """How many fakes to pair with the real batch ``real``."""
        return len(real)

    def sample_z(self, n):
        """n latents; when data-parallel, this rank's slice of the N·n latents of the global batch."""
        r, size = self.shard
        z = self.get_optimizer('gen').target.make_hidden(n * size, self.rng)
        return z if size == 1 else z[r * n:(r + 1) * n]

    def d_loss(self, dis, x_real, x_fake):
        """Discriminator loss of one step (``x_fake`` may carry G's graph: second-order unrolling)."""
        loss = self.loss.d_loss(dis(x_real), dis(x_fake))
        if self.gp_lambda > 0:
            gp, _ = gradient_penalty(dis, x_real, x_fake, self.gp_rng, self.gp_lambda)
            self._last_gp = gp
            loss = loss + gp
        if self.r1_gamma > 0:
            gp, _ = r1_penalty(dis, x_real, self.r1_gamma)
            self._last_gp = gp
            loss = loss + gp
        return loss

    def g_loss(self, dis, x_fake, x_real):
        """Generator loss against ``dis``; ``x_real`` is the last real batch (for feature matching)."""
        if self.feature_matching:
            _, h_real = dis(x_real, return_features=True)
            _, h_fake = dis(x_fake, return_features=True)
            return feature_matching_loss(h_real, h_fake)
        return self.loss.g_loss(dis(x_fake))

    def discriminator_step(self):
        gen_opt, dis_opt = self.get_optimizer('gen'), self.get_optimizer('dis')
        x_real = self.next_real()
        with chainer.no_backprop_mode():
            x_fake = gen_opt.target(self.sample_z(self.batch_size(x_real)))
        loss = self.d_loss(dis_opt.target, x_real, x_fake)
        dis_opt.target.cleargrads()
        loss.backward()
        dis_opt.update()
        return loss, x_real

    # -- the update --------------------------------------------------------------------------------
    def update_core(self):
        if self.unroll_k >= 1 and self.unroll_mode == 'second-order':  # Eq. 12 has a term from K = 1 on
            return self._update_second_order()
        if self.simultaneous:
            return self._update_simultaneous()
        gen_opt, dis_opt = self.get_optimizer('gen'), self.get_optimizer('dis')
        gen, dis = gen_opt.target, dis_opt.target
        unrolled = self.unroll_k >= 2
        for k in range(self.unroll_k if unrolled else self.n_critic):
            loss, x_real = self.discriminator_step()
            if k == 0:
                reporter.report({'loss': loss}, dis)
                if self._last_gp is not None:
                    reporter.report({'gp': self._last_gp}, dis)
                if unrolled:
                    self.cache.save()  # θ_D^(1)
        x_fake = gen(self.sample_z(self.batch_size(x_real)))
        g_loss = self.g_loss(dis, x_fake, x_real)
        gen.cleargrads()
        backward_to(g_loss, gen)
        gen_opt.update()
        dis.cleargrads()
        if unrolled:
            self.cache.restore()  # θ_D ← θ_D^(1)
        reporter.report({'loss': g_loss}, gen)

    def _update_simultaneous(self):
        gen_opt, dis_opt = self.get_optimizer('gen'), self.get_optimizer('dis')
        gen, dis = gen_opt.target, dis_opt.target
        x_real = self.next_real()
        x_fake = gen(self.sample_z(self.batch_size(x_real)))
        d_loss = self.d_loss(dis, x_real, x_fake.array)  # the same fakes, detached: D's gradient only
        g_loss = self.g_loss(dis, x_fake, x_real)
        for loss, link, opt in ((d_loss, dis, dis_opt), (g_loss, gen, gen_opt)):
            params = [p for _, p in sorted(link.namedparams())]
            grads = chainer.grad([loss], params)
            for p, g in zip(params, grads):
                p.grad = None if g is None else g.array
        dis_opt.update()
        gen_opt.update()
        gen.cleargrads()
        dis.cleargrads()
        reporter.report({'loss': d_loss}, dis)
        if self._last_gp is not None:
            reporter.report({'gp': self._last_gp}, dis)
        reporter.report({'loss': g_loss}, gen)

    def _update_second_order(self):
        gen_opt, dis_opt = self.get_optimizer('gen'), self.get_optimizer('dis')
        gen, dis = gen_opt.target, dis_opt.target
        batches = []
        for _ in range(self.unroll_k):
            x_real = self.next_real()
            batches.append((x_real, gen(self.sample_z(self.batch_size(x_real)))))
        params_k, first_grads, first_loss = unroll_discriminator(dis, dis_opt, self.d_loss, batches)
        x_fake = gen(self.sample_z(self.batch_size(x_real)))
        with substituted_params(dis, params_k):
            g_loss = self.g_loss(dis, x_fake, x_real)
        gen.cleargrads()
        backward_to(g_loss, gen)
        gen_opt.update()
        # D's own update: the ordinary optimizer step with the first unrolled step's gradient → θ_D^(1).
        dis.cleargrads()
        for path, p in dis.namedparams():
            p.grad = first_grads[path]
        dis_opt.update()
        dis.cleargrads()
        reporter.report({'loss': first_loss}, dis)
        reporter.report({'loss': g_loss}, gen)

    def serialize(self, serializer):
        super().serialize(serializer)
        self.rng.serialize(serializer['z_rng'])
        # Chainer's SerialIterator saves its order but not its ShuffleOrderSampler's RNG: save it here.
        for name, it in sorted(self._iterators.items()):
            rng = getattr(getattr(it, 'order_sampler', None), '_random', None)
            if isinstance(rng, numpy.random.RandomState):
                serialize_random_state(serializer['order_rng_' + name], rng)
        if self.gp_lambda > 0:
            self.gp_rng.serialize(serializer['gp_rng'])
        for name, opt in sorted(self._optimizers.items()):
            hookable = opt._hookable  # Chainer 7 keeps an optimizer's hooks here
            hooks = list(hookable._pre_update_hooks.items()) + list(hookable._post_update_hooks.items()) \
                if hookable is not None else []
            for hook_name, hook in hooks:
                if hasattr(hook, 'serialize'):
                    hook.serialize(serializer['hook_{}_{}'.format(name, hook_name)], opt.target)


class ConditionalGANUpdater(GANUpdater):
    """Class-conditional GAN update (Mirza & Osindero 2014; the projection discriminator of Miyato & Koyama 2018):
    the iterator yields (x, y) pairs; fakes are G(z, y') with y' drawn uniformly from the ``n_classes`` classes
    (a serialised stream of its own); ``n_critic`` D steps L_D(D(x, y), D(G(z, y'), y')) then one G step
    L_G(D(G(z, y'), y')).  Unrolling, feature matching and the gradient penalty are not defined here."""

    def __init__(self, iterator, gen_optimizer, dis_optimizer, loss, n_classes, seed=0, **kwargs):
        for key in ('unroll_k', 'feature_matching', 'gradient_penalty', 'r1', 'simultaneous'):
            if kwargs.get(key):
                raise ValueError('the conditional updater does not support {}'.format(key))
        super().__init__(iterator, gen_optimizer, dis_optimizer, loss, seed=seed, **kwargs)
        self.n_classes = int(n_classes)
        self.label_rng = RandomStream(seed + 13)

    def next_real(self):
        x, y = self.converter(self.local(self.get_iterator('main').next()), self.device)
        return x, y

    def fake_labels(self, n):
        xp = self.get_optimizer('gen').target.xp
        return self.label_rng.integers(self.n_classes, (n,), xp).astype(numpy.int32)

    def update_core(self):
        gen_opt, dis_opt = self.get_optimizer('gen'), self.get_optimizer('dis')
        gen, dis = gen_opt.target, dis_opt.target
        for k in range(self.n_critic):
            x_real, y_real = self.next_real()
            y_fake = self.fake_labels(len(x_real))
            with chainer.no_backprop_mode():
                x_fake = gen(self.sample_z(len(x_real)), y_fake)
            loss = self.loss.d_loss(dis(x_real, y_real), dis(x_fake.array, y_fake))
            dis.cleargrads()
            loss.backward()
            dis_opt.update()
            if k == 0:
                reporter.report({'loss': loss}, dis)
        y_fake = self.fake_labels(len(x_real))
        g_loss = self.loss.g_loss(dis(gen(self.sample_z(len(x_real)), y_fake), y_fake))
        gen.cleargrads()
        backward_to(g_loss, gen)
        gen_opt.update()
        dis.cleargrads()
        reporter.report({'loss': g_loss}, gen)

    def serialize(self, serializer):
        super().serialize(serializer)
        self.label_rng.serialize(serializer['label_rng'])
