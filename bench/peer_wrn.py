#!/usr/bin/env python3
"""PyTorch peer of `pba bench engine`: the same Wide-ResNet (Zagoruyko form), the same training
step, timed the same way, and a table of our/PyTorch ratios.

Run by bench/peer.sh inside .venv-peer. Three modes:

  peer_wrn.py one --model wrn-40-2 --threads 1 --format channels_last ...
      one configuration in this process; prints one JSON line. The driver runs every configuration
      in a fresh subprocess so that one's memory peak and allocator state cannot leak into another.
  peer_wrn.py run --models wrn-40-2,wrn-16-1 --threads 1,2 --ours ours.json --json torch.json ...
      every configuration (each format, thread count, model), checks parameter counts against
      ours.json, writes the rows, prints the comparison table.
  peer_wrn.py table --ours ours.json --torch torch.json
      the table again from saved results. With comma-separated lists (one file per round, the
      rounds of peer.sh --rounds, each side measured alternately), each side's img/s is the
      median over the rounds and a column gives the range of the per-round ratios.

The model is the PyTorch worker's WideResNet (consumers/python/pba_worker/model.py), which mirrors
Sources/Engine/Model/WideResNet.swift in both forms (named as pba names them: wrn-D-K is PBA's
form, wrn-D-K-zagoruyko the Zagoruyko form), with NHWC-equivalent (channels_last) or NCHW
(contiguous) tensors; the parameter counts are checked against pba's. Training step: forward, mean cross-entropy,
backward, gradient clipping by global norm 5, SGD lr 0.1 momentum 0.9 Nesterov weight decay 5e-4.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

FORMATS = ("channels_last", "contiguous")


# ---------------------------------------------------------------------------------------------
# model

def build_model(depth, widen, form="zagoruyko", channels=3, classes=10):
    """The PyTorch worker's WideResNet (consumers/python/pba_worker/model.py), either form:
    one definition of the PyTorch model in the project. Loaded from its file, not as the package,
    so this venv needs torch only (the package's __init__ pulls in the worker's Pillow pipeline)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "consumers", "python", "pba_worker", "model.py")
    spec = importlib.util.spec_from_file_location("pba_worker_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WideResNet(depth, widen, form, channels=channels, classes=classes)


def parse_model(name):
    """(depth, widen, form) of a name as pba spells it: wrn-D-K (PBA's form) or wrn-D-K-zagoruyko."""
    m = re.fullmatch(r"wrn-(\d+)-(\d+)(-zagoruyko)?", name.strip().lower())
    if not m:
        sys.exit(f"peer_wrn: model '{name}' is not wrn-DEPTH-WIDEN or wrn-DEPTH-WIDEN-zagoruyko")
    return int(m.group(1)), int(m.group(2)), "zagoruyko" if m.group(3) else "pba"


def model_name(name):
    """The name pba's bench writes for a model (the form is part of it)."""
    return name.strip().lower()


# ---------------------------------------------------------------------------------------------
# one configuration (run in a fresh process)

def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def reset_peak():
    """Resets VmHWM (Linux clear_refs 5). False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def one(args):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    depth, widen, form = parse_model(args.model)
    h, w, c = (int(v) for v in args.input.split("x"))
    model = build_model(depth, widen, form, channels=c, classes=10)
    fmt = torch.channels_last if args.format == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    params = sum(p.numel() for p in model.parameters())

    rss_model = status_kb("VmRSS")
    peak_reset = reset_peak()
    x = torch.randn(args.batch_size, c, h, w).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (args.batch_size,))

    times = []
    for s in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        t = time.perf_counter() - t0
        if s >= args.warmup:
            times.append(t)
    if not torch.isfinite(loss):
        sys.exit("peer_wrn: loss is not finite")

    if peak_reset:
        peak_kb = status_kb("VmHWM")
    else:  # fresh process: its lifetime peak before the model was built is at most rss_model
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    m = statistics.median(times)
    row = {
        "model": model_name(args.model), "threads": args.threads, "format": args.format,
        "imagesPerSecond": args.batch_size / m, "medianStepSeconds": m, "steps": args.steps,
        "memoryMB": max(0, peak_kb - rss_model) / 1024, "peakResetWorked": peak_reset,
        "parameters": params, "torchThreads": torch.get_num_threads(),
    }
    print(json.dumps(row), flush=True)


# ---------------------------------------------------------------------------------------------
# driver and table

def load_ours(path):
    with open(path) as f:
        rows = json.load(f)
    return {(model_name(r["model"]), int(r["threads"])): r for r in rows}


def run(args):
    import torch

    ours = load_ours(args.ours) if args.ours else {}
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    threads = [int(t) for t in args.threads.split(",") if t.strip()]

    # Same architecture: the parameter counts must agree with ours before anything is timed.
    for name in models:
        depth, widen, form = parse_model(name)
        n = sum(p.numel() for p in build_model(depth, widen, form).parameters())
        mine = [r["parameters"] for (m, _), r in ours.items() if m == model_name(name)]
        if ours:
            if not mine:
                sys.exit(f"peer_wrn: {args.ours} has no row for {name}")
            if any(p != n for p in mine):
                sys.exit(f"peer_wrn: parameter count mismatch for {name}: pba {mine[0]:,}, PyTorch {n:,}")
            print(f"{model_name(name)}: {n:,} parameters in both")
        else:
            print(f"{model_name(name)}: {n:,} parameters (no pba results to compare)")
    print(f"torch {torch.__version__}, default threads {torch.get_num_threads()}, "
          f"batch {args.batch_size}, median of {args.steps} steps after {args.warmup} warm-up", flush=True)

    rows = []
    for t in threads:
        for name in models:
            for fmt in FORMATS:
                cmd = [sys.executable, os.path.abspath(__file__), "one", "--model", name, "--threads", str(t),
                       "--format", fmt, "--steps", str(args.steps), "--warmup", str(args.warmup),
                       "--batch-size", str(args.batch_size), "--input", args.input]
                env = dict(os.environ, OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
                out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                rows.append(row)
                print(f"  torch {row['model']:20} {t} thr {fmt:13}: {row['imagesPerSecond']:7.1f} img/s"
                      f"  memory {row['memoryMB']:6.0f} MB", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    if ours:
        print_table(ours, rows)


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def merge_rounds(rounds, key):
    """One row per key from several rounds' rows: the median img/s and the median memory; the
    rounds' own values kept in 'rounds' (img/s per round, in round order)."""
    grouped = {}
    for rows in rounds:
        for r in rows:
            grouped.setdefault(key(r), []).append(r)
    merged = {}
    for k, rs in grouped.items():
        row = dict(rs[0])
        row["imagesPerSecond"] = statistics.median(r["imagesPerSecond"] for r in rs)
        row["memoryMB"] = statistics.median(r["memoryMB"] for r in rs)
        row["rounds"] = [r["imagesPerSecond"] for r in rs]
        merged[k] = row
    return merged


def round_ratios(o, cl, nc):
    """pba/best of each round (the rounds measured both sides alternately), where all have one."""
    if not o or "rounds" not in o:
        return None
    sides = [x["rounds"] for x in (cl, nc) if x and "rounds" in x]
    if not sides or any(len(s) != len(o["rounds"]) for s in sides):
        return None
    return [ours / max(s[i] for s in sides) for i, ours in enumerate(o["rounds"])]


def print_table(ours, torch_rows, goal=1.5):
    t = {(r["model"], r["threads"], r["format"]): r for r in torch_rows}
    order = list(dict.fromkeys(r["model"] for r in torch_rows))  # models in the order given
    keys = sorted({(m, th) for (m, th, _) in t}, key=lambda k: (order.index(k[0]), k[1]))
    head = (f"{'model':20} {'thr':>3} {'pba img/s':>10} {'torch CL':>9} {'torch NCHW':>10} "
            f"{'pba/torch CL':>12} {'pba/best':>8} {'pba MB':>7} {'torch CL MB':>11} {'mem pba/torch':>13}")
    rounds = max((len(r.get("rounds", [])) for r in torch_rows), default=0)
    if rounds > 1:
        head += f" {'pba/best per round':>19}"
    print()
    print("pba vs PyTorch (CL = channels_last, usually PyTorch's fastest CPU setting; NCHW = contiguous;")
    print(f"best = the faster of the two for that row; goal: pba/best >= {goal:.2f}x at no more memory)")
    if rounds > 1:
        print(f"(median of {rounds} rounds per side; the rounds alternate pba and PyTorch)")
    print(head)
    print("-" * len(head))
    short = []
    for m, th in keys:
        o = ours.get((m, th))
        cl, nc = t.get((m, th, "channels_last")), t.get((m, th, "contiguous"))
        o_ips = o["imagesPerSecond"] if o else None
        o_mb = o["memoryMB"] if o else None
        cl_ips = cl["imagesPerSecond"] if cl else None
        cl_mb = cl["memoryMB"] if cl else None
        nc_ips = nc["imagesPerSecond"] if nc else None
        best = max((v for v in (cl_ips, nc_ips) if v), default=None)
        if o_ips and best and o_ips / best < goal:
            short.append(f"{m} {th} thr ({o_ips / best:.2f}x)")
        f = lambda v, w, p=1: f"{v:{w}.{p}f}" if v is not None else f"{'-':>{w}}"
        print(f"{m:20} {th:3d} {f(o_ips, 10)} {f(cl_ips, 9)} {f(nc_ips, 10)} {ratio(o_ips, cl_ips):>12} {ratio(o_ips, best):>8} "
              f"{f(o_mb, 7, 0)} {f(cl_mb, 11, 0)} {ratio(o_mb, cl_mb):>13}"
              + (f" {per_round(round_ratios(o, cl, nc)):>19}" if rounds > 1 else ""))
    print("ratios > 1.00x: pba is faster (throughput) / uses more memory (memory).")
    print(f"below {goal:.2f}x of PyTorch's best: " + (", ".join(short) if short else "none"))


def per_round(ratios):
    return f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "-"


def table(args):
    def load(path):
        with open(path) as f:
            return json.load(f)
    ours = [load(p) for p in args.ours.split(",")]
    torch_rounds = [load(p) for p in args.torch.split(",")]
    if len(ours) != len(torch_rounds):
        sys.exit(f"peer_wrn: {len(ours)} pba rounds but {len(torch_rounds)} PyTorch rounds")
    merged_ours = merge_rounds(ours, lambda r: (model_name(r["model"]), int(r["threads"])))
    merged_torch = merge_rounds(torch_rounds, lambda r: (r["model"], r["threads"], r["format"]))
    print_table(merged_ours, list(merged_torch.values()))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--steps", type=int, default=20, help="timed steps (median reported)")
    common.add_argument("--warmup", type=int, default=3, help="warm-up steps")
    common.add_argument("--batch-size", type=int, default=128)
    common.add_argument("--input", default="32x32x3", help="HxWxC")
    o = sub.add_parser("one", parents=[common], help="one configuration, one JSON line")
    o.add_argument("--model", required=True)
    o.add_argument("--threads", type=int, required=True)
    o.add_argument("--format", choices=FORMATS, required=True)
    r = sub.add_parser("run", parents=[common], help="every configuration, then the table")
    r.add_argument("--models", default="wrn-40-2-zagoruyko,wrn-16-1-zagoruyko", help="names as pba writes them (wrn-D-K: PBA's form)")
    r.add_argument("--threads", default="1,2")
    r.add_argument("--ours", help="pba bench engine --json output (parameter check and table)")
    r.add_argument("--json", help="write PyTorch rows here")
    t = sub.add_parser("table", help="the table from saved results")
    t.add_argument("--ours", required=True, help="pba results; comma-separated: one file per round")
    t.add_argument("--torch", required=True, help="PyTorch results; comma-separated: one file per round, as many as --ours")
    args = p.parse_args()
    {"one": one, "run": run, "table": table}[args.mode](args)


if __name__ == "__main__":
    main()
