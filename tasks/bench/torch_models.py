#!/usr/bin/env python3
"""PyTorch side of `npm run bench -- --torch`: the same models, batches and optimizers as the
bench's `models` and `ops` sections (tasks/bench/rows.ts), timed the same way.

    python3 tasks/bench/torch_models.py --rows vgg19-small,multvae --variants regular,lbd \
        --steps 3 --warmup 1 --device cpu --threads 2 --json -

Prints one JSON object (to --json FILE, or the last stdout line with `--json -`): per row and
variant the trainable parameter count (LBD logits apart), every timed step's wall ms and, on
CUDA, its GPU ms from CUDA events. The bench asserts that the parameter counts equal its own.

What "the same" means here, row by row (the TypeScript builders are in tasks/bench/rows.ts):
- vgg19-small: VGG19 (configuration E) at width 1/16 with batch norm, classifier 128 wide,
  10 classes, 32x32 inputs, batch 64 (the classify `cpu` preset); vgg19-full: full width,
  no batch norm, classifier 512, batch 64. Conv biases on; dropout before the last two
  Linear layers; mean cross-entropy; Adam lr 1e-3 (logits: Adam 1e-2).
- multvae: Mult-VAE 20108-600-200-600-20108 (encoder emits 2x200), tanh, L2-normalised binary
  input through the input dropout, analytic KL, beta 0.2, batch 500 rows of a synthetic sparse
  user set densified every step; Adam 1e-3 (logits too). The first layer multiplies only the
  input's nonzeros, as the engine's sparse_linear does: F.embedding_bag over a [items, 600]
  weight with the dropped-out input gathered at the batch's (row, item) pairs as per-sample
  weights (PyTorch's fastest form on the CPU: first layer forward + backward 81 ms against 267
  dense and 660 with torch.sparse.mm); multvae-dense: the whole dense input through nn.Linear,
  as the reference implementations (and the bench before c634f21, 2026-12-03) do.
- fcdensenet103 (480x360, batch 1) and fcdensenet-tiny (80x60, batch 4): FC-DenseNet as the
  authors' Lasagne code (BN-ReLU-conv3x3-dropout dense layers, transition down BN-ReLU-conv1x1-
  dropout-maxpool, transition up conv-transpose 3x3 stride 2 centre-cropped), dropout 0.2
  everywhere, the studied kind in the bottleneck; per-image class-weighted cross-entropy with
  the void class ignored; RMSprop (103: lr 1e-4, alpha 0.995; tiny: lr 1e-3, alpha 0.9),
  logits Adam.
- LBD variant: Learnable Bernoulli Dropout in place of the regular dropout the paper replaces
  (VGG: the classifier's two, one logit per layer; Mult-VAE: the input dropout, one logit per
  item; FC-DenseNet: the bottleneck's, one logit per layer and a mask per example and channel),
  with keep 0.5, inverted scaling x*z/sigmoid(a), the Eq. 3 regularizer over N examples, and the
  step of the paper: forward with z2 = 1[u < sigmoid(a)], a second pass with z1 = 1[u > sigmoid(-a)]
  from the same u through only the part of the network after the first LBD layer (no grad),
  backward of mean E(z2) + regularizer, then the ARM term sum_b (E_b(z1) - E_b(z2))(u - 1/2) / B
  added to each logit's gradient, then both optimizers step.
- ops: matmul products as the engine's backward runs them (A.B, A.B^T, A^T.B with the operands
  stored as the engine stores them), and the VGG conv layer 64->64 3x3 pad 1 at batch 64 32x32,
  forward and forward+backward (input and weight gradients).
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CFG_E = [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]]


def js_round(x):
    """Math.round of JavaScript (halves up), which the engine's width scaling uses."""
    return int(math.floor(x + 0.5))


# ---- Learnable Bernoulli Dropout -----------------------------------------------------------

class LBD(nn.Module):
    """x * z / sigmoid(a); z2 = 1[u < sigmoid(a)] (pass 2, draws u), z1 = 1[u > sigmoid(-a)] (pass 1, reuses u).
    granularity 'layer': one logit; 'unit': one per feature. Images get a mask per example and channel."""

    def __init__(self, units, granularity, dataset_size, next_weight=None, next_axis=0):
        super().__init__()
        self.units, self.granularity, self.N = units, granularity, dataset_size
        self.alpha = nn.Parameter(torch.zeros(1 if granularity == 'layer' else units))  # keep 0.5
        self.next_weight, self.next_axis = next_weight, next_axis  # the axis summed: a Linear's weight [out, in] sums 0
        self.pass_ = 2
        self.u = None

    def forward(self, x):
        if not self.training:
            return x
        if self.pass_ == 2:
            self.u = torch.rand(x.shape[0], x.shape[1], device=x.device)
        p = torch.sigmoid(self.alpha)
        z = (self.u < p) if self.pass_ == 2 else (self.u > torch.sigmoid(-self.alpha))
        m = z.to(x.dtype) / p
        return x * m.reshape(m.shape + (1,) * (x.dim() - 2))

    def regularizer(self):
        p = torch.sigmoid(self.alpha)
        H = -(p * F.logsigmoid(self.alpha) + (1 - p) * F.logsigmoid(-self.alpha))
        per_logit = self.units if self.alpha.numel() == 1 else 1
        r = H.sum() * (-per_logit / self.N)
        if self.next_weight is not None:
            norms = self.next_weight.pow(2).sum(self.next_axis)  # [units]
            if self.alpha.numel() == 1:
                norms = norms.sum(0, keepdim=True)
            r = r + (norms / p).sum() / (2 * self.N)
        return r

    def add_arm(self, d):
        """d = E(z1) - E(z2) per example [B]; adds the ARM term to the logit's gradient."""
        B = d.shape[0]
        g = ((self.u - 0.5) * d.reshape(B, 1)).sum(0) / B
        if self.alpha.numel() == 1:
            g = g.sum().reshape(1)
        self.alpha.grad = g if self.alpha.grad is None else self.alpha.grad + g


def lbd_layers(model):
    return [m for m in model.modules() if isinstance(m, LBD)]


def split_params(model):
    logits = {id(m.alpha) for m in lbd_layers(model)}
    w = [p for p in model.parameters() if id(p) not in logits]
    l = [m.alpha for m in lbd_layers(model)]
    return w, l


# ---- models ----------------------------------------------------------------------------------

class VGG(nn.Module):
    def __init__(self, width, hidden, batch_norm, kind, dataset_size=45000, classes=10):
        super().__init__()
        feats, cin = [], 3
        for stage in CFG_E:
            for c in stage:
                cout = max(1, js_round(c * width))
                feats.append(nn.Conv2d(cin, cout, 3, padding=1))
                if batch_norm:
                    feats.append(nn.BatchNorm2d(cout))
                feats.append(nn.ReLU())
                cin = cout
            feats.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*feats)
        self.fc1, self.fc2, self.fc3 = nn.Linear(cin, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, classes)
        if kind == 'lbd':
            self.d1 = LBD(hidden, 'layer', dataset_size, self.fc2.weight)
            self.d2 = LBD(hidden, 'layer', dataset_size, self.fc3.weight)
        else:
            self.d1, self.d2 = nn.Dropout(0.5), nn.Dropout(0.5)

    def prefix(self, x):  # everything before the first dropout
        return F.relu(self.fc1(torch.flatten(self.features(x), 1)))

    def suffix(self, h):
        return self.fc3(self.d2(F.relu(self.fc2(self.d1(h)))))


class MultVAE(nn.Module):
    def __init__(self, items, kind, dataset_size, hidden=600, latent=200, sparse=False):
        super().__init__()
        self.latent, self.sparse = latent, sparse
        first = nn.Linear(items, hidden)
        if sparse:  # the first layer's weight as [items, hidden]: embedding_bag's layout
            self.w1, self.b1 = nn.Parameter(first.weight.detach().t().contiguous()), first.bias
            nxt = (self.w1, 1)
        else:
            self.enc1 = first
            nxt = (first.weight, 0)
        self.enc2 = nn.Linear(hidden, 2 * latent)
        self.dec1, self.dec2 = nn.Linear(latent, hidden), nn.Linear(hidden, items)
        self.drop = LBD(items, 'unit', dataset_size, *nxt) if kind == 'lbd' else nn.Dropout(0.5)

    def per_example_loss(self, xn, x, eps, beta=0.2, nz=None):
        """nz (sparse model): the batch's item indices, their rows and each row's offset."""
        h = self.drop(xn)
        if self.sparse:  # h is zero outside the (row, item) pairs
            cols, rows, offsets = nz
            h1 = F.embedding_bag(cols, self.w1, offsets, mode='sum', per_sample_weights=h[rows, cols]) + self.b1
        else:
            h1 = self.enc1(h)
        o = self.enc2(torch.tanh(h1))
        mu, logvar = o[:, :self.latent], o[:, self.latent:]
        z = mu + torch.exp(0.5 * logvar) * eps
        logits = self.dec2(torch.tanh(self.dec1(z)))
        nll = -(F.log_softmax(logits, -1) * x).sum(-1)
        kl = 0.5 * (torch.exp(logvar) - logvar + mu * mu - 1).sum(-1)
        return nll + beta * kl


class DenseLayer(nn.Module):
    def __init__(self, cin, growth, drop):
        super().__init__()
        self.bn, self.conv, self.drop = nn.BatchNorm2d(cin), nn.Conv2d(cin, growth, 3, padding=1), drop

    def forward(self, x):
        return self.drop(self.conv(F.relu(self.bn(x))))


class DenseBlock(nn.Module):
    def __init__(self, cin, n, growth, drop):
        super().__init__()
        self.layers = nn.ModuleList([DenseLayer(cin + j * growth, growth, drop(growth)) for j in range(n)])

    def forward(self, x):
        fresh = []
        for l in self.layers:
            y = l(x)
            x = torch.cat([x, y], 1)
            fresh.append(y)
        return x, torch.cat(fresh, 1)


class TransitionDown(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bn, self.conv, self.drop = nn.BatchNorm2d(c), nn.Conv2d(c, c, 1), nn.Dropout(0.2)

    def forward(self, x):
        return F.max_pool2d(self.drop(self.conv(F.relu(self.bn(x)))), 2)


def center_crop(x, h, w):
    H, W = x.shape[2], x.shape[3]
    t, l = (H - h) // 2, (W - w) // 2
    return x[:, :, t:t + h, l:l + w]


class Tiramisu(nn.Module):
    def __init__(self, blocks, growth, first, kind, dataset_size, classes=11):
        super().__init__()
        P = (len(blocks) - 1) // 2
        self.P = P
        plain = lambda c: nn.Dropout(0.2)
        studied = (lambda c: LBD(c, 'layer', dataset_size)) if kind == 'lbd' else plain
        self.first = nn.Conv2d(3, first, 3, padding=1)
        self.down, self.tds, self.tus, self.up = nn.ModuleList(), nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c, skips = first, []
        for i in range(P):
            self.down.append(DenseBlock(c, blocks[i], growth, plain))
            c += blocks[i] * growth
            skips.append(c)
            self.tds.append(TransitionDown(c))
        self.bottleneck = DenseBlock(c, blocks[P], growth, studied)
        for i in range(P):
            keep = blocks[P + i] * growth
            self.tus.append(nn.ConvTranspose2d(keep, keep, 3, stride=2))
            c = keep + skips[P - 1 - i]
            self.up.append(DenseBlock(c, blocks[P + 1 + i], growth, plain))
        c += blocks[2 * P] * growth
        self.classifier = nn.Conv2d(c, classes, 1)

    def prefix(self, x):  # the first conv and the down path
        h, skips = self.first(x), []
        for i in range(self.P):
            h, _ = self.down[i](h)
            skips.append(h)
            h = self.tds[i](h)
        return h, skips

    def suffix(self, hs):
        h, skips = hs
        allm, fresh = self.bottleneck(h)
        for i in range(self.P):
            s = skips[self.P - 1 - i]
            u = center_crop(self.tus[i](fresh), s.shape[2], s.shape[3])
            allm, fresh = self.up[i](torch.cat([u, s], 1))
        return self.classifier(allm)


def image_losses(logits, y, w12):
    ce = F.cross_entropy(logits, y, weight=w12[:11], ignore_index=11, reduction='none')  # [N, H, W], weighted
    return ce.sum((1, 2)) / torch.clamp(w12[y].sum((1, 2)), min=1e-6)


# ---- rows ------------------------------------------------------------------------------------

TIRAMISU = {
    'fcdensenet103': dict(blocks=[4, 5, 7, 10, 12, 15, 12, 10, 7, 5, 4], growth=16, first=48, H=360, W=480, batch=1, lr=1e-4, rho=0.995, logit_lr=1e-3),
    'fcdensenet-tiny': dict(blocks=[3, 3, 3, 4, 3, 3, 3], growth=8, first=24, H=60, W=80, batch=4, lr=1e-3, rho=0.9, logit_lr=1e-2),
}
VGGS = {
    'vgg19-small': dict(width=1 / 16, hidden=128, bn=True, batch=64),
    'vgg19-full': dict(width=1, hidden=512, bn=False, batch=64),
}
MATMULS = {'matmul-1024': (1024, 1024, 1024), 'matmul-4096': (4096, 4096, 4096), 'matmul-sivae': (500, 9724, 600)}
ML20M_ITEMS, ML20M_USERS, ML20M_PER_USER = 20108, 136677, 10_000_000 / 136677


def lbd_or_plain_step(model, prefix, suffix_loss, wopt, lopt):
    """One training step: plain (mean loss, backward, step) or LBD (see the module docstring)."""
    wopt.zero_grad(set_to_none=True)
    if lopt is None:
        suffix_loss(prefix()).mean().backward()
        wopt.step()
        return
    lopt.zero_grad(set_to_none=True)
    h = prefix()
    lbds = lbd_layers(model)
    for m in lbds:
        m.pass_ = 2
    e2 = suffix_loss(h)
    for m in lbds:
        m.pass_ = 1
    with torch.no_grad():
        e1 = suffix_loss(h)
    for m in lbds:
        m.pass_ = 2
    reg = sum(m.regularizer() for m in lbds)
    (e2.mean() + reg).backward()
    d = (e1 - e2).detach()
    for m in lbds:
        m.add_arm(d)
    wopt.step()
    lopt.step()


def build_model_row(name, kind, dev):
    """(step function, trainable weights, LBD logits, items per step)."""
    g = torch.Generator(device='cpu').manual_seed(1)
    if name in VGGS:
        c = VGGS[name]
        model = VGG(c['width'], c['hidden'], c['bn'], kind).to(dev).train()
        x = (torch.rand(c['batch'], 3, 32, 32, generator=g) * 2 - 1).to(dev)
        y = (torch.arange(c['batch']) % 10).to(dev)
        w, l = split_params(model)
        wopt, lopt = torch.optim.Adam(w, lr=1e-3), (torch.optim.Adam(l, lr=1e-2) if l else None)
        step = lambda: lbd_or_plain_step(model, lambda: model.prefix(x), lambda h: F.cross_entropy(model.suffix(h), y, reduction='none'), wopt, lopt)
        return step, w, l, c['batch']
    if name in ('multvae', 'multvae-dense'):
        B, I = 500, ML20M_ITEMS
        sparse = name == 'multvae'
        pool = 20000  # users drawn from: the ML-20M mean of ~73 items each, popularity-skewed
        counts = torch.clamp((ML20M_PER_USER * (0.5 + torch.rand(pool, generator=g))).round().long(), 1, I)
        rows = [torch.unique(torch.clamp((I * torch.rand(int(k), generator=g) ** 3).long(), max=I - 1)) for k in counts]
        model = MultVAE(I, kind, ML20M_USERS, sparse=sparse).to(dev).train()
        w, l = split_params(model)
        wopt, lopt = torch.optim.Adam(w, lr=1e-3), (torch.optim.Adam(l, lr=1e-3) if l else None)

        def step():
            pick = torch.randint(0, pool, (B,)).tolist()
            r = torch.cat([torch.full((len(rows[u]),), b, dtype=torch.long) for b, u in enumerate(pick)])
            cidx = torch.cat([rows[u] for u in pick])
            x = torch.zeros(B, I, device=dev)
            x[r.to(dev), cidx.to(dev)] = 1.0  # densified on the device, as the engine does
            xn = x / torch.sqrt(torch.clamp((x * x).sum(1, keepdim=True), 1e-12, 3e38))
            eps = torch.randn(B, model.latent, device=dev)
            lens = torch.tensor([len(rows[u]) for u in pick])
            nz = (cidx.to(dev), r.to(dev), (torch.cumsum(lens, 0) - lens).to(dev)) if sparse else None
            lbd_or_plain_step(model, lambda: xn, lambda h: model.per_example_loss(h, x, eps, nz=nz), wopt, lopt)
        return step, w, l, B
    if name in TIRAMISU:
        c = TIRAMISU[name]
        model = Tiramisu(c['blocks'], c['growth'], c['first'], kind, 300).to(dev).train()
        x = (torch.rand(c['batch'], 3, c['H'], c['W'], generator=g) - 0.5).to(dev)
        y = torch.randint(0, 12, (c['batch'], c['H'], c['W']), generator=g).to(dev)
        w12 = torch.tensor([1.0] * 11 + [0.0], device=dev)
        w, l = split_params(model)
        wopt = torch.optim.RMSprop(w, lr=c['lr'], alpha=c['rho'], eps=1e-8)
        lopt = torch.optim.Adam(l, lr=c['logit_lr']) if l else None
        step = lambda: lbd_or_plain_step(model, lambda: model.prefix(x), lambda h: image_losses(model.suffix(h), y, w12), wopt, lopt)
        return step, w, l, c['batch']
    raise SystemExit(f'torch_models.py: unknown model row {name!r}')


def build_op_row(name, variant, dev):
    g = torch.Generator(device='cpu').manual_seed(2)
    rnd = lambda *s: (torch.rand(*s, generator=g) * 2 - 1).to(dev)
    if name in MATMULS:
        M, N, K = MATMULS[name]
        if variant == 'AB':
            a, b = rnd(M, K), rnd(K, N)
            return (lambda: a @ b), 2 * M * N * K
        if variant == 'ABt':  # dA = dY . B^T of the forward above: [M, N] . [K, N]^T
            dy, b = rnd(M, N), rnd(K, N)
            return (lambda: dy @ b.t()), 2 * M * N * K
        if variant == 'AtB':  # dB = A^T . dY: [M, K]^T . [M, N]
            a, dy = rnd(M, K), rnd(M, N)
            return (lambda: a.t() @ dy), 2 * M * N * K
        raise SystemExit(f'torch_models.py: matmul variant must be AB, ABt or AtB, got {variant!r}')
    if name == 'conv-vgg64':
        x = rnd(64, 64, 32, 32).requires_grad_()
        w = (rnd(64, 64, 3, 3) * 0.1).requires_grad_()
        dy = rnd(64, 64, 32, 32)
        flops = 2 * 64 * 32 * 32 * 64 * 576
        if variant == 'forward':
            def fwd():
                with torch.no_grad():
                    F.conv2d(x, w, None, padding=1)
            return fwd, flops

        def both():
            y = F.conv2d(x, w, None, padding=1)
            torch.autograd.backward(y, dy)
            x.grad = None
            w.grad = None
        return both, 3 * flops
    raise SystemExit(f'torch_models.py: unknown op row {name!r}')


OP_ROWS = set(MATMULS) | {'conv-vgg64'}


def timed(fn, dev, steps, warmup):
    cuda = dev.type == 'cuda'
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    wall, gpu = [], []
    for _ in range(steps):
        if cuda:
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
        t0 = time.perf_counter()
        fn()
        if cuda:
            e1.record()
            torch.cuda.synchronize()
            gpu.append(e0.elapsed_time(e1))
        wall.append((time.perf_counter() - t0) * 1000)
    return wall, gpu


def blas_library():
    """The BLAS this process mapped (Debian's torch uses the system libblas.so.3: the reference
    BLAS runs matmuls ~100x slower than OpenBLAS, so `apt-get install libopenblas0-pthread`)."""
    try:
        with open('/proc/self/maps') as f:
            libs = sorted({l.split()[-1] for l in f if 'blas' in l.split()[-1]})
        return ', '.join(libs) or 'none mapped'
    except OSError:
        return 'unknown'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--rows', required=True, help='comma-separated row names')
    ap.add_argument('--variants', default='', help='model rows: regular,lbd; matmul: AB,ABt,AtB; conv: forward,forward+backward (default: all of the row)')
    ap.add_argument('--steps', type=int, default=3, help='timed steps (0 with --warmup 0: build only, for the parameter counts)')
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--json', default='-', help="output file, or '-' for the last stdout line")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    if dev.type == 'cuda':  # fp32 figures: no TF32 anywhere
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    out = {'torch': torch.__version__, 'device': str(dev), 'threads': torch.get_num_threads(),
           'deviceName': torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu', 'rows': []}
    torch.ones(4, 4) @ torch.ones(4, 4)  # maps the BLAS
    for name in a.rows.split(','):
        if name in OP_ROWS:
            default = ['AB', 'ABt', 'AtB'] if name in MATMULS else ['forward', 'forward+backward']
        else:
            default = ['regular', 'lbd']
        for v in (a.variants.split(',') if a.variants else default):
            if name in OP_ROWS:
                fn, flops = build_op_row(name, v, dev)
                wall, gpu = timed(fn, dev, a.steps, a.warmup)
                out['rows'].append({'name': name, 'variant': v, 'flops': flops, 'wallMs': wall, 'gpuMs': gpu})
            else:
                step, w, l, items = build_model_row(name, v, dev)
                wall, gpu = timed(step, dev, a.steps, a.warmup)
                out['rows'].append({'name': name, 'variant': v, 'params': sum(p.numel() for p in w), 'logits': sum(p.numel() for p in l),
                                    'items': items, 'wallMs': wall, 'gpuMs': gpu})
                del step
            r = out['rows'][-1]
            counts = f", {r['params']} weights + {r['logits']} logits" if 'params' in r else ''
            timing = f"median {sorted(wall)[len(wall) // 2]:.1f} ms" if wall else 'built, not timed'
            print(f"torch {name} {v}: {timing}{counts}", file=sys.stderr)
    out['blas'] = blas_library()
    text = json.dumps(out)
    if a.json == '-':
        print(text)
    else:
        with open(a.json, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
