"""The PyTorch side of `ScaleKD.Bench step` and of bench/gpu/run.sh: one ScaleKD step (teacher forward, student forward and backward, four
Cross Attention Projectors, TPP through the teacher's own last stage, AdamW) with timm's models, on CPU or CUDA.
Without timm (Debian's CPU torch) it falls back to the hand-written pico models of tests/reference, so the script can
be dry-run anywhere.

    /usr/bin/python3 bench/reference/scalekd_step.py --batch 32 --threads 2          # CPU, the pico pair
    python3 bench/reference/scalekd_step.py --teacher swin_large_patch4_window7_224 --student resnet50 \\
        --image-size 224 --batch 64 --device cuda
"""
import argparse
import contextlib
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import scalekd.losses as ref  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--teacher", default="swin_pico_patch2_window4_32")
parser.add_argument("--student", default="resnet_pico")
parser.add_argument("--image-size", type=int, default=64)
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--device", default="cpu")
parser.add_argument("--warmup", type=int, default=3)
parser.add_argument("--iterations", type=int, default=10)
parser.add_argument("--threads", type=int, default=0, help="intra-op threads; 0 keeps torch's default")
parser.add_argument("--teacher-bf16", action="store_true", help="run the frozen teacher in bfloat16, as the .NET trainer does on CUDA")
parser.add_argument("--channels-last", action="store_true", help="channels-last images and student (CNN students)")
parser.add_argument("--autocast-bf16", action="store_true",
                    help="student, projectors and losses under torch.autocast(bfloat16), float32 weights: PyTorch's usual mixed precision")
args = parser.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)
device = torch.device(args.device)
size = args.image_size


class Teacher:
    """A timm (or reference) Swin or ViT as a ScaleKD teacher: stage-4 map, logits, and its last stage from stage-3
    tokens, computed in the teacher's dtype and returned in float32."""

    def __init__(self, name, model, timm_layout):
        self.model, self.timm_layout, self.is_vit = model, timm_layout, name.startswith(("vit", "deit"))
        self.dtype = next(model.parameters()).dtype
        # docs/method.md's per-teacher feature weights ("Per-pair defaults") (spatial, frequency): Swin 0.08/0.06, ViT 0.016/0.008.
        self.alpha = (0.016, 0.008) if self.is_vit else (0.08, 0.06)

    def stages_and_logits(self, images):
        stages, logits = self._stages_and_logits(images.to(self.dtype))
        return [s.float() for s in stages], logits.float()

    def from_stage3(self, tokens, h, w):
        return self._from_stage3(tokens.to(self.dtype), h, w).float()

    def _stages_and_logits(self, images):
        if not self.timm_layout:
            stages, _, logits = self.model.forward_stages(images)
            return stages, logits
        if self.is_vit:
            return self._timm_vit_stages(images)
        x = self.model.patch_embed(images)
        stages = []
        for layer in self.model.layers:
            x = layer(x)
            stages.append(x)
        x = self.model.norm(x)
        stages[-1] = x
        logits = self.model.forward_head(x)
        return [s.permute(0, 3, 1, 2) for s in stages], logits

    def _timm_vit_stages(self, images):
        # The ViT's blocks in four equal groups, as ScaleKD.Torch's VisionTransformer names its stages.
        m = self.model
        x = m._pos_embed(m.patch_embed(images))
        grid, per_stage, prefix = m.patch_embed.grid_size, len(m.blocks) // 4, m.num_prefix_tokens
        stages = []
        for s in range(4):
            x = m.blocks[s * per_stage:(s + 1) * per_stage](x)
            if s == 3:
                x = m.norm(x)
            stages.append(x[:, prefix:].transpose(1, 2).reshape(x.shape[0], x.shape[-1], *grid))
        return stages, m.forward_head(x)

    def _from_stage3(self, tokens, h, w):
        if not self.timm_layout:
            return self.model.forward_from_stage(tokens, 3)
        if self.is_vit:
            return self.model.norm(self.model.blocks[3 * (len(self.model.blocks) // 4):](tokens))
        x = tokens.reshape(tokens.shape[0], h, w, tokens.shape[-1])
        x = self.model.norm(self.model.layers[3](x))
        return x.flatten(1, 2)


def create(name):
    try:
        import timm
        model = timm.create_model(name, pretrained=False, num_classes=10, img_size=size) if "swin" in name or "vit" in name \
            else timm.create_model(name, pretrained=False, num_classes=10)
        return model, True
    except ImportError:
        from scalekd.models.cnn import BasicBlock, ResNet
        from scalekd.models.tokens import Swin, VisionTransformer
        fallback = {
            "swin_pico_patch2_window4_32": lambda: Swin(size, 2, 4, 8, [2, 2, 1, 1], [2, 2, 4, 4], 10),
            "vit_pico_patch4_32": lambda: VisionTransformer(size, 4, 32, 4, 2, 10),
            "resnet_pico": lambda: ResNet(BasicBlock, (1, 1, 1, 1), (8, 16, 24, 32), num_classes=10),
            "resnet18": lambda: ResNet(BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), num_classes=10),
        }
        if name not in fallback:
            sys.exit(f"timm is not installed; without it only {', '.join(fallback)} are available")
        if args.teacher_bf16:
            sys.exit("--teacher-bf16 needs timm's models (the reference Swin keeps float32 masks); run the dry run with BF16=0")
        return fallback[name](), False


teacher_model, timm_teacher = create(args.teacher)
student, timm_student = create(args.student)
teacher_model = teacher_model.to(device).eval()
if args.teacher_bf16:
    teacher_model = teacher_model.to(torch.bfloat16)
teacher = Teacher(args.teacher, teacher_model, timm_teacher)
student = student.to(device).train()
if args.channels_last:
    student = student.to(memory_format=torch.channels_last)
for p in teacher_model.parameters():
    p.requires_grad_(False)

captured = {}
if timm_student:
    student.layer3.register_forward_hook(lambda m, i, o: captured.__setitem__("s3", o))
    student.layer4.register_forward_hook(lambda m, i, o: captured.__setitem__("s4", o))


def student_forward(images):
    if not timm_student:
        stages, _, logits = student.forward_stages(images)
        return stages[2], stages[3], logits
    logits = student(images)
    return captured["s3"], captured["s4"], logits


images = torch.randn(args.batch, 3, size, size, device=device)
if args.channels_last:
    images = images.contiguous(memory_format=torch.channels_last)
labels = torch.randint(0, 10, (args.batch,), device=device)
with torch.no_grad():
    t_stages, _ = teacher.stages_and_logits(images)
    s3, s4, _ = student_forward(images)
t3, t4 = t_stages[2].shape[1:], t_stages[3].shape[1:]


def heads(channels, head_dim):
    return channels // head_dim if channels % head_dim == 0 else max(d for d in range(1, 9) if channels % d == 0)


projectors = torch.nn.ModuleDict({
    f"s{stage}_{view}": ref.CrossAttentionProjector(
        s.shape[1], tuple(s.shape[2:]), t[0], tuple(t[1:]), heads(t[0], 48 if stage == 3 else 64), 5.0, False, stage == 3)
    for view in ("spatial", "frequency") for stage, s, t in ((3, s3, t3), (4, s4, t4))}).to(device).train()
optimizer = torch.optim.AdamW(list(student.parameters()) + list(projectors.parameters()), 1e-3, weight_decay=0.05)


def frequency_loss(s, t, alpha):
    """The frequency view as the .NET side computes it: zeroing each channel's DC coefficient of the unnormalised
    DCT-II and transforming back equals subtracting the channel's spatial mean (tests prove the identity), so both sides
    time the same arithmetic rather than the reference's explicit DCT matrices."""
    return ref.spatial_loss(s - s.mean((2, 3), keepdim=True), t - t.mean((2, 3), keepdim=True), alpha)


def autocast():
    return torch.autocast(device.type, dtype=torch.bfloat16) if args.autocast_bf16 else contextlib.nullcontext()


def scalekd_step():
    with autocast():
        return _scalekd_step()


def _scalekd_step():
    with torch.no_grad():
        stages, zt = teacher.stages_and_logits(images)
    target = stages[3]
    s3_map, s4_map, zs = student_forward(images)
    loss = 0.5 * torch.nn.functional.cross_entropy(zs, labels) + 0.5 * ref.soft_target_loss(zs, zt, 1.0)
    for view, alpha, view_loss in (("spatial", teacher.alpha[0], ref.spatial_loss), ("frequency", teacher.alpha[1], frequency_loss)):
        proxy = teacher.from_stage3(projectors[f"s3_{view}"](s3_map), t3[1], t3[2])
        loss = loss + view_loss(ref.tokens_to_map(proxy, t4[1], t4[2]), target, alpha)
        direct = projectors[f"s4_{view}"](s4_map, proxy)
        loss = loss + view_loss(ref.tokens_to_map(direct, t4[1], t4[2]), target, alpha)
    return loss


def student_step():
    with autocast():
        return torch.nn.functional.cross_entropy(student_forward(images)[2], labels)


def time_step(step):
    times = []
    for i in range(args.warmup + args.iterations):
        start = time.perf_counter()
        loss = step()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()
        if i >= args.warmup:
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def step_flops(step):
    """FLOPs of one step's forward and backward as torch.utils.flop_counter counts them (PyTorch 2.1+: matmuls,
    convolutions, attention); None where it is missing. The same step in .NET does the same work."""
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        return None
    with FlopCounterMode(display=False) as counter:
        step().backward()
    optimizer.zero_grad()
    return counter.get_total_flops()


card = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
print(f"# PyTorch {torch.__version__} ({'timm' if timm_teacher else 'reference models'}), {args.teacher} -> {args.student}, "
      f"{size} px, batch {args.batch}, teacher {'bfloat16' if args.teacher_bf16 else 'float32'}, "
      f"student {'autocast bfloat16' if args.autocast_bf16 else 'float32'}, "
      f"{'channels-last' if args.channels_last else 'contiguous'} images, {card}, threads {torch.get_num_threads()}")
print("| method | median ms/step | images/s | GFLOP/step | TFLOP/s |")
print("|---|---|---|---|---|")
for name, step in (("ScaleKD", scalekd_step), ("None", student_step)):
    flops = step_flops(step)
    ms = time_step(step)
    rate = "n/a" if flops is None else f"{flops / ms / 1e9:.1f}"
    print(f"| {name} | {ms:.1f} | {args.batch / ms * 1000:.1f} | {'n/a' if flops is None else f'{flops / 1e9:.1f}'} | {rate} |")
