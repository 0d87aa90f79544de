"""The worker: pba's protocol over a ZeroMQ DEALER (CURVE optional), training on a thread so
heartbeats keep flowing, draining on SIGTERM/SIGINT (a second signal leaves at once)."""
from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import socket
import threading
import time
import traceback
from typing import Optional

import zmq

from . import wire
from . import data as pdata
from .training import Assignment, AssignmentError, Context, Trainable, WRNTrainable

log = logging.getLogger("pba_worker")


class WorkerRefused(RuntimeError):
    pass


def read_key(path: str, need_secret: bool):
    """pba's key file format: 'public Z85' and 'secret Z85' lines."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        raise ValueError(f"cannot read key file {path}: {e.strerror}") from None
    keys = {}
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[0] not in ("public", "secret") or len(parts[1]) != 40:
            raise ValueError(f"{path}:{n}: expected 'public KEY' or 'secret KEY' with a 40-character Z85 key")
        keys[parts[0]] = parts[1]
    if "public" not in keys:
        raise ValueError(f"{path}: no public key")
    if need_secret and "secret" not in keys:
        raise ValueError(f"{path}: no secret key (give the .key file, not the .pub)")
    return keys.get("public"), keys.get("secret")


def load_trainable(spec: Optional[str]):
    if not spec:
        return WRNTrainable
    module, _, name = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name or "Trainable")
    except (ImportError, AttributeError) as e:
        raise ValueError(f"--trainable {spec}: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, Trainable)):
        raise ValueError(f"--trainable {spec}: not a subclass of pba_worker.Trainable")
    return cls


class _Task:
    def __init__(self, trainable: Trainable, a: Assignment):
        self.a, self.stopped, self.result, self.error = a, False, None, None
        self.done = threading.Event()
        self.started = time.monotonic()
        trainable.should_stop = lambda: self.stopped
        self.thread = threading.Thread(target=self._run, args=(trainable,), daemon=True)
        self.thread.start()

    def _run(self, trainable):
        try:
            self.result = trainable.run(self.a)
        except AssignmentError as e:
            self.error = str(e)
        except Exception as e:  # noqa: BLE001  (reported to the coordinator, which requeues)
            log.debug(traceback.format_exc())
            self.error = f"{type(e).__name__}: {e}"
        self.done.set()


class Worker:
    def __init__(self, endpoint, worker_id, device, trainable_cls, data_override=None, curve=None,
                 heartbeat_ms=1000, coordinator_timeout_ms=10_000, loader_workers=0, threads=1):
        self.endpoint, self.worker_id, self.device = endpoint, worker_id, device
        self.trainable_cls, self.data_override, self.curve = trainable_cls, data_override, curve
        self.heartbeat_ms, self.coordinator_timeout_ms = heartbeat_ms, coordinator_timeout_ms
        self.loader_workers, self.threads = loader_workers, threads
        self.stop_requested = self.abort_requested = False
        self.rid = 0
        self.job = None
        self.trainable = None
        self.task: Optional[_Task] = None

    def request_stop(self, *_):
        if self.stop_requested:
            self.abort_requested = True
        self.stop_requested = True

    def send(self, type_, **fields):
        self.rid += 1
        try:
            self.sock.send(wire.encode(wire.Message(type_, self.rid, fields)), flags=zmq.NOBLOCK)
        except zmq.Again:
            log.debug("coordinator unreachable: message %d dropped", type_)

    def hello(self):
        self.send(wire.HELLO, worker_id=self.worker_id, threads=self.threads, hostname=socket.gethostname(),
                  kind="pytorch", model=self.trainable_cls.identity)

    def run(self) -> int:
        ctx = zmq.Context.instance()
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.ROUTING_ID, self.worker_id.encode())
        self.sock.setsockopt(zmq.LINGER, 500)
        self.sock.setsockopt(zmq.RECONNECT_IVL, 200)
        self.sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        self.sock.setsockopt(zmq.SNDHWM, 100)
        if self.curve:
            pub, sec, server = self.curve
            self.sock.curve_serverkey, self.sock.curve_publickey, self.sock.curve_secretkey = server.encode(), pub.encode(), sec.encode()
        self.sock.connect(self.endpoint)
        log.info("worker %s (pytorch, model %s, device %s) connecting to %s", self.worker_id,
                 self.trainable_cls.identity, self.device, self.endpoint)
        try:
            return self._loop()
        finally:
            if self.task:
                self.task.stopped = True
            self.sock.close()

    def _loop(self) -> int:
        self.hello()
        last_heard = last_hb = time.monotonic()
        request_at = None
        draining = False
        while True:
            now = time.monotonic()
            if self.abort_requested:
                log.warning("second signal: leaving at once (the coordinator requeues the assignment)")
                self.send(wire.BYE, reason="worker aborted")
                return 1
            if self.stop_requested and not draining:
                draining = True
                if self.task is None:
                    self.send(wire.BYE, reason="worker stopping")
                    return 0
                log.info("draining: finishing assignment %d before leaving (a second signal leaves at once)", self.task.a.id)
            if self.task and self.task.done.is_set():
                t, self.task = self.task, None
                seconds = time.monotonic() - t.started
                if t.error is not None:
                    log.error("assignment %d failed: %s", t.a.id, t.error)
                    self.send(wire.ERROR, code=wire.INTERNAL_ERROR, message=f"assignment {t.a.id}: {t.error}")
                elif t.result is None:
                    log.info("assignment %d stopped part-way", t.a.id)
                else:
                    r = t.result
                    self.send(wire.RESULT, assignment_id=t.a.id, accuracy=r.accuracy, train_loss=r.train_loss, seconds=seconds,
                              checkpoint=r.checkpoint, predictions=r.predictions)
                    log.info("assignment %d (member %d, epochs %d..<%d): accuracy %.4f, %.1f s", t.a.id, t.a.member,
                             t.a.epoch_start, t.a.epoch_end, r.accuracy, seconds)
                if draining:
                    self.send(wire.BYE, reason="worker stopping")
                    return 0
                request_at = now
            if request_at is not None and now >= request_at and self.task is None and self.trainable is not None:
                request_at = None
                self.send(wire.REQUEST)
            if (now - last_hb) * 1000 >= self.heartbeat_ms:
                last_hb = now
                self.send(wire.HEARTBEAT)
            if (now - last_heard) * 1000 > self.coordinator_timeout_ms and self.task is None:
                log.warning("no word from the coordinator for %d s; saying hello again", self.coordinator_timeout_ms // 1000)
                last_heard = now
                self.hello()
            if not self.sock.poll(50):
                continue
            frame = self.sock.recv()
            try:
                m = wire.decode(frame)
            except wire.WireError as e:
                log.warning("ignoring malformed frame from the coordinator: %s", e)
                continue
            last_heard = time.monotonic()
            f = m.fields
            if m.type == wire.WELCOME:
                if self._welcome(f) is False:
                    return 1
                request_at = time.monotonic()
            elif m.type == wire.ASSIGN:
                if self.trainable is None or self.task is not None:
                    self.send(wire.ERROR, code=wire.BAD_MESSAGE, message=f"assignment {f['assignment_id']} while not ready or busy")
                    continue
                if draining:
                    self.send(wire.BYE, reason="worker stopping")
                    return 0
                a = Assignment(f["assignment_id"], f["kind"], f["member"], f["epoch_start"], f["epoch_end"],
                               f["training_seed"], f["augmentation"], f["checkpoint"])
                self.task = _Task(self.trainable, a)
                log.info("assignment %d (member %d, epochs %d..<%d) started", a.id, a.member, a.epoch_start, a.epoch_end)
            elif m.type == wire.NO_WORK:
                request_at = time.monotonic() + f["retry_ms"] / 1000
            elif m.type == wire.HEARTBEAT:
                pass
            elif m.type == wire.ERROR:
                version = f.get("version", wire.PROTOCOL_VERSION)
                if version != wire.PROTOCOL_VERSION:
                    log.error("coordinator speaks protocol %d, this worker %d: %s", version, wire.PROTOCOL_VERSION, f["message"])
                    return 1
                log.error("coordinator: %s", f["message"])
                if f["code"] in (wire.REFUSED, wire.VERSION_MISMATCH, wire.DATA_MISMATCH):
                    log.error("refused by the coordinator: %s", f["message"])
                    return 1
            elif m.type == wire.BYE:
                if self.task:
                    self.task.stopped = True
                log.info("coordinator says bye: %s", f["reason"])
                return 0
            else:
                log.warning("ignoring unexpected message type %d from the coordinator", m.type)

    def _welcome(self, f):
        try:
            job = json.loads(f["job"])
        except ValueError as e:
            self.send(wire.ERROR, code=wire.BAD_MESSAGE, message=f"cannot read the job description: {e}")
            log.error("job description from the coordinator is invalid: %s", e)
            return False
        if job != self.job or self.trainable is None:
            source = self.data_override or job["data"]
            log.info("run %s: loading %s for %s", f["run_id"], source, job["model"])
            try:
                train, test = pdata.load(source)
            except pdata.DataError as e:
                log.error("cannot load the run's data: %s", e)
                self.send(wire.ERROR, code=wire.INTERNAL_ERROR, message=f"worker cannot load {source}: {e}")
                return False
            fp = pdata.fingerprint(train, test)
            try:
                ctx = Context(job, train, test, self.device, self.loader_workers)
                self.trainable = self.trainable_cls(ctx)
            except (pdata.DataError, AssignmentError, KeyError) as e:
                log.error("cannot set up the job: %s", e)
                self.send(wire.ERROR, code=wire.INTERNAL_ERROR, message=f"worker cannot set up the job: {e}")
                return False
            self.job = job
            self.send(wire.READY, data_fingerprint=fp)
        else:
            self.send(wire.READY, data_fingerprint=job["dataFingerprint"])
        return True
