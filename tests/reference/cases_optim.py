"""Optimizer fixtures: LAMB (a hand-written reference of timm's algorithm, which the official ScaleKD code copies),
PyTorch's own AdamW and SGD, each driven for a few steps by the per-step schedules of
src/ScaleKD.Torch/Training/Optimization on a tiny token model, with timm's weight-decay grouping.

Keys: param.<name> the initial weights; input.x (steps, N, 4, 6) and input.y (steps, N) one batch per step;
input.lr (steps,) float64 the scheduled learning rate of each step; output.loss (steps,) the loss before each step;
output.<name> the weights after the last step.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from fixture import randomize_

STEPS = 6
NO_WEIGHT_DECAY = ("pos_embed", "cls_token", "dist_token", "absolute_pos_embed", "relative_position_bias_table")
LOSS_SCALE = 4.0  # large enough gradients that LAMB's global clip at 1.0 acts


class TinyTokenNet(nn.Module):
    """Tokens (N, 4, 6) + a position embedding, Linear, tanh, LayerNorm, token mean, Linear head: one parameter of
    every kind the grouping distinguishes (3-D embedding, 2-D weights, biases, norm scale and shift)."""

    def __init__(self):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, 4, 6))
        self.fc1 = nn.Linear(6, 8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.tanh(self.fc1(x + self.pos_embed))
        return self.head(self.norm(h).mean(1))


def weight_decay_groups(model, weight_decay, exclude):
    """timm's param_groups_weight_decay: 1-D parameters, biases and the no-weight-decay names first with decay 0."""
    if not exclude:
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    spared, decayed = [], []
    for name, p in model.named_parameters():
        last = name.rsplit(".", 1)[-1]
        if p.ndim <= 1 or name.endswith(".bias") or name in NO_WEIGHT_DECAY or last in NO_WEIGHT_DECAY:
            spared.append(p)
        else:
            decayed.append(p)
    return [{"params": spared, "weight_decay": 0.0}, {"params": decayed, "weight_decay": weight_decay}]


def warmup_cosine(step, peak, total, warmup, initial, minimum):
    if step < warmup:
        return initial + (peak - initial) * step / warmup
    if step >= total:
        return minimum
    return minimum + 0.5 * (peak - minimum) * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


def step_decay(step, peak, milestones, gamma):
    return peak * gamma ** sum(1 for m in milestones if m <= step)


class LambReference:
    """LAMB as timm implements it: optional global gradient clip (grads divided in place by max(1, |g|/max_norm),
    |g| the norm of per-parameter norms), Adam moments with bias correction and gradient averaging, L2 decay inside
    the update, trust ratio |w|/|u| (1 where a norm is 0; at most 1 with trust_clip) on groups with decay or with
    always_adapt. One step count per group, advanced on every step."""

    def __init__(self, groups, lr, betas=(0.9, 0.999), eps=1e-6, max_grad_norm=1.0, trust_clip=False, always_adapt=False):
        self.groups = [dict(g, lr=lr, step=0) for g in groups]
        self.betas, self.eps, self.max_grad_norm = betas, eps, max_grad_norm
        self.trust_clip, self.always_adapt = trust_clip, always_adapt
        self.moments = {}

    @torch.no_grad()
    def step(self):
        beta1, beta2 = self.betas
        divisor = None
        if self.max_grad_norm is not None:
            norms = [torch.linalg.vector_norm(p.grad) for g in self.groups for p in g["params"] if p.grad is not None]
            divisor = (torch.linalg.vector_norm(torch.stack(norms)) / self.max_grad_norm).clamp(min=1.0)
        for g in self.groups:
            g["step"] += 1
            c1 = 1 - beta1 ** g["step"]
            c2 = 1 - beta2 ** g["step"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if divisor is not None:
                    grad.div_(divisor)
                m, v = self.moments.setdefault(p, (torch.zeros_like(p), torch.zeros_like(p)))
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                update = (m / c1).div_((v.sqrt() / math.sqrt(c2)).add_(self.eps))
                if g["weight_decay"] != 0:
                    update.add_(p, alpha=g["weight_decay"])
                if g["weight_decay"] != 0 or self.always_adapt:
                    w_norm = torch.linalg.vector_norm(p)
                    u_norm = torch.linalg.vector_norm(update)
                    one = torch.ones_like(w_norm)
                    ratio = torch.where(w_norm > 0, torch.where(u_norm > 0, w_norm / u_norm, one), one)
                    if self.trust_clip:
                        ratio = ratio.clamp(max=1.0)
                    update.mul_(ratio)
                p.add_(update, alpha=-g["lr"])


def train_case(seed, make_optimizer, schedule):
    model = TinyTokenNet()
    randomize_(model, seed)
    tensors = {f"param.{k}": v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(seed + 1)
    xs = torch.randn(STEPS, 5, 4, 6, generator=g)
    ys = torch.randint(0, 3, (STEPS, 5), generator=g)
    optimizer = make_optimizer(model)
    lrs, losses = [], []
    for step in range(STEPS):
        lr = schedule(step)
        for group in (optimizer.groups if isinstance(optimizer, LambReference) else optimizer.param_groups):
            group["lr"] = lr
        for p in model.parameters():
            p.grad = None
        loss = F.cross_entropy(model(xs[step]), ys[step]) * LOSS_SCALE
        loss.backward()
        optimizer.step()
        lrs.append(lr)
        losses.append(loss.detach())
    tensors.update({"input.x": xs, "input.y": ys, "input.lr": torch.tensor(lrs, dtype=torch.float64),
                    "output.loss": torch.stack(losses)})
    tensors.update({f"output.{k}": v.detach().clone() for k, v in model.state_dict().items()})
    return tensors


def cases():
    # LAMB as OptimizerFactory builds it (grouped, internal clip 1.0), under the LAMB recipe's schedule shape.
    yield "optim_lamb", train_case(
        31, lambda m: LambReference(weight_decay_groups(m, 0.02, True), lr=0.0, eps=1e-6, max_grad_norm=1.0),
        lambda s: warmup_cosine(s, 0.02, STEPS, 2, 0.02 * 0.25, 0.0))
    # LAMBC variant: trust ratio clipped at 1, adapted on every group, no internal clip, every parameter decayed.
    yield "optim_lambc", train_case(
        32, lambda m: LambReference(weight_decay_groups(m, 0.02, False), lr=0.0, eps=1e-6, max_grad_norm=None,
                                    trust_clip=True, always_adapt=True),
        lambda s: warmup_cosine(s, 0.02, STEPS, 2, 0.02 * 0.25, 0.0))
    yield "optim_adamw", train_case(
        33, lambda m: torch.optim.AdamW(weight_decay_groups(m, 0.05, True), lr=0.0, betas=(0.9, 0.999), eps=1e-8),
        lambda s: warmup_cosine(s, 0.01, STEPS, 2, 0.01 * 1e-3, 1e-5))
    yield "optim_sgd", train_case(
        34, lambda m: torch.optim.SGD(weight_decay_groups(m, 1e-4, False), lr=0.0, momentum=0.9, nesterov=True),
        lambda s: step_decay(s, 0.1, (2, 4), 0.1))
