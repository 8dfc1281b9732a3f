"""Runs a ScaleKD job folder (written by `scalekd export-job`) on one or many processes:

    python3 -m torch.distributed.run --nproc_per_node=N JOB/train.py
    python3 -m torch.distributed.run --nnodes=M --node_rank=R --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 \\
        --nproc_per_node=N JOB/train.py

gloo on the CPU, NCCL on CUDA (one GPU per process, LOCAL_RANK). Each process draws its share of every global batch
through DistributedSampler (job.json's batch_size is the global batch: the schedule and the learning rate do not change
with the number of processes) and DDP averages the gradients, so N processes of batch B/N take the steps one process
of batch B takes. Every epoch rank 0 writes checkpoints/last.pt (a restart resumes from it), and at the end
student.safetensors (timm names; `scalekd import-student` turns it into an ML.NET zip) and metrics.json.

Models: timm's own modules where timm imports (clusters have it; on PyTorch 2 its attention is fused), else the
definitions of the scalekd package beside this script, which compute the same (tests/reference/timm_agreement.py);
`--models timm` insists on timm, `--models package` takes the package's. A teacher imported from ONNX is rebuilt from
its ONNX file either way. The log's first lines say where each model came from.

Options: --epochs N stops after N epochs (the schedule stays the job's), --max-steps N after N steps (for tests and
timing), --float64 computes in float64 (parity tests), --no-resume ignores a checkpoint, --workers N augments batches
in N worker processes ahead of training (default: none on the CPU, up to 4 per process on CUDA). A batch's
augmentation depends on (seed, epoch, rank, step) alone, so neither the workers nor a resume change it.
"""
import argparse
import json
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

JOB_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, JOB_DIR)

from scalekd import data, optim  # noqa: E402  (the package ships beside this script)
from scalekd.job import MODEL_SOURCES, Ema, Job, JobError  # noqa: E402
from scalekd.safetensors_io import save as save_safetensors  # noqa: E402


def atomic_torch_save(obj, path):
    temp = f"{path}.{os.getpid()}.tmp"
    torch.save(obj, temp)
    os.replace(temp, path)


def atomic_json(obj, path):
    temp = f"{path}.{os.getpid()}.tmp"
    with open(temp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)


def init_process_group():
    """(rank, world, local_rank, device); a plain `python3 train.py` runs as a world of one."""
    if "RANK" not in os.environ:
        with socket.socket() as probe:  # a free port: other jobs may run on this machine
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    cuda = torch.cuda.is_available()
    local_rank = int(os.environ["LOCAL_RANK"])
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    return dist.get_rank(), dist.get_world_size(), device


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, help="stop after this many epochs (the schedule stays the job's)")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimisation steps")
    parser.add_argument("--float64", action="store_true", help="train in float64 (parity tests)")
    parser.add_argument("--no-resume", action="store_true", help="start over even when a checkpoint exists")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="processes that decode and augment batches ahead of each training process (default: none on "
                             "the CPU, where they would take the training's cores; on CUDA up to 4, as the cores allow)")
    parser.add_argument("--models", choices=MODEL_SOURCES, default="auto",
                        help="where the models come from: timm when it imports (auto, the default), timm, or the package")
    parser.add_argument("--dump-first-step", metavar="FILE",
                        help="write the first step's batch, loss terms, clipped gradients and updated weights (safetensors; parity tests)")
    parser.add_argument("--output", default=JOB_DIR, help="where student.safetensors, metrics.json and checkpoints/ go")
    args = parser.parse_args()
    if args.workers is not None and args.workers < 0:
        parser.error(f"--workers {args.workers}: the number of worker processes cannot be negative")
    for option, value in (("--epochs", args.epochs), ("--max-steps", args.max_steps)):
        if value is not None and value < 1:
            parser.error(f"{option} {value}: give at least 1 (leave it out to run the whole job)")

    rank, world, device = init_process_group()
    torch.manual_seed(0)
    job = Job(JOB_DIR, torch.float64 if args.float64 else torch.float32, device, args.models)
    s = job.settings
    if rank == 0:
        for role, source in job.sources.items():
            print(f"{role}: {source}", flush=True)
    if s["batch_size"] % world:
        divisors = [n for n in range(1, min(s["batch_size"], 64) + 1) if s["batch_size"] % n == 0]
        raise JobError(f"job.json: the global batch {s['batch_size']} does not split over {world} processes; run it on "
                       f"{', '.join(map(str, divisors))} processes, or export it again with a --batch that {world} divides")
    if args.epochs is not None and args.epochs > s["epochs"] and rank == 0:
        print(f"note: --epochs {args.epochs} is more than the job's {s['epochs']}; it runs {s['epochs']}", flush=True)
    per_rank = s["batch_size"] // world
    model = job.model
    if s["sync_batchnorm"] and world > 1:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = job.optimizer()
    ema = Ema(job.student, s["ema"]) if s["ema"] else None

    images, labels = data.load(JOB_DIR, s["data"], s["class_names"])
    transforms = data.Transforms(s["augmentation"])
    steps_per_epoch = s["schedule"]["steps_per_epoch"]
    sampler = DistributedSampler(range(len(labels)), num_replicas=world, rank=rank, shuffle=True, seed=s["seed"], drop_last=True)
    if len(sampler) // per_rank != steps_per_epoch:
        raise JobError(f"job.json: {steps_per_epoch} steps per epoch, but {len(labels)} images in batches of "
                       f"{s['batch_size']} give {len(sampler) // per_rank}")

    os.makedirs(os.path.join(args.output, "checkpoints"), exist_ok=True)
    checkpoint = os.path.join(args.output, "checkpoints", "last.pt")
    epoch0, global_step, history = 0, 0, []
    # The optimizer's state is kept by parameter position: a resumed run must order its parameters as the run that
    # wrote the checkpoint (timm's modules and the package's do, but another timm version might not).
    parameter_names = [n for n, _ in job.model.named_parameters()]
    # A checkpoint belongs to the job.json it trained: a job exported again into the same folder starts over.
    job_digest = job.digest
    if os.path.exists(checkpoint) and not args.no_resume:
        try:
            state = torch.load(checkpoint, map_location=device)
        except Exception as e:  # cut short or damaged: torch raises several kinds
            raise JobError(f"{checkpoint} cannot be read ({type(e).__name__}: {e}); run with --no-resume to start "
                           f"over, or restore the file") from e
        if state.get("job_digest", job_digest) != job_digest:
            raise JobError(f"{checkpoint} was written for another job.json (the job was exported again since); run "
                           f"with --no-resume to train this job from the start, or use a new --output")
        if state.get("parameter_names", parameter_names) != parameter_names:
            raise JobError(f"{checkpoint} was written by a run whose models ordered their parameters differently "
                           f"(now: {'; '.join(job.sources.values())}); resume with the --models that run used, "
                           f"or start over with --no-resume")
        job.model.load_state_dict(state["model"])
        if isinstance(optimizer, optim.LambReference):
            optim.load_lamb_state(optimizer, state["optimizer"])
        else:
            optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.state, ema.updates = state["ema"], state["ema_updates"]
        epoch0, global_step, history = state["epoch"], state["global_step"], state["history"]
        if rank == 0:
            print(f"resuming after epoch {epoch0} (step {global_step}) from {checkpoint}", flush=True)

    autocast = device.type == "cuda" and s["bf16_autocast_on_cuda"] and not args.float64
    workers = args.workers if args.workers is not None else default_workers(device)
    last_epoch = min(s["epochs"], args.epochs or s["epochs"])
    stop = False
    for epoch in range(epoch0, last_epoch):
        sampler.set_epoch(epoch)
        order = torch.tensor(list(iter(sampler)), dtype=torch.int64)
        batches = data.EpochBatches(images, labels, order, per_rank, transforms, (s["seed"], epoch, rank))
        loader = torch.utils.data.DataLoader(batches, batch_size=None, num_workers=workers)
        job.model.train()
        sums, correct, seen, clock = {}, 0, 0, time.time()
        steps = 0
        for x, y in loader:
            x = x.to(device=device, dtype=job.dtype)
            y = y.to(device)
            terms, logits = job.step(ddp, optimizer, x, y, global_step, autocast)
            if args.dump_first_step and global_step == 0 and rank == 0:
                dump_step(args.dump_first_step, job.model, x, y, terms)
            if ema is not None:
                ema.update(job.student)
            global_step += 1
            steps += 1
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            if args.max_steps and global_step >= args.max_steps:
                stop = True
                break
        seconds = time.time() - clock
        # The epoch's mean terms and accuracy over every process's images.
        keys = sorted(sums)
        totals = torch.tensor([sums[k] for k in keys] + [correct, seen], dtype=torch.float64)
        dist.all_reduce(totals)
        record = {"epoch": epoch + 1, "steps": steps, "seconds": seconds, "steps_per_second": steps / seconds,
                  "images_per_second": steps * s["batch_size"] / seconds, "processes": world,
                  "train_top1": float(totals[-2] / totals[-1]),
                  "terms": {k: float(totals[j]) / (steps * world) for j, k in enumerate(keys)}}
        history.append(record)
        if rank == 0:
            partial = f" (stopped by --max-steps after {steps} of its {steps_per_epoch} steps)" if stop else ""
            print(f"epoch {epoch + 1}/{s['epochs']}{partial}: loss {record['terms']['total']:.4f}, train top-1 "
                  f"{record['train_top1']:.3f}, {record['steps_per_second']:.2f} steps/s on {world} "
                  f"process{'es' if world > 1 else ''}", flush=True)
            if not stop:  # a checkpoint only at an epoch's end, where a resumed run starts
                atomic_torch_save({"epoch": epoch + 1, "global_step": global_step, "history": history,
                                   "model": job.model.state_dict(), "optimizer": _optimizer_state(optimizer),
                                   "parameter_names": parameter_names, "job_digest": job_digest,
                                   "ema": ema.state if ema else None, "ema_updates": ema.updates if ema else 0}, checkpoint)
            atomic_json({"job": os.path.basename(JOB_DIR), "processes": world, "device": str(device), "models": job.sources,
                         "global_batch": s["batch_size"], "job_epochs": s["epochs"],
                         "complete": not stop and epoch + 1 == s["epochs"],
                         "stopped": (f"it stopped {steps} step{'s' if steps != 1 else ''} into epoch {epoch + 1} of {s['epochs']}" if stop
                                     else f"it stopped after epoch {epoch + 1} of {s['epochs']}"),
                         "epochs": history},
                        os.path.join(args.output, "metrics.json"))
        dist.barrier()
        if stop:
            break

    if rank == 0 and epoch0 >= last_epoch:
        print(f"nothing to train: the checkpoint already holds epoch {epoch0} of {s['epochs']}; writing its student "
              f"again (--no-resume trains from the start)", flush=True)
    if rank == 0:
        # The EMA's weights when the recipe keeps one (what ScaleKD.Torch returns without validation data), else the last.
        state = ema.state if ema is not None else job.student.state_dict()
        save_safetensors(os.path.join(args.output, "student.safetensors"),
                         {k: v.detach().float().cpu() if v.is_floating_point() else v.cpu() for k, v in state.items()})
        print(f"wrote {os.path.join(args.output, 'student.safetensors')}", flush=True)
    dist.destroy_process_group()


def default_workers(device):
    """No workers on the CPU (training uses every core); on CUDA up to 4 per process, from the cores the processes of
    this node share."""
    if device.type != "cuda":
        return 0
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(0, min(4, (os.cpu_count() or 1) // local - 1))


def dump_step(path, model, images, labels, terms):
    """The batch, the terms (shape [1]), and per trainable parameter its clipped gradient and its value after the step,
    under the names ScaleKD.Torch's trainer gives them (student.*, objective.*)."""
    tensors = {"input.images": images, "input.labels": labels}
    tensors.update({f"output.{k}": v.detach().reshape(1) for k, v in terms.items()})
    for name, p in model.named_parameters():
        if p.requires_grad:
            tensors[f"param.{name}"] = p.detach()
            tensors[f"grad.{name}"] = p.grad
    save_safetensors(path, {k: v.detach().cpu() for k, v in tensors.items()})


def _optimizer_state(optimizer):
    return optim.lamb_state(optimizer) if isinstance(optimizer, optim.LambReference) else optimizer.state_dict()


if __name__ == "__main__":
    try:
        main()
    except (JobError, data.JobDataError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyError as e:  # a key deeper in job.json than read_settings checks
        print(f"error: {os.path.join(JOB_DIR, 'job.json')} lacks the key {e}; export the job again", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("stopped: the checkpoint of the last finished epoch is kept; run the same command again to resume from it",
              file=sys.stderr)
        sys.exit(130)
