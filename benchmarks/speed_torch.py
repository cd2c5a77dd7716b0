"""The speed benchmark's workloads written in PyTorch, for the side-by-side ratio in results/speed.md.

Only ``benchmarks/speed.py`` runs this, with a Python that has PyTorch (``requirements-bench.txt``, a separate
environment); nothing else in the repository imports torch.  Each workload mirrors the Chainer one: the same
networks, losses, batch sizes, Adam settings and update order (``python speed_torch.py NAME N`` prints JSON).
"""
import copy
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)


def adam(module, lr):
    return torch.optim.Adam(module.parameters(), lr=lr, betas=(0.5, 0.999))


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. §3.2 as models/minibatch_discrimination.py: T with bias, L1, self pair excluded."""

    def __init__(self, width, b=50, c=5):
        super().__init__()
        self.b, self.c = b, c
        self.T = nn.Linear(width, b * c)

    def forward(self, f):
        m = self.T(f).view(len(f), self.b, self.c)
        o = torch.exp(-(m[:, None] - m[None]).abs().sum(3)).sum(1) - 1.0
        return torch.cat([f, o], 1)


def mog(unroll=0, md=False):
    """models/mlp.py's unrolled-post G and D, ring of 8, batch 100, BCE through softplus, Adam 1e-3."""
    g = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
    layers = [nn.Linear(2, 128), nn.ReLU()] + ([MinibatchDiscrimination(128)] if md else [])
    d = nn.Sequential(*(layers + [nn.Linear(128 + (50 if md else 0), 1)]))
    og, od = adam(g, 1e-3), adam(d, 1e-3)
    angles = torch.arange(8) * 2 * 3.141592653589793 / 8 - 3.141592653589793 / 2
    means = torch.stack([2 * torch.cos(angles), 2 * torch.sin(angles)], 1)

    def real():
        return means[torch.randint(8, (100,))] + 0.2 * torch.randn(100, 2)

    def step():
        cache = None
        for k in range(max(unroll, 1)):
            fake = g(torch.randn(100, 256)).detach()
            loss = F.softplus(-d(real() / 2)).mean() + F.softplus(d(fake / 2)).mean()
            od.zero_grad()
            loss.backward()
            od.step()
            if k == 0 and unroll >= 2:  # θ_D^(1) and Adam's state, as WeightCache
                cache = copy.deepcopy(d.state_dict()), copy.deepcopy(od.state_dict())
        loss = F.softplus(-d(g(torch.randn(100, 256)) / 2)).mean()
        og.zero_grad()
        loss.backward()
        og.step()
        if cache is not None:
            d.load_state_dict(cache[0])
            od.load_state_dict(cache[1])
    return step


def ssl():
    """models/ssl_mnist.py's posts' D (noise, softplus, 1000-500-250) and G (BN, ReLU), batch 100."""
    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.ModuleList([nn.Linear(a, b) for a, b in ((784, 1000), (1000, 500), (500, 250))])
            self.out = nn.Linear(250, 10)

        def forward(self, x):
            h = x + 0.3 * torch.randn_like(x)
            for layer in self.hidden:
                h = layer(h)
                h = F.softplus(h + 0.5 * torch.randn_like(h))
            return self.out(h), h
    d = D()
    g = nn.Sequential(nn.Linear(50, 500), nn.BatchNorm1d(500), nn.ReLU(), nn.Linear(500, 500), nn.BatchNorm1d(500),
                      nn.ReLU(), nn.Linear(500, 784), nn.Tanh())
    og, od = adam(g, 1e-3), adam(d, 1e-3)
    x_lab, y_lab, x_unl = torch.rand(100, 784) * 2 - 1, torch.randint(10, (100,)), torch.rand(100, 784) * 2 - 1

    def step():
        fake = g(torch.rand(100, 50) * 2 - 1).detach()
        log_z_unl = torch.logsumexp(d(x_unl)[0], 1)
        log_z_fake = torch.logsumexp(d(fake)[0], 1)
        loss = F.cross_entropy(d(x_lab)[0], y_lab) + F.softplus(-log_z_unl).mean() + F.softplus(log_z_fake).mean()
        od.zero_grad()
        loss.backward()
        od.step()
        h_real = d(x_unl)[1].mean(0).detach()
        loss = ((h_real - d(g(torch.rand(100, 50) * 2 - 1))[1].mean(0)) ** 2).sum()
        og.zero_grad()
        loss.backward()
        og.step()
    return step


def dcgan(size=64, g_ch=512, d_ch=32):
    """models/dcgan.py (G from g_ch maps halved per layer, D d_ch maps doubled, ELU, input noise 0.3; four
    stride-2 layers at 64 × 64, three below), batch 64, Adam 1e-4."""
    n = 4 if size >= 64 else 3
    bottom = size >> n

    def up(a, b):
        return [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.ReLU()]

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.l0, self.bn0 = nn.Linear(50, g_ch * bottom ** 2), nn.BatchNorm1d(g_ch * bottom ** 2)
            self.body = nn.Sequential(*sum((up(g_ch >> i, g_ch >> (i + 1)) for i in range(n - 1)), []),
                                      nn.ConvTranspose2d(g_ch >> (n - 1), 3, 4, 2, 1), nn.Tanh())

        def forward(self, z):
            return self.body(F.relu(self.bn0(self.l0(z))).view(len(z), g_ch, bottom, bottom))

    def down(a, b):
        return [nn.Conv2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.ELU()]

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, d_ch, 4, 2, 1), nn.ELU(),
                                      *sum((down(d_ch << i, d_ch << (i + 1)) for i in range(n - 1)), []))
            self.out = nn.Linear((d_ch << (n - 1)) * bottom ** 2, 1)

        def forward(self, x):
            return self.out(self.body(x + 0.3 * torch.randn_like(x)).flatten(1)).view(-1)
    g, d = G(), D()
    og, od = adam(g, 1e-4), adam(d, 1e-4)
    x = torch.rand(64, 3, size, size) * 2 - 1

    def step():
        fake = g(torch.rand(64, 50) * 2 - 1).detach()
        loss = F.softplus(-d(x)).mean() + F.softplus(d(fake)).mean()
        od.zero_grad()
        loss.backward()
        od.step()
        loss = F.softplus(-d(g(torch.rand(64, 50) * 2 - 1))).mean()
        og.zero_grad()
        loss.backward()
        og.step()
    return step


WORKLOADS = {'mog-plain': lambda: mog(0), 'mog-unrolled5': lambda: mog(5), 'mog-md': lambda: mog(0, md=True),
             'ssl-post': ssl, 'dcgan64': dcgan, 'dcgan32-stacked': lambda: dcgan(32, 64, 16)}


def main(name, n, warmup=2):
    torch.manual_seed(0)
    step = WORKLOADS[name]()
    times = []
    for i in range(warmup + n):
        start = time.perf_counter()
        step()
        if i >= warmup:
            times.append(1000 * (time.perf_counter() - start))
    times.sort()
    print(json.dumps(dict(median=times[len(times) // 2], min=times[0], max=times[-1], torch=torch.__version__,
                          peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]))
