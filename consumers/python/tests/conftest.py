"""Shared fixtures: the reader under test, pba's binary, the shared data and a small CIFAR file."""

import sys
from pathlib import Path

import pytest

# The reader is a single file meant to be copied next to a training script; import it from here.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pba_cli  # noqa: E402

#: Records of the test batch the cross-checks run on (enough for every operation to do something,
#: few enough that each pba call stays fast).
SUBSET_RECORDS = 64


@pytest.fixture(scope="session")
def pba_bin() -> Path:
    return pba_cli.pba_binary()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return pba_cli.shared_data()


@pytest.fixture(scope="session")
def cifar_subset(shared_data, tmp_path_factory):
    """(path, records): the first SUBSET_RECORDS records of cifar10-mini's test batch."""
    records = pba_cli.read_cifar(shared_data / "cifar10-mini" / "test_batch.bin")[:SUBSET_RECORDS]
    path = tmp_path_factory.mktemp("cifar") / "subset.bin"
    pba_cli.write_cifar(path, records)
    return path, records


@pytest.fixture(scope="session")
def imported_schedules(shared_data, pba_bin, tmp_path_factory):
    """PBA's published schedules imported by pba: {name: JSON path}."""
    out = tmp_path_factory.mktemp("schedules")
    paths = {}
    for name, epochs in (("rcifar10_16_wrn", 200), ("rsvhn_16_wrn", 160)):
        paths[name] = out / f"{name}.json"
        pba_cli.run_pba("schedule", "import", shared_data / "pba-schedules" / f"{name}.txt",
                        "--epochs", epochs, "--dataset", name, "--out", paths[name])
    return paths
