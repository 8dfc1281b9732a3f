"""A job folder written by `scalekd export-job`, read back: job.json (the DistillationSpec with everything ScaleKD.Torch
resolved from it: the per-pair settings, the optimizer, the schedule's step counts), the teacher and the initial
student and projector weights (safetensors, timm names), and the data. `Job.step` is one optimisation step as
ScaleKD.Torch's FullPrecisionStep runs it: schedule, objective, backward, global-norm clip, optimizer."""
import contextlib
import hashlib
import json
import os

import torch
import torch.nn as nn

from . import models, objective, optim
from .onnx_proto import OnnxError
from .safetensors_io import SafetensorsError
from .safetensors_io import load as load_safetensors

FORMAT = "scalekd-job"
VERSION = 1


class JobError(Exception):
    """The job folder is incomplete or does not fit this package; the message names the file or key."""


def read_settings(job_dir):
    """(job.json's settings, checked, and the SHA-256 of its bytes: what a checkpoint is tied to)."""
    path = os.path.join(job_dir, "job.json")
    if not os.path.exists(path):
        raise JobError(f"{path} is missing; `scalekd export-job --output {job_dir}` writes it")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        settings = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise JobError(f"{path} is not JSON: {e}") from e
    if not isinstance(settings, dict):
        raise JobError(f"{path} is not a {FORMAT} file (it holds no object); export the job again")
    if settings.get("format") != FORMAT or settings.get("version") != VERSION:
        raise JobError(f"{path} is not a version-{VERSION} {FORMAT} file (format {settings.get('format')!r}, "
                       f"version {settings.get('version')!r}); export the job again with this tool's version")
    missing = [k for k in REQUIRED if k not in settings]
    if missing:
        raise JobError(f"{path} lacks {', '.join(repr(k) for k in missing)}; export the job again")
    wrong = [k for k in POSITIVE_INTEGERS if isinstance(settings[k], bool) or not isinstance(settings[k], int) or settings[k] <= 0]
    if wrong:
        raise JobError(f"{path}: {', '.join(f'{k!r} is {settings[k]!r}' for k in wrong)}, not a positive whole number; "
                       f"export the job again")
    return settings, hashlib.sha256(raw).hexdigest()


# What train.py reads at the top level of job.json; a key missing deeper down is reported by name by train.py.
REQUIRED = ("class_names", "image_size", "in_channels", "epochs", "batch_size", "seed", "method", "student", "teacher",
            "objective", "optimizer", "schedule", "gradient_clip_norm", "ema", "augmentation", "data", "sync_batchnorm",
            "bf16_autocast_on_cuda")
POSITIVE_INTEGERS = ("image_size", "in_channels", "epochs", "batch_size")


def load_weights(module, path, what):
    """Strict load by name: every key present, none extra, shapes equal."""
    if not os.path.exists(path):
        raise JobError(f"{path} ({what}) is missing")
    try:
        state = load_safetensors(path)
    except SafetensorsError as e:
        raise JobError(f"{e} ({what})") from e
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shaped = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or shaped:
        raise JobError(f"{path} does not fit the {what}: missing {missing[:5]}, unexpected {unexpected[:5]}, "
                       f"mis-shaped {shaped[:5]}")
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


class Distilled(nn.Module):
    """The student and the objective's projectors: what DDP wraps and averages gradients over. The frozen teacher
    stays outside (each process holds its own copy; it takes no gradient)."""

    def __init__(self, student, loss):
        super().__init__()
        self.student = student
        self.objective = loss

    def forward(self, images, labels):
        return self.objective(images, labels)


MODEL_SOURCES = ("auto", "timm", "package")


def model_source(requested):
    """(the timm package or None, why): where the job's models come from. `auto` takes timm's modules when timm
    imports, `timm` insists on them, `package` takes this package's definitions."""
    if requested not in MODEL_SOURCES:
        raise JobError(f"--models {requested}: expected one of {', '.join(MODEL_SOURCES)}")
    if requested == "package":
        return None, "asked for with --models package"
    timm, why = models.timm_models.import_timm()
    if timm is None and requested == "timm":
        raise JobError(f"--models timm: timm cannot be imported here ({why}); install it, or run with --models auto")
    return timm, f"timm {timm.__version__}" if timm is not None else f"timm cannot be imported ({why})"


class Job:
    def __init__(self, job_dir, dtype=torch.float32, device="cpu", models_from="package"):
        self.dir = job_dir
        self.settings, self.digest = read_settings(job_dir)
        s = self.settings
        self.dtype, self.device = dtype, torch.device(device)
        self.models_from = models_from
        self.timm, self.timm_note = model_source(models_from)
        self.sources = {}  # per model, where it came from: printed by train.py and kept in metrics.json
        classes = len(s["class_names"])
        size = s["image_size"]
        self.student = self._load_model("student", s["student"], classes, size, s["in_channels"])
        self.teacher = None
        if s["teacher"] is not None:
            t = s["teacher"]
            self.teacher = self._load_model("teacher", t, classes, t["image_size"], s["in_channels"])
            for p in self.teacher.parameters():
                p.requires_grad_(False)
            self.teacher.eval()  # no dropout or stochastic depth: its targets do not change between calls
        self.objective = self._objective(s, size)
        self.model = Distilled(self.student, self.objective).to(device=self.device, dtype=dtype)
        if self.teacher is not None:
            self.teacher.to(device=self.device, dtype=dtype)

    def _load_model(self, role, entry, classes, size, in_chans):
        """The student's or teacher's model with the job's weights: imported from ONNX, from the ONNX file the job
        carries; otherwise timm's module where timm imports (unless --models package), else this package's
        definition. Under --models auto a timm that cannot build the model or whose layout differs falls back to the
        package's definition, and says so."""
        name, weights, what = entry["model"], os.path.join(self.dir, entry["weights"]), f"{role} {entry['model']}"
        onnx = entry.get("onnx")
        if onnx is not None:
            path = os.path.join(self.dir, onnx["file"])
            if not os.path.exists(path):
                raise JobError(f"{path} (the graph of {what}, job.json {role}.onnx.file) is missing")
            model = self._create(role, name, classes, size, in_chans, dict(onnx, file=path))
            self.sources[role] = f"{name} from its ONNX file {onnx['file']}"
        elif self.timm is not None:
            try:
                model = models.create(name, classes, size, in_chans, timm=self.timm)
                load_weights(model, weights, what)
                self.sources[role] = f"{name} from timm {self.timm.__version__}"
                return model
            except Exception as e:  # an older timm without the class or keyword, or another layout
                if self.models_from == "timm":
                    raise JobError(f"--models timm: timm {self.timm.__version__} cannot build the {what}: {e}") from e
                model = self._create(role, name, classes, size, in_chans)
                self.sources[role] = (f"{name} from this package's definition (timm {self.timm.__version__} "
                                      f"could not build it: {str(e).splitlines()[0][:200]})")
        else:
            model = self._create(role, name, classes, size, in_chans)
            self.sources[role] = f"{name} from this package's definition ({self.timm_note})"
        load_weights(model, weights, what)
        return model

    @staticmethod
    def _create(role, name, classes, size, in_chans, onnx=None):
        try:
            return models.create(name, classes, size, in_chans, onnx)
        except (ValueError, OnnxError) as e:
            raise JobError(f"job.json {role}: {e}") from e

    def _objective(self, s, size):
        o, method = s["objective"], s["method"]
        teacher_size = s["teacher"]["image_size"] if s["teacher"] else None
        if method == "ScaleKD":
            loss = objective.ScaleKDObjective(
                self.teacher, self.student, objective.stage_shapes(self.teacher, teacher_size, s["in_channels"]),
                objective.stage_shapes(self.student, size, s["in_channels"]),
                (o["spatial_weight"], o["frequency_weight"]), (o["stage3_heads"], o["stage4_heads"]),
                softmax_scale=o["softmax_scale"], smoothing=o["label_smoothing"], teacher_size=teacher_size,
                kd_weight=o["kd_weight"], temperature=o["temperature"], layer_norm_stem=o["layer_norm_stem"],
                use_tpp=o["use_tpp"], use_frequency=o["use_frequency"])
            load_weights(loss, os.path.join(self.dir, o["weights"]), "ScaleKD projectors")
            return loss
        if method in ("VanillaKD", "Dist", "None"):
            return objective.LogitObjective(self.teacher if method != "None" else None, self.student,
                                            o["label_smoothing"], teacher_size, o["kd_weight"], o["temperature"],
                                            (o["dist_beta"], o["dist_gamma"]) if method == "Dist" else None)
        if method == "FeatureKD":
            loss = objective.FitNetObjective(
                self.teacher, self.student, objective.stage_shapes(self.student, size, s["in_channels"]),
                objective.stage_shapes(self.teacher, teacher_size, s["in_channels"]), o["label_smoothing"], teacher_size,
                o["hint_weight"])
            load_weights(loss, os.path.join(self.dir, o["weights"]), "FitNet regressor")
            return loss
        raise JobError(f"job.json: method '{method}' is not one this package runs (ScaleKD, VanillaKD, Dist, FeatureKD, None)")

    def optimizer(self, parameters_of=None):
        """The recipe's optimizer over the student's then the projectors' parameters (as DistillationTrainer orders
        them), with timm's weight-decay grouping. `parameters_of` is the module whose parameters to take (DDP's
        wrapped module holds the same parameters)."""
        o = self.settings["optimizer"]
        named = [(f"student.{n}", p) for n, p in self.student.named_parameters()] + \
                [(f"objective.{n}", p) for n, p in self.objective.named_parameters()]
        groups = optim.weight_decay_groups(None, o["weight_decay"], o["exclude_one_dimensional"],
                                           tuple(o["no_weight_decay_names"]), named_parameters=named)
        if o["kind"] == "AdamW":
            return torch.optim.AdamW(groups, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"])
        if o["kind"] == "Lamb":
            return optim.LambReference(groups, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"],
                                       max_grad_norm=o["lamb_max_grad_norm"])
        if o["kind"] == "Sgd":  # TorchSharp's SGD is PyTorch's: L2 decay added to the gradient, no dampening
            return torch.optim.SGD(groups, lr=o["lr"], momentum=o["momentum"], dampening=0, nesterov=o["nesterov"])
        raise JobError(f"job.json: optimizer '{o['kind']}' is not one this package runs (AdamW, Lamb, Sgd)")

    def learning_rate(self, step):
        sch, peak = self.settings["schedule"], self.settings["optimizer"]["lr"]
        kind = sch.get("kind", "warmup_cosine")
        if kind == "step":
            return optim.step_decay(step, peak, sch["milestone_steps"], sch["gamma"])
        if kind != "warmup_cosine":
            raise JobError(f"job.json: schedule '{kind}' is not one this package runs (warmup_cosine, step)")
        return optim.warmup_cosine(step, peak, sch["total_steps"], sch["warmup_steps"], sch["initial_lr"], sch["min_lr"])

    def step(self, model, optimizer, images, labels, global_step, autocast=False):
        """One update as FullPrecisionStep: the scheduled rate, the objective, backward (DDP averages the gradients
        over the processes here), the global-norm clip, the optimizer. Returns the loss terms and the logits."""
        rate = self.learning_rate(global_step)
        for g in (optimizer.groups if isinstance(optimizer, optim.LambReference) else optimizer.param_groups):
            g["lr"] = rate
        # bfloat16 autocast on CUDA only (a CPU-only torch build refuses even a disabled CUDA autocast).
        with torch.autocast("cuda", dtype=torch.bfloat16) if autocast else contextlib.nullcontext():
            terms, logits = model(images, labels)
        total = sum(terms.values())
        if isinstance(optimizer, optim.LambReference):
            for p in self.model.parameters():
                p.grad = None
        else:
            optimizer.zero_grad(set_to_none=True)
        total.backward()
        clip = self.settings["gradient_clip_norm"]
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], clip)
        optimizer.step()
        terms["total"] = total
        return terms, logits


class Ema:
    """ModelEma: an average of the student's state, with timm's decay warm-up (ModelEmaOptions.DecayAt)."""

    def __init__(self, student, options):
        self.o, self.updates = options, 0
        self.state = {k: v.detach().clone() for k, v in student.state_dict().items()}

    def decay(self):
        t = max(0, self.updates - self.o["update_after_step"] - 1)
        if t == 0:
            return 0.0
        if not self.o["use_warmup"]:
            return self.o["decay"]
        warmed = 1 - (1 + t / self.o["warmup_gamma"]) ** -self.o["warmup_power"]
        return max(min(warmed, self.o["decay"]), self.o["min_decay"])

    @torch.no_grad()
    def update(self, student):
        self.updates += 1
        d = self.decay()
        parameters = {n for n, _ in student.named_parameters()} if self.o["exclude_buffers"] else None
        for name, value in student.state_dict().items():
            average = self.state[name]
            if average.is_floating_point() and (parameters is None or name in parameters) and d != 0:
                average.mul_(d).add_(value, alpha=1 - d)
            else:
                average.copy_(value)
