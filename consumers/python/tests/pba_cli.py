"""What the tests need from the outside: the pba binary, the shared data, CIFAR-binary files.

Missing binary or data is a test failure with a message saying what to set, never a skip: CI
always has both, and a skipped cross-check would look like a passing one.
"""

import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[3]

CIFAR_SIDE = 32
CIFAR_PLANE = CIFAR_SIDE * CIFAR_SIDE
CIFAR_RECORD = 1 + 3 * CIFAR_PLANE


def pba_binary() -> Path:
    """``$PBA_BIN``, else the repository's release build."""
    path = Path(os.environ.get("PBA_BIN") or REPO / ".build" / "release" / "pba")
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"pba binary not found at {path}: run `swift build -c release --product pba` "
                    f"in {REPO} or set PBA_BIN", pytrace=False)
    return path


def shared_data() -> Path:
    """The shared data directory (holding cifar10-mini/ and pba-schedules/).

    ``$PBA_SHARED_DATA`` names it, as for the Swift tests and .ci/run; a directory that holds
    ``data/`` is accepted too. Default: ``<repo>/../shared/data``.
    """
    env = os.environ.get("PBA_SHARED_DATA")
    candidates = [Path(env), Path(env) / "data"] if env else [REPO.parent / "shared" / "data"]
    for c in candidates:
        if (c / "cifar10-mini" / "test_batch.bin").is_file() and (c / "pba-schedules").is_dir():
            return c
    pytest.fail(f"shared data not found (looked for cifar10-mini/ and pba-schedules/ in "
                f"{', '.join(map(str, candidates))}): set PBA_SHARED_DATA to the shared data directory",
                pytrace=False)


def run_pba(*args) -> str:
    """Runs pba and returns its standard output; a failure shows the command and its stderr."""
    command = [str(pba_binary()), *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}{done.stdout}", pytrace=False)
    return done.stdout


def run_pba_failing(*args) -> str:
    """Runs pba expecting failure; returns stderr + stdout."""
    command = [str(pba_binary()), *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode != 0, f"{' '.join(command)} succeeded, expected an error"
    return done.stderr + done.stdout


def read_cifar(path) -> list:
    """(label byte, RGB image) per record of a CIFAR-10 binary file (planar R, G, B, 32x32)."""
    data = Path(path).read_bytes()
    assert len(data) % CIFAR_RECORD == 0, f"{path}: {len(data)} bytes is not whole CIFAR records"
    records = []
    for start in range(0, len(data), CIFAR_RECORD):
        planes = [Image.frombytes("L", (CIFAR_SIDE, CIFAR_SIDE),
                                  data[start + 1 + c * CIFAR_PLANE: start + 1 + (c + 1) * CIFAR_PLANE])
                  for c in range(3)]
        records.append((data[start], Image.merge("RGB", planes)))
    return records


def write_cifar(path, records) -> None:
    """Writes (label byte, RGB 32x32 image) records as a CIFAR-10 binary file."""
    with open(path, "wb") as f:
        for label, img in records:
            f.write(bytes([label]))
            for band in img.split():
                f.write(band.tobytes())


def mean_fill(records) -> tuple:
    """``pba augment``'s default --fill: each channel's mean over all records, rounded half away
    from zero (Swift's ``rounded()``)."""
    sums = [0, 0, 0]
    for _, img in records:
        for c, band in enumerate(img.split()):
            sums[c] += sum(band.tobytes())
    n = len(records) * CIFAR_PLANE
    return tuple(int(s / n + 0.5) for s in sums)
