"""Training an assignment with PyTorch: the built-in WRN trainable (pba's recipe) and the hook
for a user's own model (`Trainable`)."""
from __future__ import annotations

import io
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np
import torch
from torch import nn

from . import data as pdata
from .model import WideResNet

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pba_schedule as ps  # noqa: E402  (the schedule reader we ship, next to this package)

CHECKPOINT_MAGIC = b"PBA-PYTORCH-CHECKPOINT-1\n"
#: The baselines that are a policy recipe before base + Cutout (pba's foundation stages).
POLICY_BASELINES = ("randaugment", "trivialaugment", "autoaugment")


class AssignmentError(ValueError):
    """An assignment this worker cannot train (said back to the coordinator as an ERROR)."""


@dataclass
class Outcome:
    accuracy: float
    train_loss: float
    checkpoint: bytes = b""
    predictions: List[int] = field(default_factory=list)


@dataclass
class Assignment:
    id: int
    kind: int  # wire.SEARCH_INTERVAL or wire.EVALUATION_CELL
    member: int
    epoch_start: int
    epoch_end: int
    training_seed: int
    augmentation: tuple
    checkpoint: tuple  # ("initial", seed) or ("bytes", b"...")

    @property
    def is_evaluation(self) -> bool:
        return self.kind == 2


class Context:
    """What a trainable gets once per job: the job description (WELCOME's JSON), the split
    data (numpy uint8 N×H×W×C), the normalisation, the device, and augmented batches."""

    def __init__(self, job: dict, train: pdata.Dataset, test: pdata.Dataset, device: torch.device, loader_workers: int):
        self.job, self.device, self.loader_workers = job, device, loader_workers
        self.train, self.validation = pdata.split(train, job["trainSize"], job["validationSize"], job["splitSeed"])
        self.test = test
        self.mean, self.std = self.train.channel_statistics()
        self.epochs = job["options"]["epochs"]
        self.batch_size = job["options"]["batchSize"]

    @property
    def classes(self) -> int:
        return self.job["model"]["classes"]

    def scored(self, a: "Assignment") -> pdata.Dataset:
        """The images an assignment is scored on: the validation split for a search interval and
        for an evaluation cell of a validation-only evaluation (`pba evaluate --validation-size`),
        the test set for any other evaluation cell."""
        if a.is_evaluation and self.job["validationSize"] == 0:
            return self.test
        return self.validation

    def base_augmentation(self, cutout: int) -> ps.BaseAugmentation:
        return ps.BaseAugmentation(padding=self.job["padding"], random_crop=self.job["padding"] > 0,
                                   horizontal_flip=self.job["flip"], cutout_size=cutout, fill="dataset-mean",
                                   normalization_mean=tuple(self.mean), normalization_std=tuple(self.std))

    def foundation(self) -> Optional[str]:
        """The job's foundation (a search stacked on a baseline recipe), checked."""
        name = self.job.get("foundation")
        if name is not None:
            try:
                ps.parse_foundation(name)
            except ValueError as e:
                raise AssignmentError(f"job foundation: {e}") from None
        return name

    @staticmethod
    def member_foundation(name: str) -> str:
        """A member's own foundation (ASSIGN tag 4: a search starting from several baselines),
        checked: it replaces the job's, as in pba's IntervalTrainer."""
        try:
            ps.parse_foundation(name)
        except ValueError as e:
            raise AssignmentError(f"member foundation: {e}") from None
        return name

    @staticmethod
    def policy(ops: tuple, values: tuple) -> ps.Policy:
        """An assignment's policy, refused unless this worker can apply it."""
        unknown = [o for o in ops if o not in ps.PBA_OPERATIONS]
        if unknown:
            raise AssignmentError(f"policy names unknown operations {unknown} (known: {', '.join(ps.PBA_OPERATIONS)})")
        if any(v > 10 for v in values):
            raise AssignmentError(f"policy values must be 0...10, got {max(values)}")
        return ps.Policy(ops, values)

    def augmentation(self, spec: tuple) -> Callable[[int], "ImageAugmentation"]:
        """Per epoch: (policy or None, base or None, foundation or None), exactly as pba's
        IntervalTrainer chooses them: a member's own foundation (tag 4) replaces the job's."""
        schedule_cutout = self.job.get("scheduleCutout", self.job["cutout"])
        if spec[0] in ("policy", "policy_on_foundation"):
            if spec[0] == "policy":
                foundation, ops, values = self.foundation(), spec[1], spec[2]
            else:
                foundation, ops, values = self.member_foundation(spec[1]), spec[2], spec[3]
            policy = self.policy(tuple(ops), tuple(values))
            a = ImageAugmentation(policy, self.base_augmentation(schedule_cutout), foundation)
            return lambda epoch: a
        if spec[0] == "schedule":
            try:
                schedule = ps.Schedule.from_json(spec[1])
                policies = schedule.epoch_policies(self.epochs)
            except ValueError as e:
                raise AssignmentError(f"schedule: {e}") from None
            base = self.base_augmentation(schedule_cutout)
            foundation = schedule.base_augmentation.foundation
            return lambda epoch: ImageAugmentation(policies[epoch], base, foundation)
        name = spec[1].lower().replace(" ", "")
        if name == "none":
            a = ImageAugmentation(None, None)
        elif name == "base":
            a = ImageAugmentation(None, self.base_augmentation(0))
        elif name == "cutout":
            a = ImageAugmentation(None, self.base_augmentation(self.job["cutout"]))
        elif name.startswith(POLICY_BASELINES):
            try:
                ps.parse_foundation(name)
            except ValueError as e:
                raise AssignmentError(str(e)) from None
            a = ImageAugmentation(None, self.base_augmentation(self.job["cutout"]), name)
        else:
            raise AssignmentError(f"unknown baseline '{spec[1]}'")
        return lambda epoch: a

    def batches(self, images: np.ndarray, labels: np.ndarray, seed: int, epoch: int, augment: "ImageAugmentation"):
        """The epoch's batches in pba's order (epochPermutation, last batch partial), augmented
        on DataLoader workers, normalised on the device: (x float NCHW, y int64)."""
        order = pdata.epoch_permutation(len(labels), seed, epoch)
        bs = self.batch_size
        batches = [order[i:i + bs] for i in range(0, len(order), bs)]
        ds = _AugmentedImages(images, labels, augment, seed, epoch)
        loader = torch.utils.data.DataLoader(ds, batch_sampler=batches, num_workers=self.loader_workers,
                                             pin_memory=self.device.type == "cuda", collate_fn=_collate)
        mean = torch.tensor(self.mean, device=self.device).view(1, -1, 1, 1) * 255
        std = torch.tensor(self.std, device=self.device).view(1, -1, 1, 1) * 255
        for x, y in loader:
            x = x.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()
            yield (x - mean) / std, y.to(self.device, non_blocking=True)

    def evaluation_batches(self, d: pdata.Dataset, batch_size: int = 256):
        mean = torch.tensor(self.mean, device=self.device).view(1, -1, 1, 1) * 255
        std = torch.tensor(self.std, device=self.device).view(1, -1, 1, 1) * 255
        for i in range(0, len(d.labels), batch_size):
            x = torch.from_numpy(d.images[i:i + batch_size]).to(self.device).permute(0, 3, 1, 2).float()
            yield (x - mean) / std, torch.from_numpy(d.labels[i:i + batch_size].astype(np.int64)).to(self.device)


@dataclass
class ImageAugmentation:
    policy: Optional[ps.Policy]
    base: Optional[ps.BaseAugmentation]
    #: A baseline recipe applied first (the AutoAugment/RandAugment/TrivialAugment baselines,
    #: and a search or schedule stacked on one), as pba's Augmentation.foundation.
    foundation: Optional[str] = None

    def apply(self, img: np.ndarray, rng: random.Random) -> np.ndarray:
        if self.policy is None and self.base is None and self.foundation is None:
            return img
        grey = img.shape[2] == 1
        pil = ps.Image.fromarray(img[:, :, 0] if grey else img, "L" if grey else "RGB")
        fill = self.base.fill_colour() if self.base else None
        if self.foundation is not None:
            pil = ps.apply_foundation(pil, self.foundation, rng, fill if fill is not None else ps.CIFAR10_MEAN_FILL)
        if self.policy is not None:
            pil = ps.apply_policy(pil, self.policy, rng, fill if fill is not None else ps.CIFAR10_MEAN_FILL)
        if self.base is not None:
            pil = ps.apply_base_augmentation(pil, self.base, rng, fill)
        out = np.asarray(pil, dtype=np.uint8)
        return out[:, :, None] if grey else out


class _AugmentedImages(torch.utils.data.Dataset):
    def __init__(self, images, labels, augment, seed, epoch):
        self.images, self.labels, self.augment, self.seed, self.epoch = images, labels, augment, seed, epoch

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        # One generator per (seed, epoch, image): the pixels do not depend on the worker count.
        rng = random.Random((self.seed * 1_000_003 + self.epoch) * 10_000_019 + i)
        return self.augment.apply(self.images[i], rng), int(self.labels[i])


def _collate(items):
    x = torch.from_numpy(np.stack([a for a, _ in items]))
    y = torch.tensor([b for _, b in items], dtype=torch.int64)
    return x, y


class Trainable:
    """The hook for a model of your own (`python -m pba_worker --trainable MODULE:CLASS`).

    Subclass it, set `identity` to a name for your model (the run must be created with
    `--worker-kind pytorch --worker-model THAT_NAME`), and implement `run`. `self.ctx` has the
    job, the split data (`ctx.train`, `ctx.validation`, `ctx.test`: uint8 N×H×W×C arrays and
    labels; `ctx.scored(a)`: the one the assignment is scored on), `ctx.classes`, `ctx.device`,
    `ctx.augmentation(a.augmentation)(epoch)` (the epoch's policy and base
    augmentation, pba's pixels) and `ctx.batches(...)`. `run` trains epochs
    [a.epoch_start, a.epoch_end) from `a.checkpoint` (("initial", weight_seed) or ("bytes", what
    your run returned earlier)) and returns an `Outcome`: validation accuracy and per-image
    correctness (1/0 per validation image) plus your checkpoint bytes for a search interval; test
    accuracy and predicted classes for an evaluation cell. Call `self.should_stop()` between
    steps and return None when it is true (the assignment is handed back)."""

    identity = "custom"

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.should_stop: Callable[[], bool] = lambda: False

    def run(self, a: Assignment) -> Optional[Outcome]:
        raise NotImplementedError


class WRNTrainable(Trainable):
    """pba's Wide-ResNet and recipe: SGD Nesterov, per-step cosine from lr to 0 over the whole
    run, weight decay on every parameter, loss-gradient clipping by global norm, BN momentum
    and eps from the job."""

    identity = "wrn"

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        spec = ctx.job["model"]
        self.spec = spec
        if spec["height"] != ctx.train.images.shape[1] or spec["channels"] != ctx.train.images.shape[3]:
            raise AssignmentError(f"job model input {spec['height']}×{spec['width']}×{spec['channels']} does not match the data")

    def build(self, seed: int) -> nn.Module:
        o = self.ctx.job["options"]
        torch.manual_seed(seed & 0x7FFF_FFFF_FFFF_FFFF)
        s = self.spec
        return WideResNet(s["depth"], s["widen"], s["form"], s["channels"], s["classes"],
                          o["batchNormMomentum"], o["batchNormEpsilon"]).to(self.ctx.device).to(memory_format=torch.channels_last)

    def optimizer(self, model):
        sgd = self.ctx.job["options"]["sgd"]
        return torch.optim.SGD(model.parameters(), lr=sgd["learningRate"], momentum=sgd["momentum"],
                               nesterov=sgd["nesterov"], weight_decay=sgd["weightDecay"])

    def load(self, a: Assignment):
        if a.checkpoint[0] == "initial":
            model = self.build(a.checkpoint[1])
            return model, self.optimizer(model), 0, 0
        blob = a.checkpoint[1]
        if not blob.startswith(CHECKPOINT_MAGIC):
            raise AssignmentError("the checkpoint is not a PyTorch worker's (a Swift worker's checkpoint? this run must "
                                  "take one worker kind): cannot continue from it")
        try:
            state = torch.load(io.BytesIO(blob[len(CHECKPOINT_MAGIC):]), map_location=self.ctx.device, weights_only=True)
        except Exception as e:  # noqa: BLE001  (any unreadable checkpoint is a refused assignment)
            raise AssignmentError(f"checkpoint unreadable: {e}") from None
        if state.get("model_spec") != self.spec:
            raise AssignmentError(f"checkpoint is of model {state.get('model_spec')}, the job's is {self.spec}")
        model = self.build(0)
        model.load_state_dict(state["model"])
        opt = self.optimizer(model)
        opt.load_state_dict(state["optimizer"])
        return model, opt, state["epoch"], state["step"]

    def run(self, a: Assignment) -> Optional[Outcome]:
        ctx = self.ctx
        model, opt, epoch, step = self.load(a)
        if epoch != a.epoch_start:
            raise AssignmentError(f"checkpoint is at epoch {epoch}, assignment starts at {a.epoch_start}")
        augment_for = ctx.augmentation(a.augmentation)
        o = ctx.job["options"]
        base_lr, clip = o["sgd"]["learningRate"], o["sgd"]["gradientClipNorm"]
        per_epoch = math.ceil(len(ctx.train.labels) / ctx.batch_size)
        total = per_epoch * ctx.epochs
        loss_fn = nn.CrossEntropyLoss()
        losses = []
        while epoch < a.epoch_end:
            model.train()
            loss_sum, seen = torch.zeros((), device=ctx.device), 0
            for x, y in ctx.batches(ctx.train.images, ctx.train.labels, a.training_seed, epoch, augment_for(epoch)):
                if self.should_stop():
                    return None
                lr = 0.5 * base_lr * (1 + math.cos(math.pi * min(1.0, step / total)))
                for g in opt.param_groups:
                    g["lr"] = lr
                x = x.contiguous(memory_format=torch.channels_last)
                loss = loss_fn(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                opt.step()
                step += 1
                loss_sum += loss.detach() * len(y)
                seen += len(y)
            losses.append(float(loss_sum) / max(1, seen))
            epoch += 1
        train_loss = sum(losses) / max(1, len(losses))
        scored = ctx.scored(a)
        acc, preds = evaluate(model, ctx, scored)
        if a.is_evaluation:
            return Outcome(acc, train_loss, b"", preds)
        correct = [int(p == l) for p, l in zip(preds, scored.labels.tolist())]
        buf = io.BytesIO()
        torch.save({"model_spec": self.spec, "epoch": epoch, "step": step, "model": model.state_dict(),
                    "optimizer": opt.state_dict()}, buf)
        return Outcome(acc, train_loss, CHECKPOINT_MAGIC + buf.getvalue(), correct)


@torch.no_grad()
def evaluate(model: nn.Module, ctx: Context, d: pdata.Dataset):
    model.eval()
    preds = []
    for x, _ in ctx.evaluation_batches(d):
        preds.append(model(x.contiguous(memory_format=torch.channels_last)).argmax(1).cpu())
    p = torch.cat(preds).tolist() if preds else []
    acc = sum(int(a == b) for a, b in zip(p, d.labels.tolist())) / max(1, len(p))
    return acc, p
