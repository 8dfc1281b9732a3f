"""The distillation objectives of docs/method.md ("One step", "Loss terms") over a frozen teacher and a student that
expose forward_stages (and, for TPP, the teacher's forward_from_stage): ScaleKD, vanilla KD, DIST, FitNet and the
student alone.

The per-pair settings (alpha, heads, softmax scale, projector stem, label smoothing) are not resolved here: ScaleKD.Torch
resolves them (ScaleKDObjective.Settings) and the job carries them, so the two sides cannot disagree on a default."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import losses

VIEWS = ("spatial", "frequency")


def stage_shapes(model, image_size, in_chans=3):
    """The (C, H, W) of each of the model's four stage maps, from one pass over a zero image in eval mode (so that
    no BatchNorm statistic moves); the model's mode is restored."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        p = next(model.parameters())
        stages, _, _ = model.forward_stages(torch.zeros(1, in_chans, image_size, image_size, dtype=p.dtype, device=p.device))
    model.train(was_training)
    return [tuple(s.shape[1:]) for s in stages]


def teacher_forward(teacher, images, teacher_size):
    """The frozen teacher's stages and logits, without gradients; a teacher at its own resolution sees the images
    resized (bilinear, as torch resizes by default and FrozenTeacher.AtTeacherSize does)."""
    with torch.no_grad():
        t_images = images if teacher_size is None or teacher_size == images.shape[-1] else F.interpolate(
            images, size=(teacher_size, teacher_size), mode="bilinear", align_corners=False)
        return teacher.forward_stages(t_images)


class ScaleKDObjective(nn.Module):
    """ScaleKD's loss: (1 - w) CE + w KD, and per view a stage-3 projector whose output runs through the teacher's
    stage 4 (TPP, the s3 terms) and a stage-4 projector queried by that output (the s4 terms). Its parameters are the
    projectors', registered per view as s3 then s4, the order ScaleKD.Torch registers them; teacher and student are
    used, not owned (kept out of this module's state)."""

    def __init__(self, teacher, student, teacher_stages, student_stages, alpha, heads, softmax_scale=5.0, smoothing=0.0,
                 teacher_size=None, kd_weight=0.5, temperature=1.0, layer_norm_stem=False, use_tpp=True,
                 use_frequency=True):
        super().__init__()
        self.teacher_size = teacher_size
        self.teacher, self.student = [teacher], [student]
        self.alpha, self.smoothing = alpha, smoothing
        self.kd_weight, self.temperature = kd_weight, temperature
        self.use_tpp = use_tpp
        self.views = VIEWS if use_frequency else VIEWS[:1]
        self.t4 = teacher_stages[3]
        projectors = {}
        for view in self.views:
            for stage, self_query in ((2, True), (3, not use_tpp)):
                if stage == 2 and not use_tpp:
                    continue
                (cs, hs, ws), (ct, ht, wt) = student_stages[stage], teacher_stages[stage]
                projectors[f"s{stage + 1}_{view}"] = losses.CrossAttentionProjector(
                    cs, (hs, ws), ct, (ht, wt), heads[stage - 2], softmax_scale, layer_norm_stem, self_query)
        self.projectors = nn.ModuleDict(projectors)

    def forward(self, images, labels):
        teacher, student = self.teacher[0], self.student[0]
        t_stages, _, zt = teacher_forward(teacher, images, self.teacher_size)
        t4 = t_stages[3]
        s_stages, _, zs = student.forward_stages(images)
        _, h, w = self.t4
        terms = {"ce": (1 - self.kd_weight) * F.cross_entropy(zs, labels, label_smoothing=self.smoothing),
                 "kd": self.kd_weight * losses.soft_target_loss(zs, zt, self.temperature)}
        # The maps each view compares (the student side per term, the teacher's stage 4 for all): the parity tests
        # derive each term's float32 tolerance from how much their DC removal amplifies rounding.
        self.maps = {"teacher_stage4": t4}
        for view, alpha, loss in zip(self.views, self.alpha, (losses.spatial_loss, losses.frequency_loss)):
            proxy = None
            if self.use_tpp:
                proxy = teacher.forward_from_stage(self.projectors[f"s3_{view}"](s_stages[2]), 3)
                self.maps[f"s3_{view}"] = losses.tokens_to_map(proxy, h, w)
                terms[f"s3_{view}"] = loss(self.maps[f"s3_{view}"], t4, alpha)
            direct = self.projectors[f"s4_{view}"](s_stages[3], proxy)
            self.maps[f"s4_{view}"] = losses.tokens_to_map(direct, h, w)
            terms[f"s4_{view}"] = loss(self.maps[f"s4_{view}"], t4, alpha)
        return terms, zs


class LogitObjective(nn.Module):
    """Vanilla KD ((1 - w) CE + w KD, ScaleKD's logit part alone), DIST (CE + DIST's relation loss, when `dist` gives
    its (beta, gamma)) or, with no teacher, the student alone (CE): LogitDistillationObjective and
    StudentOnlyObjective."""

    def __init__(self, teacher, student, smoothing=0.0, teacher_size=None, kd_weight=0.5, temperature=1.0, dist=None):
        super().__init__()
        self.teacher, self.student = [teacher], [student]
        self.smoothing, self.teacher_size = smoothing, teacher_size
        self.kd_weight, self.temperature, self.dist = kd_weight, temperature, dist

    def forward(self, images, labels):
        _, _, zs = self.student[0].forward_stages(images)
        ce = F.cross_entropy(zs, labels, label_smoothing=self.smoothing)
        if self.teacher[0] is None:
            return {"ce": ce}, zs
        _, _, zt = teacher_forward(self.teacher[0], images, self.teacher_size)
        if self.dist is not None:
            return {"ce": ce, "dist": losses.dist_loss(zs, zt, *self.dist, self.temperature)}, zs
        return {"ce": (1 - self.kd_weight) * ce, "kd": self.kd_weight * losses.soft_target_loss(zs, zt, self.temperature)}, zs


class FitNetObjective(nn.Module):
    """The FitNet-style baseline (FeatureDistillationObjective): CE plus the weighted hint loss between the student's
    and the teacher's last stages, through a trained 1x1 regressor (`hint`, named as ScaleKD.Torch names it)."""

    def __init__(self, teacher, student, student_shapes, teacher_shapes, smoothing, teacher_size, hint_weight):
        super().__init__()
        self.teacher, self.student = [teacher], [student]
        self.smoothing, self.teacher_size, self.hint_weight = smoothing, teacher_size, hint_weight
        self.hint = losses.FitNetRegressor(student_shapes[3][0], teacher_shapes[3][0])

    def forward(self, images, labels):
        t_stages, _, _ = teacher_forward(self.teacher[0], images, self.teacher_size)
        s_stages, _, zs = self.student[0].forward_stages(images)
        ce = F.cross_entropy(zs, labels, label_smoothing=self.smoothing)
        return {"ce": ce, "hint": self.hint(s_stages[3], t_stages[3]) * self.hint_weight}, zs
