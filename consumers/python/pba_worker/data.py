"""The job's data exactly as pba loads and splits it: the same images, labels, fingerprint,
seeded train/validation split (xoshiro256** as Sources/Tensor/SeededGenerator.swift) and
normalisation, so every worker kind trains and validates on the same images in the same order."""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

M64 = (1 << 64) - 1


class DataError(ValueError):
    pass


class SeededGenerator:
    """xoshiro256** seeded by splitmix64, bit-identical to pba's SeededGenerator."""

    def __init__(self, seed: int):
        sm = seed & M64
        state = []
        for _ in range(4):
            sm = (sm + 0x9E3779B97F4A7C15) & M64
            z = sm
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            state.append(z ^ (z >> 31))
        if state == [0, 0, 0, 0]:
            state[0] = 1
        self.s = state

    @classmethod
    def stream(cls, seed: int, path: List[int]) -> "SeededGenerator":
        h = (seed ^ 0x6A09E667F3BCC909) & M64
        for s in path:
            h = cls(h ^ ((s * 0x9E3779B97F4A7C15) & M64)).next()
        return cls(h)

    def next(self) -> int:
        s = self.s
        r = ((((s[1] * 5) & M64) << 7 | ((s[1] * 5) & M64) >> 57) & M64) * 9 & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t
        s[3] = ((s[3] << 45) | (s[3] >> 19)) & M64
        return r

    def below(self, bound: int) -> int:
        m = self.next() * bound
        low = m & M64
        if low < bound:
            t = ((1 << 64) - bound) % bound
            while low < t:
                m = self.next() * bound
                low = m & M64
        return m >> 64

    def shuffle(self, a: list) -> None:
        for i in range(len(a) - 1, 0, -1):
            j = self.below(i + 1)
            if i != j:
                a[i], a[j] = a[j], a[i]


@dataclass
class Dataset:
    images: np.ndarray  # (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int32
    classes: int

    def subset(self, idx) -> "Dataset":
        idx = np.asarray(idx, dtype=np.int64)
        return Dataset(self.images[idx], self.labels[idx], self.classes)

    def channel_statistics(self) -> Tuple[List[float], List[float]]:
        """pba's Dataset.channelStatistics: exact integer sums, one division, float32 results."""
        c = self.images.shape[3]
        px = self.images.reshape(-1, c).astype(np.uint64)
        n = float(px.shape[0])
        if n == 0:
            return [0.0] * c, [1.0] * c
        mean, std = [], []
        for k in range(c):
            s, q = int(px[:, k].sum()), int((px[:, k] * px[:, k]).sum())
            m = s / n
            var = max(0.0, q / n - m * m)
            mean.append(float(np.float32(m / 255)))
            std.append(float(np.float32(math.sqrt(var) / 255)))
        return mean, std


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(f"{path}: {e.strerror}") from None


def _cifar(directory: str, files: List[str], label_bytes: int, label_offset: int, classes: int) -> Dataset:
    images, labels = [], []
    record = label_bytes + 3072
    for name in files:
        path = os.path.join(directory, name)
        b = _read(path)
        if not b or len(b) % record:
            raise DataError(f"{path}: {len(b)} bytes is not a whole number of {record}-byte CIFAR records")
        a = np.frombuffer(b, dtype=np.uint8).reshape(-1, record)
        lab = a[:, label_offset].astype(np.int32)
        if (lab >= classes).any():
            raise DataError(f"{path}: label {int(lab.max())} outside 0..{classes - 1}")
        labels.append(lab)
        images.append(a[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return Dataset(np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels), classes)


def _idx(path: str) -> np.ndarray:
    b = _read(path)
    if path.endswith(".gz"):
        b = gzip.decompress(b)
    if len(b) < 4 or b[0] or b[1] or b[2] != 8:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    dims = b[3]
    shape = struct.unpack(f">{dims}I", b[4:4 + 4 * dims])
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _npy(path: str, images: bool) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: {e}") from None
    if images:
        if a.dtype != np.uint8 or a.ndim not in (3, 4):
            raise DataError(f"{path}: images must be uint8 N×H×W×C or N×H×W, got {a.dtype} {a.shape}")
        return a if a.ndim == 4 else a[..., None]
    return a.astype(np.int32)


def load(source: str) -> Tuple[Dataset, Dataset]:
    """(train, test) for a pba data source string: cifar10:DIR, cifar100:DIR, fashion-mnist[:DIR], npy:DIR."""
    kind, _, path = source.partition(":")
    if kind == "cifar10":
        return (_cifar(path, [f"data_batch_{i}.bin" for i in range(1, 6)], 1, 0, 10), _cifar(path, ["test_batch.bin"], 1, 0, 10))
    if kind == "cifar100":
        return _cifar(path, ["train.bin"], 2, 1, 100), _cifar(path, ["test.bin"], 2, 1, 100)
    if kind == "fashion-mnist":
        d = path or os.environ.get("PBA_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
        def part(prefix):
            x = _idx(os.path.join(d, f"{prefix}-images-idx3-ubyte.gz"))[..., None]
            y = _idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int32)
            return Dataset(np.ascontiguousarray(x), y, 10)
        return part("train"), part("t10k")
    if kind == "npy":
        tr = _npy(os.path.join(path, "train_labels.npy"), False)
        te = _npy(os.path.join(path, "test_labels.npy"), False)
        classes = int(max(tr.max(), te.max())) + 1
        return (Dataset(_npy(os.path.join(path, "train_images.npy"), True), tr, classes),
                Dataset(_npy(os.path.join(path, "test_images.npy"), True), te, classes))
    raise DataError(f"data source '{source}' is not one of cifar10:DIR, cifar100:DIR, fashion-mnist[:DIR], npy:DIR")


def fingerprint(train: Dataset, test: Dataset) -> str:
    """pba's dataFingerprint: SHA-256 over (h, w, c, classes, count) as u64 LE, images, labels (int32 LE)."""
    h = hashlib.sha256()
    for d in (train, test):
        n, hh, ww, cc = d.images.shape
        h.update(struct.pack("<5Q", hh, ww, cc, d.classes, n))
        h.update(np.ascontiguousarray(d.images).tobytes())
        h.update(d.labels.astype("<i4").tobytes())
    return h.hexdigest()


def split(source: Dataset, train_size: int, validation_size: int, seed: int) -> Tuple[Dataset, Dataset]:
    """pba's DataSplit: one seeded Fisher-Yates permutation, first train_size, next validation_size."""
    n = len(source.labels)
    if train_size <= 0 or validation_size < 0 or train_size + validation_size > n:
        raise DataError(f"{train_size} training + {validation_size} validation images do not fit the {n} images")
    order = list(range(n))
    SeededGenerator(seed).shuffle(order)
    return source.subset(order[:train_size]), source.subset(order[train_size:train_size + validation_size])


def epoch_permutation(count: int, seed: int, epoch: int) -> List[int]:
    """pba's epochPermutation: the batch order of an epoch, from (seed, epoch) alone."""
    order = list(range(count))
    SeededGenerator.stream(seed, [0x53485546, epoch]).shuffle(order)
    return order
