"""The ScaleKD components (docs/method.md; official code mmcls/models/dis_losses/fmdv2.py and
classifiers/distiller.py): the projector, the DCT, both feature-loss views, the logit losses. The PyTorch job trains
with them and tests/reference writes the parity fixtures from them. Module and parameter names are the ones
ScaleKD.Torch uses."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map (timm's LayerNorm2d)."""

    def forward(self, x):
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class ProjectorAttention(nn.Module):
    """One cross-attention layer: queries from the teacher side, keys/values from the student map (docs/method.md, Cross Attention Projector, step 4)."""

    def __init__(self, teacher_dims, student_dims, heads, softmax_scale):
        super().__init__()
        self.heads, self.softmax_scale = heads, softmax_scale
        self.q = nn.Linear(teacher_dims, teacher_dims)
        self.k = nn.Linear(student_dims, teacher_dims)
        self.v = nn.Linear(student_dims, teacher_dims)
        self.proj = nn.Linear(teacher_dims, teacher_dims)

    def forward(self, kv, queries):
        n, l, _ = kv.shape
        q_len, dims = queries.shape[1], self.q.out_features
        d = dims // self.heads
        q = self.q(queries).reshape(n, q_len, self.heads, d).transpose(1, 2)
        k = self.k(kv).reshape(n, l, self.heads, d).transpose(1, 2)
        v = self.v(kv).reshape(n, l, self.heads, d).transpose(1, 2)
        attn = ((q @ k.transpose(-2, -1)) * d ** -0.5 * self.softmax_scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, q_len, dims))


class ProjectorFfn(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.fc1 = nn.Linear(dims, dims * 4)
        self.fc2 = nn.Linear(dims * 4, dims)

    def forward(self, x):
        return x + self.fc2(F.relu(self.fc1(x)))  # mmcv FFN: identity is its (normalised) input


class CrossAttentionProjector(nn.Module):
    """CAP (docs/method.md, Cross Attention Projector): student map (N, Cs, Hs, Ws) -> tokens (N, Hq*Wq, Ct)."""

    def __init__(self, student_dims, student_hw, teacher_dims, query_hw, heads, softmax_scale, layer_norm_stem, self_query):
        super().__init__()
        self.query_hw, self.teacher_dims = query_hw, teacher_dims
        norm = LayerNorm2d(student_dims, eps=1e-6) if layer_norm_stem else nn.BatchNorm2d(student_dims)
        self.proj_student = nn.Sequential(nn.Conv2d(student_dims, student_dims, 3, 1, 1), norm, nn.ReLU())
        self.pos_embed = nn.Parameter(torch.zeros(1, student_dims, *student_hw))
        self.query = nn.Embedding(query_hw[0] * query_hw[1], teacher_dims) if self_query else None
        self.proj_pos = nn.Sequential(nn.Conv2d(teacher_dims, teacher_dims, 1), nn.ReLU())
        self.attn = ProjectorAttention(teacher_dims, student_dims, heads, softmax_scale)
        self.norm = nn.LayerNorm(teacher_dims)
        self.ffn = ProjectorFfn(teacher_dims)

    def forward(self, x, queries=None):
        n = x.shape[0]
        h, w = self.query_hw
        if queries is None:
            queries = self.query.weight.view(1, h, w, self.teacher_dims).permute(0, 3, 1, 2).repeat(n, 1, 1, 1)
        else:
            queries = queries.permute(0, 2, 1).reshape(n, self.teacher_dims, h, w)
        kv = (self.proj_student(x) + self.pos_embed).flatten(2).transpose(1, 2)
        queries = self.proj_pos(queries).flatten(2).transpose(1, 2)
        return self.ffn(self.norm(self.attn(kv, queries)))


def dct_matrix(n, dtype=torch.float64):
    """Unnormalised DCT-II basis, X[k] = 2 * sum_j x[j] cos(pi k (2j+1) / (2n)) (the official _dct with norm=None)."""
    k = torch.arange(n, dtype=dtype)[:, None]
    j = torch.arange(n, dtype=dtype)[None, :]
    return 2 * torch.cos(math.pi * k * (2 * j + 1) / (2 * n))


def dct_via_fft(x):
    """The official code's FFT-based DCT-II over the last dimension (norm=None), to cross-check dct_matrix."""
    shape, n = x.shape, x.shape[-1]
    x = x.reshape(-1, n)
    v = torch.cat([x[:, ::2], x[:, 1::2].flip([1])], dim=1)
    vc = torch.view_as_real(torch.fft.fft(v, dim=1))
    k = -torch.arange(n, dtype=x.dtype)[None, :] * math.pi / (2 * n)
    return (2 * (vc[:, :, 0] * torch.cos(k) - vc[:, :, 1] * torch.sin(k))).view(shape)


def dct2(x):
    ch, cw = dct_matrix(x.shape[-2]).to(x), dct_matrix(x.shape[-1]).to(x)
    return ch @ x @ cw.t()


def idct2(x):
    ih = torch.linalg.inv(dct_matrix(x.shape[-2])).to(x)
    iw = torch.linalg.inv(dct_matrix(x.shape[-1])).to(x)
    return ih @ x @ iw.t()


def spatial_loss(s, t, alpha):
    """DFM spatial view (docs/method.md, Dual-view Feature Mimicking): summed squared error of channel-normalised maps, divided by the batch size."""
    return alpha * ((F.normalize(s, dim=1) - F.normalize(t, dim=1)) ** 2).sum() / s.shape[0]


def frequency_loss(s, t, alpha):
    """DFM frequency view (docs/method.md, Dual-view Feature Mimicking): DCT, zero each channel's DC coefficient, inverse DCT, then the spatial loss."""
    def high_pass(x):
        f = dct2(x)
        f[:, :, 0, 0] = 0
        return idct2(f)
    return spatial_loss(high_pass(s), high_pass(t), alpha)


def tokens_to_map(tokens, h, w):
    return tokens.permute(0, 2, 1).reshape(tokens.shape[0], tokens.shape[2], h, w)


def soft_target_loss(zs, zt, temperature):
    """Logit KD: -T^2 * sum softmax(zt/T) log_softmax(zs/T), mean over the batch (official KDLoss, unweighted)."""
    return -(temperature ** 2) * (F.softmax(zt / temperature, 1) * F.log_softmax(zs / temperature, 1)).sum(1).mean()


def pearson_rows(a, b, eps=1e-8):
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def dist_loss(zs, zt, beta, gamma, temperature):
    """DIST (Huang et al., 2022): inter-class and intra-class Pearson relations of the softened predictions."""
    ys, yt = F.softmax(zs / temperature, 1), F.softmax(zt / temperature, 1)
    inter = 1 - pearson_rows(ys, yt).mean()
    intra = 1 - pearson_rows(ys.t(), yt.t()).mean()
    return temperature ** 2 * (beta * inter + gamma * intra)


class FitNetRegressor(nn.Module):
    """FitNet-style hint: a 1x1 conv regressor to the teacher's channels, pooled to its grid, then mean squared error."""

    def __init__(self, student_dims, teacher_dims):
        super().__init__()
        self.regressor = nn.Conv2d(student_dims, teacher_dims, 1)

    def forward(self, s, t):
        return F.mse_loss(F.adaptive_avg_pool2d(self.regressor(s), t.shape[-2:]), t)
