"""The PyTorch worker (consumers/python/pba_worker) against the real Swift coordinator: an
end-to-end search, an evaluation cell, a worker killed mid-interval (requeued), a wrong CURVE
key refused, the other worker kind refused with what to start, malformed frames answered with
an ERROR. Skipped where torch or pyzmq is missing (`make test` installs both in .venv-worker)."""

import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
zmq = pytest.importorskip("zmq")

PYTHON_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PYTHON_DIR))

import numpy as np  # noqa: E402
from pba_worker import wire, data as pdata  # noqa: E402
from pba_worker import training  # noqa: E402

ps = training.ps

TINY = ["--preset", "reduced-cifar10", "--population", "2", "--epochs", "2", "--interval", "1",
        "--train-size", "200", "--validation-size", "100", "--worker-kind", "pytorch"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, log, cwd=None):
    return subprocess.Popen([str(a) for a in args], stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=cwd)


def python_worker(endpoint, log, *extra, pythonpath=()):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in (PYTHON_DIR, *pythonpath)))
    return subprocess.Popen([sys.executable, "-m", "pba_worker", "--connect", endpoint, "--device", "cpu", "--threads", "1", *extra],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)


def wait(p, seconds, what):
    try:
        return p.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail(f"{what} did not finish within {seconds} s")


def wait_for(path, text, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in Path(path).read_text(errors="replace"):
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def cifar(shared_data):
    return f"cifar10:{shared_data / 'cifar10-mini'}"


# MARK: pure

def test_codec_round_trips_and_rejects_malformed_frames():
    ck = bytes(range(256)) * 3
    messages = [
        wire.Message(wire.HELLO, 1, dict(worker_id="w", pba_version="0.1.0", protocol_version=3, threads=2, hostname="h", kind="pytorch", model="wrn")),
        wire.Message(wire.ASSIGN, 2, dict(assignment_id=7, kind=1, member=3, epoch_start=3, epoch_end=6, training_seed=2**64 - 1,
                                          augmentation=("policy", ["Rotate"], [1, 2, 10, 9]), checkpoint=("bytes", ck))),
        wire.Message(wire.RESULT, 3, dict(assignment_id=8, accuracy=0.5, train_loss=2.0, seconds=1.0, checkpoint=b"", predictions=[0, 9, -1])),
        wire.Message(wire.ERROR, 4, dict(code=4, message="fingerprint differs", version=3)),
    ]
    for m in messages:
        d = wire.decode(wire.encode(m))
        assert (d.type, d.request_id) == (m.type, m.request_id)
        for k, v in m.fields.items():
            assert d.fields[k] == v, k
    good = wire.encode(messages[1])
    for bad, reason in [(good[:10], "shorter"), (b"X" + good[1:], "magic"), (good[:-1], "declares"),
                        (good[:4] + b"\x09\x00" + good[6:], "protocol version 9")]:
        with pytest.raises(wire.WireError, match=reason):
            wire.decode(bad)
    corrupt = bytearray(good)
    corrupt[-1] ^= 0xFF
    with pytest.raises(wire.WireError, match="SHA-256"):
        wire.decode(bytes(corrupt))


def text(s):
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def assign_frame(augmentation: bytes, request_id=5) -> bytes:
    """An ASSIGN frame laid out by hand as WireCodec.swift writes it: assignment 7, a search
    interval of member 3 over epochs 2..<4, training seed 11, ``augmentation`` (tag and fields),
    an initial checkpoint with weight seed 13."""
    payload = (struct.pack("<QBIIIQ", 7, wire.SEARCH_INTERVAL, 3, 2, 4, 11) + augmentation
               + struct.pack("<BQ", 1, 13))
    return wire.MAGIC + struct.pack("<HBBQI", wire.PROTOCOL_VERSION, wire.ASSIGN, 0, request_id, len(payload)) + payload


def policy_on_foundation_bytes(foundation, ops, values):
    """Tag 4: u8 4, text foundation, u32 count, the names, u32 4·count, u8 values."""
    return (bytes([4]) + text(foundation) + struct.pack("<I", len(ops)) + b"".join(text(o) for o in ops)
            + struct.pack("<I", len(values)) + bytes(values))


def test_a_policy_on_a_members_foundation_decodes_from_pbas_bytes():
    frame = assign_frame(policy_on_foundation_bytes("randaugment(2,5)", ["Rotate", "Cutout"], [1, 2, 10, 9, 0, 0, 3, 4]))
    m = wire.decode(frame)
    assert m.type == wire.ASSIGN and m.request_id == 5
    assert m.fields["augmentation"] == ("policy_on_foundation", "randaugment(2,5)", ["Rotate", "Cutout"], [1, 2, 10, 9, 0, 0, 3, 4])
    assert (m.fields["member"], m.fields["epoch_start"], m.fields["epoch_end"], m.fields["checkpoint"]) == (3, 2, 4, ("initial", 13))
    assert wire.encode(m) == frame   # the encoder writes pba's bytes back
    # Tag 1 is unchanged: the same policy without a foundation.
    plain = assign_frame(bytes([1]) + policy_on_foundation_bytes("x", ["Rotate"], [1, 2, 3, 4])[1 + len(text("x")):])
    assert wire.decode(plain).fields["augmentation"] == ("policy", ["Rotate"], [1, 2, 3, 4])


@pytest.mark.parametrize("augmentation, field", [
    (bytes([4]) + struct.pack("<I", 40) + b"autoaugment", "foundation"),               # text runs past the payload
    (bytes([4]) + text("autoaugment") + struct.pack("<I", 1) + text("Rotate") + struct.pack("<I", 3) + bytes(3),
     "policy.count"),                                                                    # 3 values for 1 operation
    (bytes([4]) + text("autoaugment") + struct.pack("<I", 5000), "operations.count"),
    (bytes([4]) + b"\x02\x00\x00\x00\xff\xfe", "foundation"),                              # not UTF-8
    (bytes([5]), "augmentation"),
])
def test_a_malformed_policy_on_a_foundation_names_the_field(augmentation, field):
    with pytest.raises(wire.WireError, match=f"'{field}"):
        wire.decode(assign_frame(augmentation))


def small_context(**job):
    """A Context on 16 random 8×8 images, enough to build augmentations (no training)."""
    images = np.random.default_rng(0).integers(0, 256, size=(16, 8, 8, 3), dtype=np.uint8)
    d = pdata.Dataset(images, np.arange(16, dtype=np.int32) % 10, 10)
    description = dict(trainSize=10, validationSize=4, splitSeed=1, padding=2, flip=True, cutout=4,
                       options=dict(epochs=10, batchSize=4), model=dict(classes=10), **job)
    return training.Context(description, d, d, torch.device("cpu"), 0)


def test_a_member_foundation_replaces_the_jobs():
    ctx = small_context(foundation="trivialaugment")
    ops, values = ["Rotate", "Cutout"], [5, 3, 7, 2, 0, 0, 4, 4]
    member = ctx.augmentation(("policy_on_foundation", "autoaugment", ops, values))(0)
    assert member.foundation == "autoaugment" and member.policy == ps.Policy(tuple(ops), tuple(values))
    assert ctx.augmentation(("policy", ops, values))(0).foundation == "trivialaugment"   # tag 1: the job's
    # The applied pixels are the foundation's, then the policy's, then the base augmentation's.
    img = ctx.train.images[0]
    by_hand, fill = random.Random(3), member.base.fill_colour()
    pil = ps.apply_foundation(ps.Image.fromarray(img, "RGB"), "autoaugment", by_hand, fill)
    pil = ps.apply_policy(pil, member.policy, by_hand, fill)
    pil = ps.apply_base_augmentation(pil, member.base, by_hand, fill)
    assert member.apply(img, random.Random(3)).tobytes() == np.asarray(pil).tobytes()


@pytest.mark.parametrize("name", ["fancy", "cutout", "randaugment(2,11)"])
def test_a_bad_member_foundation_is_a_refused_assignment(name):
    with pytest.raises(training.AssignmentError, match=r"^member foundation: .*" + re.escape(name)):
        small_context().augmentation(("policy_on_foundation", name, ["Rotate"], [1, 2, 3, 4]))


def test_split_generator_is_pbas_xoshiro():
    # SeededGenerator(seed: 0) of Sources/Tensor: splitmix64 state, xoshiro256** outputs (reference
    # values of the published algorithms: splitmix64(0) first output is 0xE220A8397B1DCDAF).
    g = pdata.SeededGenerator(0)
    assert g.s[0] == 0xE220A8397B1DCDAF
    order = list(range(10))
    pdata.SeededGenerator(1).shuffle(order)
    assert sorted(order) == list(range(10)) and order != list(range(10))


# MARK: against the Swift coordinator

def test_search_and_evaluation_cell_end_to_end(pba_bin, cifar, tmp_path):
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    # Stacked on a foundation: the job carries it and the Python worker applies it.
    coord = start([pba_bin, "search", "--db", tmp_path / "s.sqlite", "--data", cifar, *TINY, "--bind", endpoint,
                   "--foundation", "trivialaugment", "--out", tmp_path / "out"], tmp_path / "search.log")
    worker = python_worker(endpoint, tmp_path / "worker.log")
    assert wait(coord, 240, "pba search") == 0, (tmp_path / "search.log").read_text()
    assert wait(worker, 30, "python worker") == 0, (tmp_path / "worker.log").read_text()
    wlog = (tmp_path / "worker.log").read_text()
    assert wlog.count("accuracy") == 4, wlog  # 2 members × 2 one-epoch intervals, the second from a checkpoint
    schedule = json.loads((tmp_path / "out" / "schedule.json").read_text())
    assert schedule["baseAugmentation"]["foundation"] == "trivialaugment" and schedule["formatVersion"] == 2, schedule

    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    ev = start([pba_bin, "evaluate", "--data", cifar, "--model", "wrn-10-1", "--form", "zagoruyko", "--epochs", "1", "--seeds", "1",
                "--train-size", "300", "--baselines", "base,autoaugment", "--worker-kind", "pytorch", "--bind", endpoint,
                "--db", tmp_path / "e.sqlite", "--out", tmp_path / "eval"], tmp_path / "eval.log")
    worker = python_worker(endpoint, tmp_path / "worker2.log")
    assert wait(ev, 240, "pba evaluate") == 0, (tmp_path / "eval.log").read_text()
    wait(worker, 30, "python worker")
    cells = (tmp_path / "eval" / "cells.csv").read_text()
    assert "baseline:base," in cells and "baseline:autoaugment," in cells, cells


def test_worker_killed_mid_interval_is_requeued(pba_bin, cifar, tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    # 4 500 images: one interval takes several seconds on one thread, far longer than wait_for's poll.
    args = [pba_bin, "coordinator", "--db", tmp_path / "k.sqlite", "--data", cifar, *TINY, "--train-size", "4500",
            "--bind", endpoint, "--worker-timeout-ms", "3000", "--out", tmp_path / "out"]
    coord = start(args, tmp_path / "coord.log")
    first = python_worker(endpoint, tmp_path / "first.log", "--id", "first")
    assert wait_for(tmp_path / "first.log", "started", 60), (tmp_path / "first.log").read_text()
    assert "accuracy" not in (tmp_path / "first.log").read_text()  # inside its first interval
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = python_worker(endpoint, tmp_path / "second.log", "--id", "second")
    assert wait(coord, 300, "pba coordinator") == 0, (tmp_path / "coord.log").read_text()
    wait(second, 30, "second worker")
    log = (tmp_path / "coord.log").read_text()
    assert "requeued" in log and "first" in log, log
    assert (tmp_path / "second.log").read_text().count("accuracy") == 4


def test_wrong_key_refused_and_other_kind_refused(pba_bin, cifar, tmp_path):
    for name in ("coordinator", "allowed", "stranger"):
        assert subprocess.run([str(pba_bin), "keygen", str(tmp_path / name)], capture_output=True).returncode == 0
    (tmp_path / "keys").mkdir()
    shutil.copy(tmp_path / "allowed.pub", tmp_path / "keys" / "allowed.pub")
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    coord = start([pba_bin, "coordinator", "--db", tmp_path / "c.sqlite", "--data", cifar, *TINY, "--bind", endpoint,
                   "--curve-key", tmp_path / "coordinator.key", "--allow", tmp_path / "keys"], tmp_path / "coord.log")
    try:
        stranger = python_worker(endpoint, tmp_path / "stranger.log", "--curve-key", tmp_path / "stranger.key",
                                 "--server-key", tmp_path / "coordinator.pub")
        assert wait_for(tmp_path / "coord.log", "not in the allow-list", 30), (tmp_path / "coord.log").read_text()
        stranger.terminate()
        wait(stranger, 10, "stranger")
        assert "loading" not in (tmp_path / "stranger.log").read_text()
        # The allowed key, but a Swift worker: refused with what to start instead.
        swift = start([pba_bin, "worker", "--connect", endpoint, "--curve-key", tmp_path / "allowed.key",
                       "--server-key", tmp_path / "coordinator.pub"], tmp_path / "swift.log")
        assert wait(swift, 30, "swift worker") != 0
        slog = (tmp_path / "swift.log").read_text()
        assert "refuses swift workers" in slog and "python -m pba_worker" in slog, slog
        allowed = python_worker(endpoint, tmp_path / "allowed.log", "--curve-key", tmp_path / "allowed.key",
                                "--server-key", tmp_path / "coordinator.pub")
        assert wait(coord, 240, "coordinator") == 0
        wait(allowed, 30, "allowed")
        assert (tmp_path / "allowed.log").read_text().count("accuracy") == 4
    finally:
        coord.kill()


def test_malformed_and_old_version_frames_get_errors(pba_bin, cifar, tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    coord = start([pba_bin, "coordinator", "--db", tmp_path / "m.sqlite", "--data", cifar, *TINY, "--bind", endpoint],
                  tmp_path / "coord.log")
    assert wait_for(tmp_path / "coord.log", "listening on", 60), (tmp_path / "coord.log").read_text()
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.ROUTING_ID, b"hostile-peer")
    s.connect(endpoint)
    try:
        def ask(frame):
            s.send(frame)
            assert s.poll(10_000), "no answer from the coordinator"
            return s.recv()

        m = wire.decode(ask(b"not a pba frame, but long enough for a header"))
        assert m.type == wire.ERROR and m.fields["code"] == wire.BAD_MESSAGE, m
        hello = wire.encode(wire.Message(wire.HELLO, 1, dict(worker_id="x", threads=1, hostname="h", kind="pytorch", model="wrn")))
        truncated = hello[:4] + hello[4:16] + struct.pack("<I", len(hello) - 20 - 3) + hello[20:-3]
        m = wire.decode(ask(truncated))
        assert m.type == wire.ERROR and "workerModel" in m.fields["message"], m.fields
        # A protocol-2 peer is answered in its own framing (version 2 in the header).
        old = bytearray(hello)
        old[4:6] = struct.pack("<H", 2)
        reply = ask(bytes(old))
        assert wire.peek_version(reply) == 2
        m = wire.decode(reply)
        assert m.type == wire.ERROR and m.fields["code"] == wire.VERSION_MISMATCH and "protocol 3" in m.fields["message"]
        # A model the run does not train: refused, naming what the run takes.
        m = wire.decode(ask(wire.encode(wire.Message(wire.HELLO, 2, dict(worker_id="x", threads=1, hostname="h", kind="pytorch", model="resnet")))))
        assert m.fields["code"] == wire.REFUSED and "resnet" in m.fields["message"], m.fields
        # A DEALER that sets no routing id gets ZeroMQ's generated one (not UTF-8 text): answered too.
        anonymous = ctx.socket(zmq.DEALER)
        anonymous.setsockopt(zmq.LINGER, 0)
        anonymous.connect(endpoint)
        try:
            anonymous.send(b"not a pba frame, but long enough for a header")
            assert anonymous.poll(10_000), "no answer to a peer with a generated routing id"
            m = wire.decode(anonymous.recv())
            assert m.type == wire.ERROR and m.fields["code"] == wire.BAD_MESSAGE, m
        finally:
            anonymous.close()
        assert coord.poll() is None, "the coordinator must survive malformed frames"
    finally:
        s.close()
        ctx.term()
        coord.send_signal(signal.SIGTERM)
        wait(coord, 20, "coordinator")


def readme_trainable_source():
    """The `Trainable` example of README "Workers on GPU boxes", exactly as a user copies it."""
    readme = (PYTHON_DIR.parents[1] / "README.md").read_text()
    start = readme.index("**Your own model.**")
    block = readme.index("```python\n", start) + len("```python\n")
    return readme[block:readme.index("```", block)]


def test_readme_trainable_example_trains_a_search_and_an_evaluation_cell(pba_bin, cifar, tmp_path):
    source = readme_trainable_source()
    (tmp_path / "readme_trainable.py").write_text(source)
    identity = next(line.split('"')[1] for line in source.splitlines() if line.strip().startswith("identity ="))

    def worker(endpoint, log):
        return python_worker(endpoint, log, "--trainable", "readme_trainable:SmallCNN", pythonpath=(tmp_path,))

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    coord = start([pba_bin, "search", "--db", tmp_path / "s.sqlite", "--data", cifar, *TINY, "--worker-model", identity,
                   "--bind", endpoint, "--out", tmp_path / "out"], tmp_path / "search.log")
    w = worker(endpoint, tmp_path / "worker.log")
    assert wait(coord, 240, "pba search") == 0, (tmp_path / "search.log").read_text() + (tmp_path / "worker.log").read_text()
    wait(w, 30, "python worker")
    wlog = (tmp_path / "worker.log").read_text()
    assert wlog.count("accuracy") == 4, wlog  # the second interval of each member continues from the example's checkpoint
    assert (tmp_path / "out" / "schedule.json").exists()

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ev = start([pba_bin, "evaluate", "--data", cifar, "--epochs", "1", "--seeds", "1", "--train-size", "300", "--baselines", "base",
                "--worker-kind", "pytorch", "--worker-model", identity, "--bind", endpoint,
                "--db", tmp_path / "e.sqlite", "--out", tmp_path / "eval"], tmp_path / "eval.log")
    w = worker(endpoint, tmp_path / "worker2.log")
    assert wait(ev, 240, "pba evaluate") == 0, (tmp_path / "eval.log").read_text() + (tmp_path / "worker2.log").read_text()
    wait(w, 30, "python worker")
    cells = (tmp_path / "eval" / "cells.csv").read_text().splitlines()
    assert len(cells) == 2 and cells[1].startswith("base"), cells
