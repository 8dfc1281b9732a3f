"""Fixtures for the ScaleKD components: CAP (both query kinds, BN and LN stems), both DFM views, logit KD, DIST and
FitNet. Whole-pair ScaleKDObjective fixtures live in cases_pairs.py."""
import torch

import scalekd.losses as ref
from fixture import randomize_, state


def _generator(seed):
    return torch.Generator().manual_seed(seed)


def cap_case(seed, self_query, layer_norm_stem, student=(12, 6, 6), teacher=(16, 3, 3), heads=4, softmax_scale=5.0):
    cs, hs, ws = student
    ct, ht, wt = teacher
    cap = ref.CrossAttentionProjector(cs, (hs, ws), ct, (ht, wt), heads, softmax_scale, layer_norm_stem, self_query)
    randomize_(cap, seed)
    cap.train()  # BatchNorm in training mode, as during distillation
    tensors = state(cap)  # before the forward, which moves BatchNorm's running statistics
    g = _generator(seed + 1)
    x = torch.randn(2, cs, hs, ws, generator=g).requires_grad_(True)
    queries = None if self_query else torch.randn(2, ht * wt, ct, generator=g).requires_grad_(True)
    out = cap(x, queries)
    weights = torch.randn(out.shape, generator=g)
    (out * weights).sum().backward()
    tensors.update({"input.x": x.detach(), "input.out_weights": weights, "output.tokens": out.detach(), "grad.x": x.grad})
    if queries is not None:
        tensors.update({"input.queries": queries.detach(), "grad.queries": queries.grad})
    return tensors


def dfm_case(seed):
    g = _generator(seed)
    s = torch.randn(3, 8, 5, 4, generator=g).requires_grad_(True)
    t = torch.randn(3, 8, 5, 4, generator=g)
    spatial = ref.spatial_loss(s, t, 0.08)
    frequency = ref.frequency_loss(s, t, 0.06)
    (spatial + frequency).backward()
    # The explicit basis must equal the official FFT-based DCT-II.
    x = torch.randn(7, 6, generator=g, dtype=torch.float64)
    assert torch.allclose(x @ ref.dct_matrix(6).t(), ref.dct_via_fft(x), atol=1e-10)
    return {"input.student": s.detach(), "input.teacher": t, "output.spatial": spatial.detach(),
            "output.frequency": frequency.detach(), "grad.student": s.grad,
            "input.signal": x.float(), "output.dct": ref.dct_via_fft(x).float()}


def logit_case(seed):
    g = _generator(seed)
    zs = (torch.randn(4, 10, generator=g) * 3).requires_grad_(True)
    zt = torch.randn(4, 10, generator=g) * 3
    kd = ref.soft_target_loss(zs, zt, 1.0)
    kd_t4 = ref.soft_target_loss(zs, zt, 4.0)
    dist = ref.dist_loss(zs, zt, 1.0, 1.0, 1.0)
    grads = {}
    for name, loss in (("kd", kd), ("kd_t4", kd_t4), ("dist", dist)):
        grads[f"grad.{name}"], = torch.autograd.grad(loss, zs, retain_graph=True)
    return {"input.student_logits": zs.detach(), "input.teacher_logits": zt, "output.kd": kd.detach(),
            "output.kd_t4": kd_t4.detach(), "output.dist": dist.detach(), **grads}


def fitnet_case(seed):
    fit = ref.FitNetRegressor(6, 10)
    randomize_(fit, seed)
    g = _generator(seed + 1)
    s = torch.randn(2, 6, 8, 8, generator=g).requires_grad_(True)
    t = torch.randn(2, 10, 4, 4, generator=g)
    loss = fit(s, t)
    loss.backward()
    tensors = state(fit)
    tensors.update({"input.student": s.detach(), "input.teacher": t, "output.loss": loss.detach(), "grad.student": s.grad})
    return tensors


def cases():
    yield "cap_self_query_bn", cap_case(100, self_query=True, layer_norm_stem=False)
    yield "cap_input_query_bn", cap_case(101, self_query=False, layer_norm_stem=False)
    yield "cap_self_query_ln", cap_case(102, self_query=True, layer_norm_stem=True, softmax_scale=1.0)
    # A student grid larger than the query grid (ViT-like students: 14x14 keys, 7x7 queries).
    yield "cap_input_query_bn_downgrid", cap_case(103, self_query=False, layer_norm_stem=False, student=(12, 6, 6), teacher=(16, 2, 2))
    yield "dfm_views", dfm_case(200)
    yield "logit_losses", logit_case(300)
    yield "fitnet", fitnet_case(400)
