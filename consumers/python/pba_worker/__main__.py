"""python -m pba_worker --connect tcp://HOST:5555 [--curve-key W.key --server-key C.pub] [--device cuda|cpu]"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pba_worker", description=(
        "Train a pba coordinator's assignments (search intervals and evaluation cells) with PyTorch. "
        "The run must accept PyTorch workers (`pba search|coordinator|evaluate --worker-kind pytorch`). "
        "SIGTERM/SIGINT: finish the assignment in hand, send its result, leave; a second signal leaves at once."))
    p.add_argument("--connect", required=True, help="coordinator endpoint, e.g. tcp://coordinator.example:5555")
    p.add_argument("--id", help="worker id (default HOSTNAME-PID)")
    p.add_argument("--device", default="auto", help="cuda, cuda:N, cpu or auto (cuda when available)")
    p.add_argument("--curve-key", help="CURVE: this worker's key file (from `pba keygen`)")
    p.add_argument("--server-key", help="CURVE: the coordinator's public key file (.pub)")
    p.add_argument("--data", help="load the run's data from here instead (same data, another path); the fingerprint must match")
    p.add_argument("--trainable", help="MODULE:CLASS, a pba_worker.Trainable subclass for a model of your own (default: pba's WRN)")
    p.add_argument("--loader-workers", type=int, default=None,
                   help="DataLoader processes augmenting images (default: 0 on cpu, min(8, cores) on cuda)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    a = p.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if (a.curve_key is None) != (a.server_key is None):
        p.error("CURVE needs both --curve-key and --server-key")
    if a.loader_workers is not None and a.loader_workers < 0:
        p.error(f"--loader-workers must be ≥ 0, got {a.loader_workers}")
    import torch
    from .worker import Worker, load_trainable, read_key
    if a.threads:
        if a.threads < 1:
            p.error(f"--threads must be ≥ 1, got {a.threads}")
        torch.set_num_threads(a.threads)
    device_name = a.device
    if device_name == "auto":
        device_name = "cuda" if torch.cuda.is_available() else "cpu"
    if device_name.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {device_name}: this PyTorch has no CUDA device (torch {torch.__version__}); use --device cpu")
    try:
        device = torch.device(device_name)
    except RuntimeError as e:
        p.error(f"--device {a.device}: {e}")
    loader_workers = a.loader_workers if a.loader_workers is not None else (min(8, os.cpu_count() or 1) if device.type == "cuda" else 0)
    try:
        trainable = load_trainable(a.trainable)
        curve = None
        if a.curve_key:
            pub, sec = read_key(a.curve_key, True)
            server, _ = read_key(a.server_key, False)
            curve = (pub, sec, server)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    w = Worker(a.connect, a.id or f"{socket.gethostname()}-{os.getpid()}", device, trainable, a.data, curve,
               heartbeat_ms=int(os.environ.get("PBA_HEARTBEAT_MS", "1000")), loader_workers=loader_workers,
               threads=torch.get_num_threads())
    signal.signal(signal.SIGTERM, w.request_stop)
    signal.signal(signal.SIGINT, w.request_stop)
    return w.run()


if __name__ == "__main__":
    sys.exit(main())
