"""The PyTorch side of `ScaleKD.Bench step`: the same distillation step (teacher forward under no_grad, student
forward and backward, the four projectors, TPP through the teacher's stage 4, an AdamW step) on the same tiny pair,
with the reference implementation in tests/reference. Warm-up, then the median of the timed iterations.

    /usr/bin/python3 bench/reference/scalekd_step.py [--batch 32] [--iterations 10]
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference"))
from cases_cnn import BasicBlock, ResNet  # noqa: E402
from cases_pairs import ScaleKDReference  # noqa: E402
from cases_tokens import Swin  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--batch", type=int, default=32)
parser.add_argument("--warmup", type=int, default=3)
parser.add_argument("--iterations", type=int, default=10)
parser.add_argument("--threads", type=int, default=0, help="intra-op threads; 0 keeps torch's default")
args = parser.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)

torch.manual_seed(0)
size = 64
teacher = Swin(size, 2, 4, 8, [2, 2, 1, 1], [2, 2, 4, 4], 10)
student = ResNet(BasicBlock, (1, 1, 1, 1), (8, 16, 24, 32), num_classes=10)
loss_module = ScaleKDReference(teacher, student, [(8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4)],
                               [(8, 16, 16), (16, 8, 8), (24, 4, 4), (32, 2, 2)], (0.08, 0.06), (8, 1))
for p in teacher.parameters():
    p.requires_grad_(False)
teacher.eval()
student.train()
images = torch.randn(args.batch, 3, size, size)
labels = torch.randint(0, 10, (args.batch,))


def run(step):
    optimizer = torch.optim.AdamW(list(student.parameters()) + list(loss_module.parameters()), 1e-3, weight_decay=0.05)
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


def scalekd():
    return sum(loss_module(images, labels).values())


def student_only():
    return F.cross_entropy(student.forward_stages(images)[2], labels)


print(f"# PyTorch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, {size} px")
print("| method | median ms/step | images/s |")
print("|---|---|---|")
for name, step in (("ScaleKD", scalekd), ("None", student_only)):
    ms = run(step)
    print(f"| {name} | {ms:.1f} | {args.batch / ms * 1000:.1f} |")
