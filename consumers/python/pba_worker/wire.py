"""pba's worker protocol (Sources/Wire/WireCodec.swift, protocol 3): pure encode/decode.

A frame is a 20-byte header -- magic "PBAW", protocol version (u16 LE), message type (u8),
flags (u8, 0), request id (u64 LE), payload length (u32 LE) -- then the payload. Text is u32
length + UTF-8; byte arrays u64 length + bytes. Every length is checked before it is read, so
any byte string either decodes or raises WireError naming the field.

ASSIGN's augmentation decodes to ("policy", operations, values) (tag 1), ("schedule", json)
(tag 2), ("baseline", name) (tag 3) or ("policy_on_foundation", foundation, operations, values)
(tag 4: a policy on the member's own foundation, sent only for such members).
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

PROTOCOL_VERSION = 3
PBA_RELEASE = "0.1.0"
MAGIC = b"PBAW"
HEADER = 20
MAX_TEXT = 16 << 20

HELLO, WELCOME, READY, REQUEST, ASSIGN, NO_WORK, RESULT, HEARTBEAT, ERROR, BYE = range(1, 11)
SEARCH_INTERVAL, EVALUATION_CELL = 1, 2
# ErrorMessage.Code
REFUSED, BAD_MESSAGE, VERSION_MISMATCH, DATA_MISMATCH, CHECKSUM_MISMATCH, INTERNAL_ERROR = 1, 2, 3, 4, 5, 6


class WireError(ValueError):
    pass


@dataclass
class Message:
    type: int
    request_id: int = 0
    fields: dict = field(default_factory=dict)


class _Writer:
    def __init__(self):
        self.parts: List[bytes] = []

    def u8(self, v): self.parts.append(struct.pack("<B", v))
    def u16(self, v): self.parts.append(struct.pack("<H", v))
    def u32(self, v): self.parts.append(struct.pack("<I", v))
    def u64(self, v): self.parts.append(struct.pack("<Q", v))
    def f64(self, v): self.parts.append(struct.pack("<d", v))

    def text(self, s: str):
        b = s.encode("utf-8")
        self.u32(len(b))
        self.parts.append(b)

    def blob(self, b: bytes):
        self.u64(len(b))
        self.parts.append(bytes(b))


class _Reader:
    def __init__(self, data: bytes, offset: int):
        self.data, self.offset = data, offset

    @property
    def remaining(self):
        return len(self.data) - self.offset

    def take(self, n: int, name: str) -> bytes:
        if n < 0 or n > self.remaining:
            raise WireError(f"payload ends inside field '{name}'")
        b = self.data[self.offset:self.offset + n]
        self.offset += n
        return b

    def u8(self, n): return self.take(1, n)[0]
    def u16(self, n): return struct.unpack("<H", self.take(2, n))[0]
    def u32(self, n): return struct.unpack("<I", self.take(4, n))[0]
    def u64(self, n): return struct.unpack("<Q", self.take(8, n))[0]
    def f64(self, n): return struct.unpack("<d", self.take(8, n))[0]

    def text(self, n):
        length = self.u32(n + ".length")
        if length > MAX_TEXT:
            raise WireError(f"field '{n}.length' has invalid value {length}")
        raw = self.take(length, n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError(f"field '{n}' is not valid UTF-8") from None

    def blob(self, n):
        length = self.u64(n + ".length")
        if length > self.remaining:
            raise WireError(f"payload ends inside field '{n}'")
        return self.take(length, n)


def sha256_hex(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def _write_policy(w: _Writer, ops, values) -> None:
    """A policy as tags 1 and 4 carry it: u32 count, the operation names, u32 4·count, u8 values."""
    w.u32(len(ops))
    for o in ops: w.text(o)
    w.u32(len(values))
    for v in values: w.u8(max(0, min(255, v)))


def _read_policy(r: _Reader) -> Tuple[List[str], List[int]]:
    """(operations, values) of tags 1 and 4, counts checked before anything is read."""
    n = r.u32("operations.count")
    if n > 1024:
        raise WireError(f"field 'operations.count' has invalid value {n}")
    ops = [r.text("operations") for _ in range(n)]
    m = r.u32("policy.count")
    if m != 4 * n:
        raise WireError(f"field 'policy.count' has invalid value {m} for {n} operations")
    return ops, list(r.take(m, "policy"))


def encode(m: Message, version: int = PROTOCOL_VERSION) -> bytes:
    f, w = m.fields, _Writer()
    t = m.type
    if t == HELLO:
        w.text(f["worker_id"]); w.text(f.get("pba_version", PBA_RELEASE)); w.u16(f.get("protocol_version", PROTOCOL_VERSION))
        w.u32(f["threads"]); w.text(f["hostname"]); w.text(f["kind"]); w.text(f["model"])
    elif t == WELCOME:
        w.text(f["run_id"]); w.text(f["job"]); w.u32(f["heartbeat_ms"])
    elif t == READY:
        w.text(f["data_fingerprint"])
    elif t in (REQUEST, HEARTBEAT):
        pass
    elif t == ASSIGN:
        w.u64(f["assignment_id"]); w.u8(f["kind"]); w.u32(f["member"]); w.u32(f["epoch_start"]); w.u32(f["epoch_end"])
        w.u64(f["training_seed"])
        aug = f["augmentation"]
        if aug[0] == "policy":
            w.u8(1); _write_policy(w, aug[1], aug[2])
        elif aug[0] == "policy_on_foundation":
            w.u8(4); w.text(aug[1]); _write_policy(w, aug[2], aug[3])
        elif aug[0] == "schedule":
            w.u8(2); w.text(aug[1])
        else:
            w.u8(3); w.text(aug[1])
        ck = f["checkpoint"]
        if ck[0] == "initial":
            w.u8(1); w.u64(ck[1])
        else:
            w.u8(2); w.text(sha256_hex(ck[1])); w.blob(ck[1])
    elif t == NO_WORK:
        w.u32(f["retry_ms"])
    elif t == RESULT:
        ck = f.get("checkpoint", b"")
        w.u64(f["assignment_id"]); w.f64(f["accuracy"]); w.f64(f["train_loss"]); w.f64(f["seconds"])
        w.text(sha256_hex(ck)); w.blob(ck)
        preds = f.get("predictions", [])
        w.u64(len(preds))
        w.parts.append(struct.pack(f"<{len(preds)}i", *preds))
    elif t == ERROR:
        w.u16(f["code"]); w.text(f["message"])
    elif t == BYE:
        w.text(f["reason"])
    else:
        raise WireError(f"unknown message type {t}")
    payload = b"".join(w.parts)
    return MAGIC + struct.pack("<HBBQI", version, t, 0, m.request_id, len(payload)) + payload


def peek_version(frame: bytes) -> Optional[int]:
    if len(frame) >= HEADER and frame[:4] == MAGIC:
        return struct.unpack("<H", frame[4:6])[0]
    return None


def decode(frame: bytes, max_size: int = 1 << 30) -> Message:
    if len(frame) > max_size:
        raise WireError(f"frame of {len(frame)} bytes exceeds the {max_size}-byte limit")
    if len(frame) < HEADER:
        raise WireError(f"frame of {len(frame)} bytes is shorter than the {HEADER}-byte header")
    if frame[:4] != MAGIC:
        raise WireError("frame does not start with the pba magic")
    version, t, _flags, rid, length = struct.unpack("<HBBQI", frame[4:20])
    # The header and ERROR's payload are the same in every version: an ERROR of another
    # version is still read, so a refusal from an older or newer coordinator is understood.
    if version != PROTOCOL_VERSION and t != ERROR:
        raise WireError(f"protocol version {version} is not supported (this worker speaks {PROTOCOL_VERSION})")
    if not 1 <= t <= 10:
        raise WireError(f"unknown message type {t}")
    if length != len(frame) - HEADER:
        raise WireError(f"header declares a {length}-byte payload, frame carries {len(frame) - HEADER}")
    r, f = _Reader(frame, HEADER), {}
    if t == HELLO:
        f = dict(worker_id=r.text("workerId"), pba_version=r.text("pbaVersion"), protocol_version=r.u16("protocolVersion"),
                 threads=r.u32("threads"), hostname=r.text("hostname"), kind=r.text("workerKind"), model=r.text("workerModel"))
    elif t == WELCOME:
        f = dict(run_id=r.text("runId"), job=r.text("job"), heartbeat_ms=r.u32("heartbeatMilliseconds"))
    elif t == READY:
        f = dict(data_fingerprint=r.text("dataFingerprint"))
    elif t == ASSIGN:
        f["assignment_id"] = r.u64("assignmentId")
        f["kind"] = r.u8("kind")
        if f["kind"] not in (SEARCH_INTERVAL, EVALUATION_CELL):
            raise WireError(f"field 'kind' has invalid value {f['kind']}")
        f["member"], f["epoch_start"], f["epoch_end"] = r.u32("member"), r.u32("epochStart"), r.u32("epochEnd")
        if f["epoch_start"] >= f["epoch_end"]:
            raise WireError(f"field 'epochs' has invalid value {f['epoch_start']}..<{f['epoch_end']}")
        f["training_seed"] = r.u64("trainingSeed")
        tag = r.u8("augmentation")
        if tag == 1:
            f["augmentation"] = ("policy", *_read_policy(r))
        elif tag == 2:
            f["augmentation"] = ("schedule", r.text("schedule"))
        elif tag == 3:
            f["augmentation"] = ("baseline", r.text("baseline"))
        elif tag == 4:
            # A member on its own foundation (a search starting from several baselines): the
            # name first, then tag 1's policy. The name is checked where it is applied.
            foundation = r.text("foundation")
            f["augmentation"] = ("policy_on_foundation", foundation, *_read_policy(r))
        else:
            raise WireError(f"field 'augmentation' has invalid value tag {tag}")
        tag = r.u8("checkpoint")
        if tag == 1:
            f["checkpoint"] = ("initial", r.u64("weightSeed"))
        elif tag == 2:
            sha = r.text("checkpoint.sha256")
            b = r.blob("checkpoint")
            if sha256_hex(b) != sha:
                raise WireError("SHA-256 of 'checkpoint' does not match the one sent with it")
            f["checkpoint"] = ("bytes", b)
        else:
            raise WireError(f"field 'checkpoint' has invalid value tag {tag}")
    elif t == NO_WORK:
        f = dict(retry_ms=r.u32("retryAfterMilliseconds"))
    elif t == RESULT:
        f = dict(assignment_id=r.u64("assignmentId"), accuracy=r.f64("accuracy"), train_loss=r.f64("trainLoss"), seconds=r.f64("seconds"))
        sha = r.text("sha256")
        f["checkpoint"] = r.blob("checkpoint")
        if sha256_hex(f["checkpoint"]) != sha:
            raise WireError("SHA-256 of 'checkpoint' does not match the one sent with it")
        n = r.u64("predictions")
        if n > r.remaining // 4:
            raise WireError(f"field 'predictions' has invalid value count {n} exceeds the frame")
        f["predictions"] = list(struct.unpack(f"<{n}i", r.take(4 * n, "predictions")))
    elif t == ERROR:
        f = dict(code=r.u16("code"), message=r.text("message"), version=version)
    elif t == BYE:
        f = dict(reason=r.text("reason"))
    if r.remaining:
        raise WireError(f"{r.remaining} unexpected bytes after the payload")
    return Message(t, rid, f)
