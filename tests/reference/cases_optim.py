"""Optimizer fixtures: LAMB (python/scalekd/optim.py, a hand-written reference of timm's algorithm, which the official
ScaleKD code copies),
PyTorch's own AdamW and SGD, each driven for a few steps by the per-step schedules of
src/ScaleKD.Torch/Training/Optimization on a tiny token model, with timm's weight-decay grouping.

Keys: param.<name> the initial weights; input.x (steps, N, 4, 6) and input.y (steps, N) one batch per step;
input.lr (steps,) float64 the scheduled learning rate of each step; output.loss (steps,) the loss before each step;
output.<name> the weights after the last step.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from fixture import randomize_
from scalekd.optim import LambReference, step_decay, warmup_cosine, weight_decay_groups

STEPS = 6
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
        32, lambda m: LambReference(weight_decay_groups(m, 0.02, False, no_weight_decay=()), lr=0.0, eps=1e-6, max_grad_norm=None,
                                    trust_clip=True, always_adapt=True),
        lambda s: warmup_cosine(s, 0.02, STEPS, 2, 0.02 * 0.25, 0.0))
    yield "optim_adamw", train_case(
        33, lambda m: torch.optim.AdamW(weight_decay_groups(m, 0.05, True), lr=0.0, betas=(0.9, 0.999), eps=1e-8),
        lambda s: warmup_cosine(s, 0.01, STEPS, 2, 0.01 * 1e-3, 1e-5))
    yield "optim_sgd", train_case(
        34, lambda m: torch.optim.SGD(weight_decay_groups(m, 1e-4, False, no_weight_decay=()), lr=0.0, momentum=0.9, nesterov=True),
        lambda s: step_decay(s, 0.1, (2, 4), 0.1))
