#!/usr/bin/python3
"""Independent float64 NumPy references for the optimizers that PyTorch 1.13
does not have. Each class follows its authors' reference algorithm, written
here from the formulas (no code copied), and cites the source it was read from.

Common interface (all tensors form ONE parameter group, as
`torch.optim.X(model.parameters())` would make):

    opt = X(tensors, lr, **hypers)   # tensors: [{"name", "shape", "bias"}, ...]
    opt.step(params, grads)          # lists of float64 arrays; params updated in place
    opt.eval_params(params)          # the point to evaluate / save (averaged
                                     # iterate for schedule-free and DoG), else params

`decay_biases=False` exempts the tensors with "bias": True from weight decay
(torch: a second parameter group with weight_decay 0). For the optimizers with
group-wide quantities this keeps one group (Prodigy's d, DoG's rbar and G,
schedule-free's weight sum are shared by all tensors); only the decay differs.

The fixtures (tools/make_field_fixtures.py, tools/make_parity_fixtures.py) run
these; `make_field_fixtures.py --check` tests them against PyTorch where a
comparable PyTorch optimizer exists.
"""
import math

import numpy as np

FLOAT32_EPS = 2.0 ** -23  # torch.finfo(torch.float32).eps


def _lerp(start, end, weight):
    """torch.lerp's formula (ATen): the weight < 0.5 branch from `start`, else from `end`."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


class _Optimizer:
    """Shared bookkeeping: the tensor list and the per-tensor weight decay."""

    def __init__(self, tensors, lr, weight_decay=0.0, decay_biases=True):
        self.tensors = [dict(t, shape=tuple(t["shape"])) for t in tensors]
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.decay_biases = bool(decay_biases)

    def decay_of(self, i):
        """The weight decay of tensor i (0 for a bias when decay_biases is off)."""
        return 0.0 if self.tensors[i]["bias"] and not self.decay_biases else self.weight_decay

    def eval_params(self, params):
        return params


class Adafactor(_Optimizer):
    """Adafactor as torch.optim.Adafactor (PyTorch 2.5+), single-tensor path.

    Source: pytorch/pytorch torch/optim/_adafactor.py, stored version at commit
    5f65158aefc31977355102011b310a7d020e5604 (`_single_tensor_adafactor` and the
    class docstring); the release code computes the param RMS BEFORE the weight
    decay (an earlier development version decayed first). Shazeer & Stern 2018,
    with PyTorch's deviations (lr caps rho_t; eps1 applied at the end).

    Hyperparameters: lr 1e-2, beta2_decay -0.8, eps (eps1, eps2) = (None, 1e-3),
    d 1.0, weight_decay 0.0 (decoupled, p *= 1 - lr*wd).
    Decision: eps1 None means torch.finfo(param.dtype).eps; our C++ trains in
    float32, so None -> 2**-23 (not float64's 2**-52).

    State: step t (shared count; torch keeps one per tensor, all equal);
    tensors with ndim >= 2: row_var, shape[:-1] + (1,), and col_var,
    shape[:-2] + (1, shape[-1]) -- factored over the LAST TWO dims, leading
    dims batched (a conv kernel (O, I, kh, kw) keeps O*I separate kh x kw
    factorizations); 1-D tensors: variance, full shape.

    Step t = 1, 2, ... for each tensor (p, g):
        w     = t ** beta2_decay                    (1 - beta2_t; = 1 at t = 1)
        rho   = min(lr, 1 / sqrt(t))
        alpha = max(eps2, ||p||_2 / sqrt(numel)) * rho     (RMS of p before decay)
        p     = p * (1 - lr * wd)                   (if wd != 0)
        ndim >= 2:
            row_var = lerp(row_var, mean(g^2 over dim -1), w)
            col_var = lerp(col_var, mean(g^2 over dim -2), w)
            V = (row_var @ col_var) / max(mean(row_var over dim -2), eps1)
        ndim == 1:
            variance = lerp(variance, g*g, w);  V = variance
        U = g / sqrt(max(V, eps1^2))            (torch: rsqrt(clamp_min(V, eps1^2)) * g)
        p = p - alpha / max(1, RMS(U) / d) * U
    lerp(a, b, w) = a + w (b - a); torch.lerp switches to b - (b - a)(1 - w)
    for w >= 0.5 (only step 1, w = 1, here), reproduced by _lerp.
    """

    def __init__(self, tensors, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0,
                 decay_biases=True):
        super().__init__(tensors, lr, weight_decay, decay_biases)
        self.beta2_decay = float(beta2_decay)
        eps1, eps2 = eps
        self.eps1 = FLOAT32_EPS if eps1 is None else float(eps1)
        self.eps2 = float(eps2)
        self.d = float(d)
        self.t = 0
        self.row_var, self.col_var, self.variance = [], [], []
        for t in self.tensors:
            shape = t["shape"]
            if len(shape) >= 2:
                self.row_var.append(np.zeros(shape[:-1] + (1,)))
                self.col_var.append(np.zeros(shape[:-2] + (1, shape[-1])))
                self.variance.append(None)
            else:
                self.row_var.append(None)
                self.col_var.append(None)
                self.variance.append(np.zeros(shape))

    def step(self, params, grads):
        self.t += 1
        t = float(self.t)
        w = t ** self.beta2_decay
        rho = min(self.lr, 1.0 / t ** 0.5)
        eps1 = self.eps1
        for i, (p, g) in enumerate(zip(params, grads)):
            alpha = max(self.eps2, np.linalg.norm(p.ravel()) / p.size ** 0.5) * rho
            wd = self.decay_of(i)
            if wd != 0:
                p *= 1.0 - self.lr * wd
            if p.ndim >= 2:
                self.row_var[i] = _lerp(self.row_var[i], np.mean(g * g, axis=-1, keepdims=True), w)
                self.col_var[i] = _lerp(self.col_var[i], np.mean(g * g, axis=-2, keepdims=True), w)
                var = np.matmul(self.row_var[i], self.col_var[i])
                var = var / np.maximum(np.mean(self.row_var[i], axis=-2, keepdims=True), eps1)
            else:
                self.variance[i] = _lerp(self.variance[i], g * g, w)
                var = self.variance[i].copy()
            update = g / np.sqrt(np.maximum(var, eps1 * eps1))
            denom = max(1.0, np.linalg.norm(update.ravel()) / (update.size ** 0.5 * self.d))
            p -= (alpha / denom) * update


def newton_schulz(matrix, coefficients, steps, eps):
    """Muon's quintic Newton-Schulz iteration, in float64 (torch runs it in bfloat16)."""
    a, b, c = coefficients
    x = np.array(matrix, dtype=np.float64)
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T
    x = x / max(np.linalg.norm(x), eps)  # Frobenius norm, clamped at eps
    for _ in range(steps):
        gram = x @ x.T
        gram_update = b * gram + c * (gram @ gram)
        x = a * x + gram_update @ x
    return x.T if transposed else x


class Muon(_Optimizer):
    """Muon as torch.optim.Muon (PyTorch 2.9), single-tensor path, with AdamW
    for the tensors Muon does not take.

    Source: pytorch/pytorch torch/optim/_muon.py, stored version at commit
    b5ee4d7a797023e11507aea90811559872ce8ff6 (`_single_tensor_muon`,
    `_zeropower_via_newtonschulz`, `_adjust_lr`); Keller Jordan's Muon and
    Moonshot's "Muon is Scalable for LLM Training" (the 0.2 sqrt(max(A, B)) rule).
    AdamW part: torch.optim.AdamW semantics (bias-corrected, decoupled decay).

    Hyperparameters: lr 1e-3, weight_decay 0.1, momentum 0.95, nesterov True,
    ns_coefficients (3.4445, -4.7750, 2.0315), eps 1e-7, ns_steps 5,
    adjust_lr_fn "match_rms_adamw" or "original", adamw_betas (0.9, 0.999),
    adamw_eps 1e-8.
    Decisions:
      - torch's own default is adjust_lr_fn=None == "original"; ours is
        "match_rms_adamw" (the lead's choice).
      - torch refuses params that are not 2-D; here every tensor with ndim >= 2
        is flattened to (shape[0], prod(shape[1:])) for the iteration and the
        lr adjustment; the 1-D tensors take AdamW with the same lr and decay.
      - Newton-Schulz runs in float64, not in torch's bfloat16 (not emulated).
    Note: the code's momentum is an EMA (lerp), not the docstring's
    B = mu B + g; the two differ by the factor (1 - mu), which the Frobenius
    normalisation removes (except through the eps clamp).

    State: momentum_buffer per Muon tensor; exp_avg, exp_avg_sq and a step
    count per AdamW tensor.

    Step, Muon tensor (p, g), A x B = (shape[0], numel / shape[0]):
        buf = lerp(buf, g, 1 - momentum)             (= momentum buf + (1 - momentum) g)
        u   = lerp(g, buf, momentum) if nesterov else buf
        X   = u as A x B; transpose if A > B
        X   = X / max(||X||_F, eps)
        ns_steps times:  S = X X^T;  T = b S + c S S;  X = a X + T X
        transpose back; O = X as p's shape
        lr_adj = lr * sqrt(max(1, A / B))            ("original")
               = lr * 0.2 * sqrt(max(A, B))          ("match_rms_adamw")
        p = p * (1 - lr * wd)                        (decay with the UNADJUSTED lr)
        p = p - lr_adj * O
    Step, AdamW tensor, its own count t = 1, 2, ...:
        p = p * (1 - lr * wd)
        m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    def __init__(self, tensors, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=(3.4445, -4.7750, 2.0315), eps=1e-7, ns_steps=5, adjust_lr_fn="match_rms_adamw",
                 adamw_betas=(0.9, 0.999), adamw_eps=1e-8, decay_biases=True):
        super().__init__(tensors, lr, weight_decay, decay_biases)
        if adjust_lr_fn not in ("original", "match_rms_adamw"):
            raise ValueError(f"adjust_lr_fn must be 'original' or 'match_rms_adamw', got {adjust_lr_fn!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.ns_coefficients = tuple(float(c) for c in ns_coefficients)
        self.eps = float(eps)
        self.ns_steps = int(ns_steps)
        self.adjust_lr_fn = adjust_lr_fn
        self.beta1, self.beta2 = (float(b) for b in adamw_betas)
        self.adamw_eps = float(adamw_eps)
        self.is_muon = [len(t["shape"]) >= 2 for t in self.tensors]
        self.buf = [np.zeros(t["shape"]) if m else None for t, m in zip(self.tensors, self.is_muon)]
        self.exp_avg = [None if m else np.zeros(t["shape"]) for t, m in zip(self.tensors, self.is_muon)]
        self.exp_avg_sq = [None if m else np.zeros(t["shape"]) for t, m in zip(self.tensors, self.is_muon)]
        self.adamw_steps = [0] * len(self.tensors)

    def adjusted_lr(self, rows, cols):
        if self.adjust_lr_fn == "original":
            return self.lr * math.sqrt(max(1.0, rows / cols))
        return self.lr * 0.2 * math.sqrt(max(rows, cols))

    def step(self, params, grads):
        for i, (p, g) in enumerate(zip(params, grads)):
            wd = self.decay_of(i)
            if self.is_muon[i]:
                self.buf[i] = _lerp(self.buf[i], g, 1.0 - self.momentum)
                update = _lerp(g, self.buf[i], self.momentum) if self.nesterov else self.buf[i]
                rows = p.shape[0]
                cols = p.size // rows
                ortho = newton_schulz(update.reshape(rows, cols), self.ns_coefficients, self.ns_steps, self.eps)
                p *= 1.0 - self.lr * wd
                p -= self.adjusted_lr(rows, cols) * ortho.reshape(p.shape)
            else:
                self.adamw_steps[i] += 1
                t = self.adamw_steps[i]
                p *= 1.0 - self.lr * wd
                self.exp_avg[i] = self.beta1 * self.exp_avg[i] + (1.0 - self.beta1) * g
                self.exp_avg_sq[i] = self.beta2 * self.exp_avg_sq[i] + (1.0 - self.beta2) * g * g
                step_size = self.lr / (1.0 - self.beta1 ** t)
                denom = np.sqrt(self.exp_avg_sq[i]) / math.sqrt(1.0 - self.beta2 ** t) + self.adamw_eps
                p -= step_size * (self.exp_avg[i] / denom)


class Lion(_Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").

    Source: google/automl lion/lion_pytorch.py, stored version at commit
    87461ee96d8bbfcaf1edd4fbd8659d31d3760a50.

    Hyperparameters: lr 1e-4, betas (0.9, 0.99), weight_decay 0.0 (decoupled).
    State: exp_avg (m) per element.

    Step, per tensor (p, g):
        p = p * (1 - lr * wd)
        c = beta1 m + (1 - beta1) g          (interpolation for the update)
        p = p - lr * sign(c)                 (sign(0) = 0)
        m = beta2 m + (1 - beta2) g          (the momentum uses beta2, after the update)
    """

    def __init__(self, tensors, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, decay_biases=True):
        super().__init__(tensors, lr, weight_decay, decay_biases)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.exp_avg = [np.zeros(t["shape"]) for t in self.tensors]

    def step(self, params, grads):
        for i, (p, g) in enumerate(zip(params, grads)):
            p *= 1.0 - self.lr * self.decay_of(i)
            update = self.exp_avg[i] * self.beta1 + g * (1.0 - self.beta1)
            p -= self.lr * np.sign(update)
            self.exp_avg[i] = self.exp_avg[i] * self.beta2 + (1.0 - self.beta2) * g


class _ScheduleFree(_Optimizer):
    """The averaging weights shared by both schedule-free references."""

    def __init__(self, tensors, lr, weight_decay, warmup_steps, r, weight_lr_power, decay_biases):
        super().__init__(tensors, lr, weight_decay, decay_biases)
        self.warmup_steps = int(warmup_steps)
        self.r = float(r)
        self.weight_lr_power = float(weight_lr_power)
        self.k = 0
        self.lr_max = -1.0
        self.weight_sum = 0.0
        self.z = None
        self.x = None

    def warmup_factor(self):
        return (self.k + 1) / self.warmup_steps if self.k < self.warmup_steps else 1.0

    def average_weight(self, lr_t):
        """ckp1, the weight of the new z in x, after updating lr_max and the weight sum."""
        self.lr_max = max(lr_t, self.lr_max)
        weight = (self.k + 1) ** self.r * self.lr_max ** self.weight_lr_power
        self.weight_sum += weight
        return weight / self.weight_sum if self.weight_sum != 0 else 0.0

    def first_step(self, params):
        if self.z is None:
            self.z = [p.copy() for p in params]
            self.x = [p.copy() for p in params]

    def eval_params(self, params):
        return params if self.x is None else [x.copy() for x in self.x]


class SgdScheduleFree(_ScheduleFree):
    """Schedule-Free SGD (Defazio et al. 2024, "The Road Less Scheduled").

    Source: facebookresearch/schedule_free schedulefree/sgd_schedulefree_reference.py,
    stored versions at commits 59ed9b662d5ec5799aded7390b2482758423653c and
    b3be06f3df5670edfa9af00b8d52413b1f00b7ec (same algorithm).

    Hyperparameters (the file's defaults): lr 1.0, momentum 0.9 (in (0, 1)),
    weight_decay 0 (L2 on the gradient, at y), warmup_steps 0, r 0,
    weight_lr_power 2.

    State: z and x per element (y is the param itself, the training point);
    group scalars k (steps done), lr_max (starts at -1), weight_sum (starts at 0).
    z and x start as copies of the params at the first step.

    Step (k = 0, 1, ...):
        lr_t   = lr * ((k + 1) / warmup_steps if k < warmup_steps else 1)
        lr_max = max(lr_t, lr_max)
        weight = (k + 1)^r * lr_max^weight_lr_power;  weight_sum += weight
        c      = weight / weight_sum  (0 if weight_sum == 0; c = 1 at the first step)
        per tensor: g = g + wd * y
                    z = z - lr_t * g
                    x = (1 - c) x + c z
                    y = momentum x + (1 - momentum) z;  p = y
        k += 1
    eval_params returns x.
    Note: our C++ gets the warm-up from its schedule (lr_t = lr * (t+1)/warmup);
    here warmup_steps is computed inside, as the reference file does.
    """

    def __init__(self, tensors, lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0, r=0.0, weight_lr_power=2.0,
                 decay_biases=True):
        super().__init__(tensors, lr, weight_decay, warmup_steps, r, weight_lr_power, decay_biases)
        if not 0 < momentum < 1:
            raise ValueError("momentum must be in (0, 1)")
        self.momentum = float(momentum)

    def step(self, params, grads):
        self.first_step(params)
        lr_t = self.lr * self.warmup_factor()
        ckp1 = self.average_weight(lr_t)
        for i, (p, g) in enumerate(zip(params, grads)):
            wd = self.decay_of(i)
            if wd != 0:
                g = g + wd * p
            self.z[i] = self.z[i] - lr_t * g
            self.x[i] = self.x[i] * (1.0 - ckp1) + ckp1 * self.z[i]
            p[...] = self.x[i] * self.momentum + (1.0 - self.momentum) * self.z[i]
        self.k += 1


class AdamWScheduleFree(_ScheduleFree):
    """Schedule-Free AdamW (Defazio et al. 2024), the simplified reference.

    Source: facebookresearch/schedule_free schedulefree/adamw_schedulefree_reference.py,
    stored versions at commits 1fb6be511a11a7901ee033fe63b5de7bb5ce1f68 and
    76e631b86c6134519e0dac69245c82a85a6d4d56 (same algorithm).

    Hyperparameters (the file's defaults): lr 0.0025, betas (0.9, 0.999),
    eps 1e-8, weight_decay 0, warmup_steps 0, r 0, weight_lr_power 2,
    decay_at_z False.

    State: z, x and exp_avg_sq (v) per element (y = the param); group scalars
    k, lr_max (-1), weight_sum (0). No first moment: beta1 is the y interpolation.

    Step (k = 0, 1, ...):
        lr_t   = lr * warmup(k) * sqrt(1 - beta2^(k+1))   (bias correction in lr)
        lr_max = max(lr_t, lr_max)                          (so lr_max keeps growing with
        weight = (k + 1)^r * lr_max^weight_lr_power           the bias correction)
        weight_sum += weight;  c = weight / weight_sum
        per tensor: z = z - lr_t * wd * (z if decay_at_z else y)      (if wd != 0)
                    v = beta2 v + (1 - beta2) g^2
                    z = z - lr_t * g / (sqrt(v) + eps)                (v not bias-corrected)
                    x = (1 - c) x + c z
                    y = beta1 x + (1 - beta1) z;  p = y
        k += 1
    eval_params returns x. (The file's `lr = max(group['lr'], eps)` is dead code:
    lr is reassigned before use.)
    """

    def __init__(self, tensors, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, warmup_steps=0, r=0.0,
                 weight_lr_power=2.0, decay_at_z=False, decay_biases=True):
        super().__init__(tensors, lr, weight_decay, warmup_steps, r, weight_lr_power, decay_biases)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.decay_at_z = bool(decay_at_z)
        self.exp_avg_sq = [np.zeros(t["shape"]) for t in self.tensors]

    def step(self, params, grads):
        self.first_step(params)
        lr_t = self.lr * self.warmup_factor() * math.sqrt(1.0 - self.beta2 ** (self.k + 1))
        ckp1 = self.average_weight(lr_t)
        for i, (p, g) in enumerate(zip(params, grads)):
            wd = self.decay_of(i)
            if wd != 0:
                decay_point = self.z[i] if self.decay_at_z else p
                self.z[i] = self.z[i] - lr_t * wd * decay_point
            self.exp_avg_sq[i] = self.exp_avg_sq[i] * self.beta2 + (1.0 - self.beta2) * g * g
            denom = np.sqrt(self.exp_avg_sq[i]) + self.eps
            self.z[i] = self.z[i] - lr_t * (g / denom)
            self.x[i] = self.x[i] * (1.0 - ckp1) + ckp1 * self.z[i]
            p[...] = self.x[i] * self.beta1 + (1.0 - self.beta1) * self.z[i]
        self.k += 1


class Prodigy(_Optimizer):
    """Prodigy (Mishchenko & Defazio 2023): Adam with a D-adapted step size.

    Source: konstmish/prodigy prodigyopt/prodigy.py, stored version at commit
    a1b4f0eff7ef988ac10d6f11f26b0da15d254588 (the one with `delta_numerator`
    and the beta1 = 0 branch; version 009a7156 accumulates into d_numerator
    directly, the same sum in another order). slice_p 1, no FSDP.

    Hyperparameters: lr 1.0, betas (0.9, 0.999), beta3 None (= sqrt(beta2)),
    eps 1e-8, weight_decay 0, decouple True, use_bias_correction False,
    safeguard_warmup False, d0 1e-6, d_coef 1.0, growth_rate inf.

    State: group scalars d (starts d0), d_max (d0), d_numerator (0), k (0);
    per element: p0 (the params at the first step), s, exp_avg (if beta1 > 0),
    exp_avg_sq.

    Step (d is the value from the previous step throughout the first loop):
        bc  = sqrt(1 - beta2^(k+1)) / (1 - beta1^(k+1)) if use_bias_correction else 1
        dlr = d * lr * bc
        per tensor, in order:
            g  = g + wd * p                     (only if not decouple; this g is used below)
            delta   += (d / d0) * dlr * dot(g, p0 - p)
            m  = beta1 m + d (1 - beta1) g      (if beta1 > 0)
            v  = beta2 v + d^2 (1 - beta2) g^2
            s  = beta3 s + ((d / d0) * d if safeguard_warmup else (d / d0) * dlr) * g
            d_denom += sum |s|
        if d_denom == 0: return  (nothing more happens: no update, k not advanced)
        d_numerator = beta3 * d_numerator + delta
        d_hat = d_coef * d_numerator / d_denom
        if d == d0: d = max(d, d_hat)
        d_max = max(d_max, d_hat)
        d = min(d_max, d * growth_rate)         (growth inf: d = d_max)
        per tensor (d is now the NEW d, dlr still the old one):
            denom = sqrt(v) + d * eps
            p = p + p * (-wd * dlr)             (if decouple and wd != 0)
            p = p - dlr * m / denom             (beta1 > 0)
            p = p - dlr * d * g / denom         (beta1 == 0)
        k += 1
    """

    def __init__(self, tensors, lr=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, weight_decay=0.0, decouple=True,
                 use_bias_correction=False, safeguard_warmup=False, d0=1e-6, d_coef=1.0, growth_rate=float("inf"),
                 decay_biases=True):
        super().__init__(tensors, lr, weight_decay, decay_biases)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.beta3 = math.sqrt(self.beta2) if beta3 is None else float(beta3)
        self.eps = float(eps)
        self.decouple = bool(decouple)
        self.use_bias_correction = bool(use_bias_correction)
        self.safeguard_warmup = bool(safeguard_warmup)
        self.d0 = float(d0)
        self.d_coef = float(d_coef)
        self.growth_rate = float(growth_rate)
        self.d = self.d0
        self.d_max = self.d0
        self.d_numerator = 0.0
        self.k = 0
        self.p0 = None
        self.s = [np.zeros(t["shape"]) for t in self.tensors]
        self.exp_avg = [np.zeros(t["shape"]) for t in self.tensors]
        self.exp_avg_sq = [np.zeros(t["shape"]) for t in self.tensors]

    def step(self, params, grads):
        if self.p0 is None:
            self.p0 = [p.copy() for p in params]
        beta1, beta2, beta3 = self.beta1, self.beta2, self.beta3
        d, d0 = self.d, self.d0
        if self.use_bias_correction:
            bias_correction = (1.0 - beta2 ** (self.k + 1)) ** 0.5 / (1.0 - beta1 ** (self.k + 1))
        else:
            bias_correction = 1.0
        dlr = d * self.lr * bias_correction
        delta_numerator = 0.0
        d_denom = 0.0
        used = []
        for i, (p, g) in enumerate(zip(params, grads)):
            wd = self.decay_of(i)
            if wd != 0 and not self.decouple:
                g = g + wd * p
            used.append(g)
            delta_numerator += (d / d0) * dlr * float(np.dot(g.ravel(), (self.p0[i] - p).ravel()))
            if beta1 > 0:
                self.exp_avg[i] = self.exp_avg[i] * beta1 + d * (1.0 - beta1) * g
            self.exp_avg_sq[i] = self.exp_avg_sq[i] * beta2 + d * d * (1.0 - beta2) * g * g
            s_coef = (d / d0) * d if self.safeguard_warmup else (d / d0) * dlr
            self.s[i] = self.s[i] * beta3 + s_coef * g
            d_denom += float(np.abs(self.s[i]).sum())
        if d_denom == 0:
            return
        d_numerator = self.d_numerator * beta3 + delta_numerator
        d_hat = self.d_coef * d_numerator / d_denom
        if d == d0:
            d = max(d, d_hat)
        self.d_max = max(self.d_max, d_hat)
        d = min(self.d_max, d * self.growth_rate)
        self.d_numerator = d_numerator
        self.d = d
        for i, (p, g) in enumerate(zip(params, used)):
            wd = self.decay_of(i)
            denom = np.sqrt(self.exp_avg_sq[i]) + d * self.eps
            if wd != 0 and self.decouple:
                p += p * (-wd * dlr)
            if beta1 > 0:
                p -= dlr * (self.exp_avg[i] / denom)
            else:
                p -= dlr * d * (g / denom)
        self.k += 1


class DoG(_Optimizer):
    """DoG, "Distance over Gradients" (Ivgi, Hinder & Carmon 2023), the global
    (not layer-wise) variant, with the polynomial-decay iterate average.

    Sources: formll/dog src/dog/dog.py, class DoG, stored versions at commits
    90d70fa511eea5206db051317c3a301d11f3c25d (__version__ 1.0.2) and
    7d1d216aba603eaf6291bf34447020f5375a045a (1.0.0), same algorithm as
    src/dog/torch/dog.py (1.1.0, commit 7c2fd4b2); the averager is
    PolynomialDecayAverager in src/dog/torch/averager.py (commit ea39bb40),
    Shamir & Zhang 2013, called after every optimizer step.

    Hyperparameters: lr 1.0 (c in the paper), reps_rel 1e-6, weight_decay 0.0
    (L2: added to the gradient, before the norms), eps 1e-8, init_eta None;
    avg_gamma 8 (the averager's gamma).

    State: x0 (the params at the first step), rbar and G (group scalars),
    the first-step flag; the averager's x_avg per element and its count t.

    Step:
        g = g + wd * p                                  (if wd > 0; g used everywhere below)
        first step:  x0 = p;  rbar = reps_rel * (1 + ||x0||);  G = ||g||^2 + eps
        later:       rbar = max(rbar, ||p - x0||);          G = G + ||g||^2
        eta = lr * rbar / sqrt(G)
        first step with init_eta: eta = init_eta (reps_rel is then 0, so rbar
            starts at 0 and becomes max(0, ||p - x0||) from step 2)
        p = p - eta * g
        averager, t = 1, 2, ...:  w = (gamma + 1) / (gamma + t)
                                  x_avg = (1 - w) x_avg + w p    (w = 1 at t = 1)
    ||.|| is over all tensors together (torch: the norm of the stacked
    per-tensor norms), measured at the current params BEFORE the update.
    eval_params returns x_avg.
    """

    def __init__(self, tensors, lr=1.0, reps_rel=1e-6, weight_decay=0.0, eps=1e-8, init_eta=None, avg_gamma=8.0,
                 decay_biases=True):
        super().__init__(tensors, lr, weight_decay, decay_biases)
        self.init_eta = None if init_eta is None else float(init_eta)
        self.reps_rel = 0.0 if init_eta is not None else float(reps_rel)
        self.eps = float(eps)
        self.gamma = float(avg_gamma)
        self.x0 = None
        self.rbar = None
        self.G = None
        self.avg = None
        self.avg_t = 1

    @staticmethod
    def _global_norm(arrays):
        return math.sqrt(sum(float(np.linalg.norm(a.ravel())) ** 2 for a in arrays))

    def step(self, params, grads):
        grads = [g + self.decay_of(i) * p if self.decay_of(i) > 0 else g
                 for i, (p, g) in enumerate(zip(params, grads))]
        g_sq = sum(float(np.sum(g * g)) for g in grads)
        first = self.x0 is None
        if first:
            self.x0 = [p.copy() for p in params]
            self.avg = [p.copy() for p in params]
            self.rbar = self.reps_rel * (1.0 + self._global_norm(params))
            self.G = g_sq + self.eps
        else:
            self.rbar = max(self.rbar, self._global_norm([p - x0 for p, x0 in zip(params, self.x0)]))
            self.G += g_sq
        if not self.G > 0:
            raise ValueError("DoG cannot work when G is not strictly positive")
        eta = self.lr * self.rbar / math.sqrt(self.G)
        if first and self.init_eta is not None:
            eta = self.init_eta
        for p, g in zip(params, grads):
            p -= eta * g
        w = (self.gamma + 1.0) / (self.gamma + self.avg_t)
        for a, p in zip(self.avg, params):
            a *= 1.0 - w
            a += w * p
        self.avg_t += 1

    def eval_params(self, params):
        return params if self.avg is None else [a.copy() for a in self.avg]


# Our CLI names -> classes.
REFERENCES = {
    "adafactor": Adafactor,
    "muon": Muon,
    "lion": Lion,
    "sgd-schedulefree": SgdScheduleFree,
    "adamw-schedulefree": AdamWScheduleFree,
    "prodigy": Prodigy,
    "dog": DoG,
}
