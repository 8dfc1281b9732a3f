"""The optimisation recipe of docs/method.md ("Training recipe"), as ScaleKD.Torch's Training/Optimization runs it:
timm's weight-decay grouping, the per-step warm-up and cosine schedule, and LAMB as timm implements it (PyTorch has
AdamW and SGD). The optimizer fixtures of tests/reference are written from these."""
import fnmatch
import math

import torch

NO_WEIGHT_DECAY = ("pos_embed", "cls_token", "dist_token", "absolute_pos_embed", "relative_position_bias_table")


def weight_decay_groups(model, weight_decay, exclude, no_weight_decay=NO_WEIGHT_DECAY, named_parameters=None):
    """timm's param_groups_weight_decay, as OptimizerFactory.GroupByWeightDecay: 1-D parameters, biases and the
    no-weight-decay names (fnmatch patterns, against the full name or its last segment) first with decay 0; empty
    groups left out; parameters that need no gradient left out."""
    named = [(n, p) for n, p in (named_parameters if named_parameters is not None else model.named_parameters()) if p.requires_grad]
    if (not exclude and not no_weight_decay) or weight_decay == 0:
        return [{"params": [p for _, p in named], "weight_decay": weight_decay}]
    spared, decayed = [], []
    for name, p in named:
        last = name.rsplit(".", 1)[-1]
        if (exclude and (p.ndim <= 1 or name.endswith(".bias"))) or any(
                fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(last, pattern) for pattern in no_weight_decay):
            spared.append(p)
        else:
            decayed.append(p)
    groups = [{"params": spared, "weight_decay": 0.0}, {"params": decayed, "weight_decay": weight_decay}]
    return [g for g in groups if g["params"]]


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


def lamb_state(optimizer):
    """LambReference's state as tensors (step counts and moments by parameter position), for checkpoints."""
    params = [p for g in optimizer.groups for p in g["params"]]
    state = {"steps": torch.tensor([g["step"] for g in optimizer.groups], dtype=torch.int64)}
    for i, p in enumerate(params):
        if p in optimizer.moments:
            state[f"m.{i}"], state[f"v.{i}"] = optimizer.moments[p]
    return state


def load_lamb_state(optimizer, state):
    params = [p for g in optimizer.groups for p in g["params"]]
    for g, step in zip(optimizer.groups, state["steps"].tolist()):
        g["step"] = step
    for i, p in enumerate(params):
        if f"m.{i}" in state:
            optimizer.moments[p] = (state[f"m.{i}"].to(p), state[f"v.{i}"].to(p))
