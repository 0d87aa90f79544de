"""python -m pba_worker.bench: the PyTorch worker's img/s on the device it finds -- the model
step alone, the augmentation pipeline alone (DataLoader workers, pba's ops on PIL), and the two
overlapped as a search interval runs them -- next to the Swift engine's training step on this
CPU (`pba bench engine`), measured in the same run. Prints ratios; asserts nothing."""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import data as pdata
from .model import WideResNet
from .training import Context, ImageAugmentation, ps


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# consumers/python/pba_worker/bench.py -> the repository root, so that the defaults below work from
# any directory, not only from the root.
REPO_ROOT = Path(__file__).resolve().parents[3]


def first_existing(*candidates):
    for c in candidates:
        if c.exists():
            return c
    return None


def default_data():
    d = first_existing(Path("../shared/data/cifar10-mini"), REPO_ROOT.parent / "shared" / "data" / "cifar10-mini")
    return f"cifar10:{d}" if d else None


def default_pba():
    if os.environ.get("PBA_BIN"):
        return os.environ["PBA_BIN"]
    found = first_existing(Path(".build/release/pba"), REPO_ROOT / ".build" / "release" / "pba")
    return str(found) if found else ".build/release/pba"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m pba_worker.bench", description=__doc__)
    p.add_argument("--model", default="wrn-10-1")
    p.add_argument("--form", default="zagoruyko")
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default=None, help="cifar10:DIR for real images (default: cifar10-mini in ../shared/data beside the "
                   "current directory or beside the repository, if present; else random images)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--loader-workers", type=int, default=None)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="torch CPU threads and the Swift engine's threads (default: all cores)")
    p.add_argument("--pba", default=default_pba(), help="the pba binary for the Swift side (default: $PBA_BIN, "
                   "else .build/release/pba here or in the repository)")
    a = p.parse_args(argv)
    a.threads = max(1, a.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device)
    depth, widen = (int(x) for x in a.model.split("-")[1:3])
    workers = a.loader_workers if a.loader_workers is not None else (min(8, os.cpu_count() or 1) if device.type == "cuda" else 1)
    bs = 128
    torch.set_num_threads(a.threads)
    src = a.data or default_data()
    if src:
        train, test = pdata.load(src)
    else:
        rng = np.random.default_rng(0)
        train = pdata.Dataset(rng.integers(0, 256, (2048, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 2048).astype(np.int32), 10)
        test = train
    n = min(len(train.labels) - 1, bs * (a.steps + 2))
    job = {"trainSize": n, "validationSize": 0, "splitSeed": 0, "padding": 4, "flip": True, "cutout": 0,
           "options": {"epochs": 1, "batchSize": bs}}
    ctx = Context(job, train, test, device, workers)
    # A dense policy (PBA's operations, mid magnitudes) + base: a heavy but typical search epoch.
    ops = ps.PBA_OPERATIONS
    policy = ps.Policy(tuple(ops), tuple([5, 5] * (2 * len(ops))))
    aug = ImageAugmentation(policy, ctx.base_augmentation(0))

    model = WideResNet(depth, widen, a.form).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(bs, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (bs,), device=device)

    def step(x, y):
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    for _ in range(3):
        step(x, y)
    sync(device)
    t = time.perf_counter()
    for _ in range(a.steps):
        step(x, y)
    sync(device)
    step_ips = a.steps * bs / (time.perf_counter() - t)

    t, seen = time.perf_counter(), 0
    for xb, yb in ctx.batches(ctx.train.images, ctx.train.labels, 1, 0, aug):
        seen += len(yb)
    sync(device)
    aug_ips = seen / (time.perf_counter() - t)

    t, seen = time.perf_counter(), 0
    for xb, yb in ctx.batches(ctx.train.images, ctx.train.labels, 1, 1, aug):
        step(xb.contiguous(memory_format=torch.channels_last), yb)
        seen += len(yb)
    sync(device)
    whole_ips = seen / (time.perf_counter() - t)

    swift_ips = None
    if os.path.exists(a.pba):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "engine.json")
            r = subprocess.run([a.pba, "bench", "engine", "--threads", str(a.threads), "--models", a.model, "--form", a.form,
                                "--steps", str(a.steps), "--json", out], capture_output=True, text=True)
            if r.returncode == 0:
                try:
                    rows = json.load(open(out))
                    rows = rows if isinstance(rows, list) else rows.get("results", [rows])
                    swift_ips = float(rows[0].get("imagesPerSecond", rows[0].get("imgPerSec")))
                except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                    print("could not read pba bench engine's JSON; its output:\n" + r.stdout, file=sys.stderr)
            else:
                print(f"pba bench engine failed: {r.stderr.strip()}", file=sys.stderr)
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({cpu_name()}, {torch.get_num_threads()} torch threads)"
    print(f"PyTorch worker, {a.model} {a.form}, batch {bs}, device {dev}, torch {torch.__version__}")
    print(f"  data: {src or 'random images (no cifar10-mini found; give --data cifar10:DIR)'}")
    print(f"  model step (random data, no loading)       {step_ips:8.0f} img/s")
    print(f"  augmentation pipeline alone ({workers} loader workers, dense policy + pad/crop/flip)  {aug_ips:8.0f} img/s")
    print(f"  whole pipeline (augmentation overlapped with the step)  {whole_ips:8.0f} img/s  "
          f"({100 * whole_ips / step_ips:.0f}% of the step alone)")
    if swift_ips:
        print(f"Swift engine on this CPU ({cpu_name()}, {a.threads} threads), training step: {swift_ips:8.0f} img/s")
        print(f"  PyTorch worker step / Swift step: {step_ips / swift_ips:.2f}x; whole pipeline / Swift step: {whole_ips / swift_ips:.2f}x")
    else:
        print("Swift engine: not measured (no pba binary; set PBA_BIN)")


if __name__ == "__main__":
    main()
