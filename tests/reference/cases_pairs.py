"""Whole ScaleKD loss on tiny teacher/student pairs (prefix pair_): the data flow of one distillation step as
docs/method.md ("One step") draws it, with the models and the objective of the
Python package python/scalekd (the one the PyTorch job runs). The settings below are what ScaleKD.Torch's ScaleKDObjective resolves for these pairs.

The pairs run at 64 px so that the student's last stage is 2x2: at 1x1 the stage-4 projector sees a single key, its
output is the same token at every position, and the frequency view of that constant map is zero in exact
arithmetic, so the reference would only be comparing rounding noise.

The same degeneracy happens at 2x2 when a projector's attention is one-hot: the Swin pair's stage-4 projector has a
single head over 4 keys, and with the projector seed 500 (and 3 of the 5 seeds after it) one sample's direct
projection was the same token at all 16 positions to 1e-4 of its norm, so its frequency view amplified rounding by
1e3 to 1e4 (ScaleKDLossParityTests measured 1.4e-4 relative error in float32 on one CPU, 2.4e-5 on another). Seed 501
gives a projection that varies over the grid. The fixtures store the maps each view compares (output.map.*):
ScaleKDLossParityTests derives each term's tolerance from them and refuses a fixture whose terms amplify rounding by
more than 1000 (float32 would then keep fewer than 4 significant digits of them).

To keep the files small, the ResNet student's weights are not stored again: it is randomised with the seed of
cnn_resnet_pico_32 (its weights do not depend on the image size; a checksum confirms). The teachers' weights do
depend on it (ViT's position embedding, Swin's clamped window tables), so they are stored with the projectors, in
float16, rounded so that float32 computes with exactly those values."""
import torch

from fixture import half_state, param_checksum, randomize_
from scalekd.models.cnn import BasicBlock, ResNet
from scalekd.models.tokens import Swin, VisionTransformer
from scalekd.objective import ScaleKDObjective


def ScaleKDReference(teacher, student, teacher_stages, student_stages, alpha, heads, teacher_size=None):
    """The package's objective with the settings ScaleKD.Torch resolves for these pairs (softmax scale 5, BatchNorm
    stem, no label smoothing, w = 0.5, T = 1)."""
    return ScaleKDObjective(teacher, student, teacher_stages, student_stages, alpha, heads, teacher_size=teacher_size)


def pair_case(teacher, teacher_seed, student, student_seed, teacher_stages, student_stages, alpha, heads, seed,
              teacher_size=None):
    loss = ScaleKDReference(teacher, student, teacher_stages, student_stages, alpha, heads, teacher_size=teacher_size)
    randomize_(teacher, teacher_seed)
    randomize_(student, student_seed)
    randomize_(loss, seed)
    tensors = half_state(loss, "loss.")
    tensors.update(half_state(teacher, "teacher."))
    tensors["input.student_checksum"] = param_checksum(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    teacher.eval()
    student.train()
    loss.train()
    g = torch.Generator().manual_seed(seed + 10)
    images = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g)
    labels = torch.tensor([3, 7])
    # The expected values are computed in float64 from these float32-exact weights and inputs: the gradient of the
    # frequency view is ill-conditioned in float32 (this very reference run in float32 differs from float64 by about
    # 1e-3 of the gradient's scale), so float64 is the ground truth both float32 and float64 C# runs are held to.
    for module in (teacher, student, loss):
        module.double()
    images = images.double().requires_grad_(True)
    terms, _ = loss(images, labels)
    sum(terms.values()).backward()
    tensors.update({"input.images": images.detach().float(), "input.labels": labels, "grad.images": images.grad.float()})
    tensors.update({f"output.{k}": v.detach() for k, v in terms.items()})
    tensors.update({f"output.map.{k}": v.detach() for k, v in loss.maps.items()})
    return tensors


IMAGE_SIZE = 64


def resnet_pico():
    return ResNet(BasicBlock, (1, 1, 1, 1), (8, 16, 24, 32))


def cases():
    resnet_stages = [(8, 16, 16), (16, 8, 8), (24, 4, 4), (32, 2, 2)]
    swin = Swin(IMAGE_SIZE, 2, 4, 8, [2, 2, 1, 1], [2, 2, 4, 4], 10)
    # Swin teacher: alpha (0.08, 0.06); heads: 32 channels -> largest divisor <= 8 = 8, 64 channels -> 64/64 = 1.
    yield "pair_swin_pico_resnet_pico", pair_case(
        swin, 12, resnet_pico(), 100, [(8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4)], resnet_stages,
        (0.08, 0.06), (8, 1), 501)
    vit = VisionTransformer(IMAGE_SIZE, 8, 32, 4, 2, 10)
    # ViT teacher (patch 8, so an 8x8 grid at 64 px): alpha (0.016, 0.008); heads: 32 channels -> 8 for both stages.
    yield "pair_vit_pico_resnet_pico", pair_case(
        vit, 11, resnet_pico(), 100, [(32, 8, 8)] * 4, resnet_stages, (0.016, 0.008), (8, 8), 600)
    # A CNN teacher at its own resolution (the pretrained ResNet-18 case in miniature): resnet_pico's shape at 96 px
    # against the student at 64, so the projectors map 4x4 onto 6x6 and 2x2 onto 3x3, and TPP runs the teacher's
    # layer4. Alpha as for Swin teachers (0.08, 0.06), the hierarchical-teacher setting; heads: 24 and 32 channels,
    # neither a multiple of the CNN head widths 48 / 64, so the largest divisor up to 8: 8 and 8.
    yield "pair_resnet_teacher_resnet_pico", pair_case(
        resnet_pico(), 13, resnet_pico(), 100, [(8, 24, 24), (16, 12, 12), (24, 6, 6), (32, 3, 3)], resnet_stages,
        (0.08, 0.06), (8, 8), 700, teacher_size=96)
