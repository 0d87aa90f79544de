"""Apply a pba augmentation schedule in a Python (PyTorch / torchvision) training loop.

A schedule JSON document (format "pba-schedule", version 1; schema in
``schedules/schema/schedule-v1.schema.json``) holds a policy per epoch range, learned by
Population Based Augmentation. This one file reads and validates such a document, stretches it
to the number of epochs you train for, and applies the epoch's policy and the base augmentation
to PIL images, with the same operation semantics as pba's Swift implementation
(``Sources/Schedule``, ``Sources/Augment``). It needs only Pillow (tested with 9.4, Debian 12's,
and 12.3) and the standard library, so a training job can copy it next to its script::

    from pba_schedule import PBASchedule
    augment = PBASchedule("schedule.json", epochs=200)
    for epoch in range(200):
        augment.set_epoch(epoch)
        ...  # augment(pil_image) in the data set's transform

What is guaranteed, and what is not:

- Stretching to N epochs is exactly pba's ``epochPolicies(epochs:)``.
- Every operation gives the same pixels as pba's ``applyOperation`` for the same image, fill,
  sign and centre: identical for the geometric, lookup-table and Cutout operations, within
  +-1 per channel for the four enhance operations (Pillow blends in single precision; its
  version may move a value by one).
- The random draws (how many operations, which ones, signs, centres, crop offsets, flips) follow
  the same rules and distributions as pba, from a Python ``random.Random``; they are not the
  same numbers as pba's generator gives.
"""

from __future__ import annotations

import json
import math
import os
import random
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Optional, Sequence, Tuple, Union

from PIL import Image, ImageEnhance, ImageOps

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PBA_OPERATIONS",
    "CIFAR10_MEAN_FILL",
    "ScheduleError",
    "Policy",
    "Segment",
    "BaseAugmentation",
    "Schedule",
    "load_schedule",
    "stretch_policies",
    "operation_parameter",
    "apply_operation",
    "cutout",
    "apply_policy",
    "apply_base_augmentation",
    "FOUNDATIONS",
    "AUTOAUGMENT_CIFAR10",
    "parse_foundation",
    "apply_foundation",
    "PBASchedule",
]

FORMAT_NAME = "pba-schedule"
#: The newest version this reader reads. Version 2 adds ``baseAugmentation.foundation``; pba
#: writes version 1 for every document without one.
FORMAT_VERSION = 2

#: PBA's PARAMETER_MAX: magnitude level m stands for m/10 of an operation's range.
PARAMETER_MAX = 10
#: Magnitudes a single operation accepts (policies use 0..9; the scale ends at 10).
OPERATION_MAGNITUDE_RANGE = (0, PARAMETER_MAX)
#: A policy's probabilities are tenths, 0..10; its magnitudes 0..9.
PROBABILITY_RANGE = (0, 10)
MAGNITUDE_RANGE = (0, 9)

#: PBA's operations in PBA's order (``HP_TRANSFORM_NAMES``), the default layout of a policy.
PBA_OPERATIONS = (
    "Rotate", "TranslateX", "TranslateY", "Brightness", "Color", "Invert", "Sharpness",
    "Posterize", "ShearX", "Solarize", "ShearY", "Equalize", "AutoContrast", "Cutout", "Contrast",
)

#: CIFAR-10's per-channel training mean as a colour, pba's default fill (``FillColor.cifar10Mean``).
CIFAR10_MEAN_FILL = (125, 123, 114)

#: The fill rules a schedule may name for padded, uncovered and cut-out pixels.
FILL_RULES = ("dataset-mean", "zero")

# Pillow 9.1 moved its constants into enums; older versions only have the module constants.
_AFFINE = getattr(Image, "Transform", Image).AFFINE
_NEAREST = getattr(Image, "Resampling", Image).NEAREST
_FLIP_LEFT_RIGHT = getattr(Image, "Transpose", Image).FLIP_LEFT_RIGHT

Fill = Union[int, Sequence[int]]


# MARK: Errors


class ScheduleError(ValueError):
    """A schedule document that cannot be used, with the JSON path of what is wrong.

    ``path`` is pba's notation (``segments[3].policy[17]``, ``$`` for the whole document) and
    ``source`` the file, when the document came from one. pba's own reader reports the same
    paths ("schedule field PATH: MESSAGE").
    """

    def __init__(self, path: str, message: str, source: Optional[str] = None):
        self.path = path
        self.message = message
        self.source = source
        where = f"schedule field {path}: {message}"
        super().__init__(f"{source}: {where}" if source else where)

    def in_file(self, source: str) -> "ScheduleError":
        """The same error, naming the file it came from."""
        return ScheduleError(self.path, self.message, source)


# MARK: The document


@dataclass(frozen=True)
class Policy:
    """A PBA policy: PBA's ``hp_policy`` integers laid out by ``operations``.

    For n operations there are 4n integers: ``[0, 2n)`` hold each operation's first
    (probability, magnitude) pair in operation order (2i probability in tenths, 2i+1
    magnitude), ``[2n, 4n)`` the second pairs laid out the same way.
    """

    operations: Tuple[str, ...]
    values: Tuple[int, ...]

    def tuples(self) -> Tuple[Tuple[str, int, int], ...]:
        """The 2n (operation, probability, magnitude) tuples, first pairs then second pairs:
        the order pba walks (shuffled) when applying the policy."""
        n = len(self.operations)
        return tuple(
            (self.operations[t % n], self.values[2 * t], self.values[2 * t + 1]) for t in range(2 * n)
        )


@dataclass(frozen=True)
class Segment:
    """Epochs ``[start_epoch, end_epoch)`` of the learned run trained with ``policy``.
    Segments may be empty (start == end): PBA's lineage produces them."""

    start_epoch: int
    end_epoch: int
    policy: Policy

    @property
    def epoch_count(self) -> int:
        return self.end_epoch - self.start_epoch


@dataclass(frozen=True)
class BaseAugmentation:
    """What follows the policy on every image: pad, random crop back to size, horizontal
    flip, Cutout, with the fill rule; then normalisation, which is left to the training code
    (``torchvision.transforms.Normalize(normalization_mean, normalization_std)`` after
    ``ToTensor``)."""

    padding: int
    random_crop: bool
    horizontal_flip: bool
    cutout_size: int
    fill: str
    normalization_mean: Tuple[float, ...]
    normalization_std: Tuple[float, ...]
    #: A baseline recipe applied *before* every epoch's policy (format version 2): the
    #: schedule was learned on top of it. None: no foundation.
    foundation: Optional[str] = None

    def fill_colour(self) -> Tuple[int, ...]:
        """The fill as pixel values, one per channel.

        "dataset-mean" is what pba's training uses: each channel's mean of pixel/255 times 255,
        in single precision and rounded half away from zero (``FillColor(datasetMean:)``); the
        means are single-precision numbers stored as doubles, so this gives pba's bytes.
        """
        if self.fill == "zero":
            return tuple(0 for _ in self.normalization_mean)
        return tuple(_byte_of_mean(m) for m in self.normalization_mean)


@dataclass(frozen=True)
class Schedule:
    """A validated schedule document. ``document`` keeps the parsed JSON for the fields this
    reader does not interpret (search configuration, provenance, lineage)."""

    operations: Tuple[str, ...]
    learned_epochs: int
    segments: Tuple[Segment, ...]
    base_augmentation: BaseAugmentation
    dataset: str
    model: str
    seed: Optional[int]
    document: Any = field(compare=False, repr=False)

    def epoch_policies(self, epochs: int) -> Tuple[Policy, ...]:
        """The policy of each of ``epochs`` training epochs, stretched as pba and PBA do."""
        return stretch_policies(
            [(s.epoch_count, s.policy) for s in self.segments], self.learned_epochs, epochs
        )

    @classmethod
    def from_json(cls, text: Union[str, bytes], source: Optional[str] = None) -> "Schedule":
        """Parses and validates a document; a ``ScheduleError`` names the JSON path."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as e:
            raise ScheduleError("$", f"is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}",
                                source) from None
        except UnicodeDecodeError as e:
            raise ScheduleError("$", f"is not UTF-8 text: {e}", source) from None
        try:
            return cls.from_document(document)
        except ScheduleError as e:
            raise (e.in_file(source) if source else e) from None

    @classmethod
    def from_document(cls, document: Any) -> "Schedule":
        """Validates an already parsed document (a dict as ``json.load`` gives it)."""
        return _read_schedule(document)


def load_schedule(path: Union[str, "os.PathLike[str]"]) -> Schedule:
    """Reads and validates a schedule JSON file. Errors name the file and the JSON path."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ScheduleError("$", f"cannot be read: {e.strerror or e}", name) from None
    return Schedule.from_json(data, source=name)


def stretch_policies(segments: Sequence[Tuple[int, Policy]], learned_epochs: int,
                     epochs: int) -> Tuple[Policy, ...]:
    """PBA's stretching of a schedule learned over E = ``learned_epochs`` to N = ``epochs``.

    A segment of n epochs lasts int(n * (N / E)) epochs, N / E in double precision (Python's
    float is that double, so the counts are pba's); epochs left over at the end take the last
    segment's policy and any excess is dropped. PBA itself fills only up to int(E * (N / E));
    pba fills to exactly N, and so does this.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not segments or learned_epochs < 1:
        raise ValueError("a schedule needs at least one segment and one learned epoch")
    multiplier = epochs / learned_epochs
    result = []
    for count, policy in segments:
        result.extend([policy] * int(count * multiplier))
    del result[epochs:]
    result.extend([segments[-1][1]] * (epochs - len(result)))
    return tuple(result)


# MARK: Validation
#
# One small reader per JSON type; each takes the path of the value it reads so that every error
# says where. The checks are pba's (AugmentationSchedule's decoding and validate()) plus what this
# reader needs to apply the schedule: operation names it implements and the integer ranges it
# assumes. Keys this reader does not know are ignored, as pba ignores them.


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path and path != "$" else key


def _describe(value: Any) -> str:
    kind = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null", int: "an integer", float: "a number"}.get(type(value), type(value).__name__)
    text = json.dumps(value) if not isinstance(value, (dict, list)) else ""
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{kind} {text}".rstrip()


def _object(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise ScheduleError(path, f"expected an object, found {_describe(value)}")
    return value


def _field(obj: dict, key: str, path: str) -> Any:
    if key not in obj:
        raise ScheduleError(_key_path(path, key), "is missing")
    return obj[key]


def _nullable(obj: dict, key: str) -> bool:
    """Whether an optional field is absent or null (pba decodes these with decodeIfPresent)."""
    return obj.get(key) is None


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ScheduleError(path, f"expected a string, found {_describe(value)}")
    return value


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ScheduleError(path, f"expected true or false, found {_describe(value)}")
    return value


def _integer(value: Any, path: str, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    """An integer; a JSON number with a zero fraction (3.0) counts, as JSON Schema says."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleError(path, f"expected an integer, found {_describe(value)}")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        allowed = f"{minimum}..{maximum}" if maximum is not None else f"at least {minimum}"
        raise ScheduleError(path, f"is {value}, allowed {allowed}")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScheduleError(path, f"expected a finite number, found {_describe(value)}")
    return float(value)


def _array(value: Any, path: str, min_items: int = 0) -> list:
    if not isinstance(value, list):
        raise ScheduleError(path, f"expected an array, found {_describe(value)}")
    if len(value) < min_items:
        raise ScheduleError(path, "is empty" if min_items == 1 else f"has {len(value)} items, expected at least {min_items}")
    return value


def _policy_field_name(i: int, operations: Sequence[str]) -> str:
    """pba's readable name of policy integer i, e.g. "Rotate.pair1.probability"."""
    n = len(operations)
    pair = 1 if i < 2 * n else 2
    op = operations[(i % (2 * n)) // 2]
    return f"{op}.pair{pair}.{'probability' if i % 2 == 0 else 'magnitude'}"


def _read_policy(value: Any, path: str, operations: Tuple[str, ...]) -> Policy:
    items = _array(value, path)
    if len(items) != 4 * len(operations):
        raise ScheduleError(path, f"policy has {len(items)} integers, expected {4 * len(operations)} (4 per operation)")
    values = []
    for i, v in enumerate(items):
        low, high = PROBABILITY_RANGE if i % 2 == 0 else MAGNITUDE_RANGE
        try:
            values.append(_integer(v, f"{path}[{i}]", low, high))
        except ScheduleError as e:
            raise ScheduleError(e.path, f"({_policy_field_name(i, operations)}) {e.message}") from None
    return Policy(operations, tuple(values))


def _read_operations(document: dict) -> Tuple[str, ...]:
    items = _array(_field(document, "operations", "$"), "operations", min_items=1)
    names = []
    for i, item in enumerate(items):
        path = f"operations[{i}]"
        op = _object(item, path)
        name = _string(_field(op, "name", path), f"{path}.name")
        _string(_field(op, "magnitude", path), f"{path}.magnitude")
        if name in names:
            raise ScheduleError(f"{path}.name", f"'{name}' appears twice")
        if name not in _OPERATIONS:
            raise ScheduleError(f"{path}.name", f"unknown operation '{name}' (this reader implements: {', '.join(PBA_OPERATIONS)})")
        names.append(name)
    return tuple(names)


def _read_policy_layout(document: dict, operation_count: int) -> None:
    layout = _object(_field(document, "policyLayout", "$"), "policyLayout")
    count = _integer(_field(layout, "integersPerPolicy", "policyLayout"), "policyLayout.integersPerPolicy")
    if count != 4 * operation_count:
        raise ScheduleError("policyLayout.integersPerPolicy",
                            f"is {count}, expected {4 * operation_count} (4 per operation)")
    for key, expected in (("probabilityRange", PROBABILITY_RANGE), ("magnitudeRange", MAGNITUDE_RANGE)):
        path = f"policyLayout.{key}"
        bounds = _array(_field(layout, key, "policyLayout"), path)
        found = tuple(_integer(b, f"{path}[{i}]") for i, b in enumerate(bounds))
        if found != expected:
            raise ScheduleError(path, f"is {list(found)}, this reader knows only {list(expected)}")
    for key in ("layout", "application"):
        _string(_field(layout, key, "policyLayout"), f"policyLayout.{key}")


def _read_segments(document: dict, operations: Tuple[str, ...], learned_epochs: int) -> Tuple[Segment, ...]:
    items = _array(_field(document, "segments", "$"), "segments", min_items=1)
    segments = []
    expected_start = 0
    for i, item in enumerate(items):
        path = f"segments[{i}]"
        s = _object(item, path)
        start = _integer(_field(s, "startEpoch", path), f"{path}.startEpoch", 0)
        end = _integer(_field(s, "endEpoch", path), f"{path}.endEpoch", 0)
        policy = _read_policy(_field(s, "policy", path), f"{path}.policy", operations)
        if start != expected_start:
            raise ScheduleError(f"{path}.startEpoch",
                                f"is {start}, expected {expected_start} (segments must be contiguous from 0)")
        if end < start:
            raise ScheduleError(f"{path}.endEpoch", f"is {end}, before startEpoch {start}")
        segments.append(Segment(start, end, policy))
        expected_start = end
    if expected_start != learned_epochs:
        raise ScheduleError(f"segments[{len(items) - 1}].endEpoch",
                            f"is {expected_start}, expected learnedEpochs {learned_epochs}")
    return tuple(segments)


def _read_base_augmentation(document: dict) -> BaseAugmentation:
    p = "baseAugmentation"
    base = _object(_field(document, p, "$"), p)

    def channels(key: str) -> Tuple[float, ...]:
        items = _array(_field(base, key, p), f"{p}.{key}", min_items=1)
        return tuple(_number(v, f"{p}.{key}[{i}]") for i, v in enumerate(items))

    padding = _integer(_field(base, "padding", p), f"{p}.padding", 0)
    random_crop = _boolean(_field(base, "randomCrop", p), f"{p}.randomCrop")
    flip = _boolean(_field(base, "horizontalFlip", p), f"{p}.horizontalFlip")
    cutout = _integer(_field(base, "cutoutSize", p), f"{p}.cutoutSize", 0)
    fill = _string(_field(base, "fill", p), f"{p}.fill")
    if fill not in FILL_RULES:
        raise ScheduleError(f"{p}.fill", f"is '{fill}', expected one of: {', '.join(FILL_RULES)}")
    mean, std = channels("normalizationMean"), channels("normalizationStd")
    if len(mean) not in (1, 3):
        raise ScheduleError(f"{p}.normalizationMean", f"has {len(mean)} values, expected 1 or 3 (one per channel)")
    if len(std) != len(mean):
        raise ScheduleError(f"{p}.normalizationStd", f"has {len(std)} values for {len(mean)} channel means")
    for i, m in enumerate(mean):
        if not 0 <= m <= 1:
            raise ScheduleError(f"{p}.normalizationMean[{i}]", f"is {m}, expected a mean of pixel/255 in 0...1")
    for i, s in enumerate(std):
        if not s > 0:
            raise ScheduleError(f"{p}.normalizationStd[{i}]", f"is {s}, expected a positive standard deviation")
    foundation = None
    if not _nullable(base, "foundation"):
        foundation = _string(base["foundation"], f"{p}.foundation")
        try:
            parse_foundation(foundation)
        except ValueError as e:
            raise ScheduleError(f"{p}.foundation", str(e)) from None
    return BaseAugmentation(padding, random_crop, flip, cutout, fill, mean, std, foundation)


def _read_lineage(document: dict, operations: Tuple[str, ...]) -> None:
    """Checks the lineage's policies as pba does, so a document pba refuses is refused here too."""
    if _nullable(document, "lineage"):
        return
    lineage = _object(document["lineage"], "lineage")
    items = _array(_field(lineage, "perturbations", "lineage"), "lineage.perturbations")
    for i, item in enumerate(items):
        path = f"lineage.perturbations[{i}]"
        p = _object(item, path)
        for key in ("targetTag", "sourceTag"):
            _string(_field(p, key, path), f"{path}.{key}")
        for key in ("targetEpoch", "sourceEpoch"):
            _integer(_field(p, key, path), f"{path}.{key}", 0)
        for key in ("sourcePolicy", "newPolicy"):
            _read_policy(_field(p, key, path), f"{path}.{key}", operations)


def _read_schedule(document: Any) -> Schedule:
    """The whole document, in the order pba decodes it (so the first error reported is pba's)."""
    doc = _object(document, "$")
    name = _string(_field(doc, "format", "$"), "format")
    version = _integer(_field(doc, "formatVersion", "$"), "formatVersion")
    if not 1 <= version <= FORMAT_VERSION:
        raise ScheduleError("formatVersion", f"schedule format version {version} is not supported "
                                             f"(this reader reads versions 1...{FORMAT_VERSION})")
    operations = _read_operations(doc)
    _read_policy_layout(doc, len(operations))
    learned = _integer(_field(doc, "learnedEpochs", "$"), "learnedEpochs", 1)
    segments = _read_segments(doc, operations, learned)
    base = _read_base_augmentation(doc)
    if base.foundation is not None and version < 2:
        raise ScheduleError("baseAugmentation.foundation", f"needs formatVersion 2 (the document says {version}): "
                                                           "a version-1 reader would ignore it and train without it")
    dataset = _object(_field(doc, "dataset", "$"), "dataset")
    dataset_name = _string(_field(dataset, "name", "dataset"), "dataset.name")
    if not _nullable(dataset, "trainingImages"):
        _integer(dataset["trainingImages"], "dataset.trainingImages", 0)
    model = _object(_field(doc, "model", "$"), "model")
    model_name = _string(_field(model, "name", "model"), "model.name")
    seed = None if _nullable(doc, "seed") else _integer(doc["seed"], "seed", 0, 2**64 - 1)
    if not _nullable(doc, "search"):
        _object(doc["search"], "search")
    _object(_field(doc, "provenance", "$"), "provenance")
    _read_lineage(doc, operations)
    if name != FORMAT_NAME:
        raise ScheduleError("format", f"is '{name}', expected '{FORMAT_NAME}'")
    return Schedule(operations, learned, segments, base, dataset_name, model_name, seed, doc)


# MARK: Operations


def _int_parameter(level: int, maxval: int) -> int:
    """PBA's ``int_parameter``: int(level * maxval / PARAMETER_MAX), true division, truncated."""
    return int(level * maxval / PARAMETER_MAX)


def _float_parameter(level: int, maxval: float) -> float:
    """PBA's ``float_parameter``: float(level) * maxval / PARAMETER_MAX, in that order (the
    order fixes the last bit, and the enhance factor's last bit can move a pixel)."""
    return float(level) * maxval / PARAMETER_MAX


def _enhance_factor(level: int) -> float:
    """ImageEnhance factor for a magnitude: m * 1.8 / 10 + 0.1 (0.1..1.72 for m in 0..9)."""
    return _float_parameter(level, 1.8) + 0.1


def _affine(img: Image.Image, matrix: Tuple[float, ...], fill: Fill) -> Image.Image:
    """PIL's inverse affine map, nearest neighbour: output (x, y) samples input
    (a x + b y + c, d x + e y + f); pixels with no source get the fill."""
    return img.transform(img.size, _AFFINE, matrix, resample=_NEAREST, fillcolor=fill)


def _rotate(img, degrees, center, fill):
    return img.rotate(degrees, resample=_NEAREST, fillcolor=fill)


def _translate_x(img, pixels, center, fill):
    return _affine(img, (1, 0, pixels, 0, 1, 0), fill)


def _translate_y(img, pixels, center, fill):
    return _affine(img, (1, 0, 0, 0, 1, pixels), fill)


def _shear_x(img, shear, center, fill):
    return img.copy() if shear == 0 else _affine(img, (1, shear, 0, 0, 1, 0), fill)


def _shear_y(img, shear, center, fill):
    return img.copy() if shear == 0 else _affine(img, (1, 0, 0, shear, 1, 0), fill)


def _enhance(kind: Callable[[Image.Image], Any]) -> Callable:
    """An ImageEnhance operation: Pillow's blend with the kind's degenerate image."""
    return lambda img, factor, center, fill: kind(img).enhance(factor)


def _posterize(img, bits, center, fill):
    return ImageOps.posterize(img, max(0, min(8, int(bits))))


def _solarize(img, threshold, center, fill):
    return ImageOps.solarize(img, threshold)


def _cutout(img, size, center, fill):
    return cutout(img, int(size), center, fill)


def cutout(img: Image.Image, size: int, center: Tuple[int, int], fill: Fill) -> Image.Image:
    """Fills the square [cx - size//2, cx + size//2) x [cy - size//2, cy + size//2), clipped
    at the border, as PBA's ``create_cutout_mask`` (an odd side covers side - 1 pixels).
    Shared by the Cutout operation and the base augmentation."""
    out = img.copy()
    half = size // 2
    cx, cy = center
    x0, x1 = max(0, cx - half), min(img.width, cx + half)
    y0, y1 = max(0, cy - half), min(img.height, cy + half)
    if size > 0 and x0 < x1 and y0 < y1:
        out.paste(fill, (x0, y0, x1, y1))
    return out


class _Operation(NamedTuple):
    """One of the 15 operations: how its magnitude maps to a parameter (PBA's mapping), whether
    the parameter's sign is random (PBA: rotations, translations, shears), whether it needs a
    centre (Cutout), and ``apply(img, signed_parameter, center, fill)``."""

    parameter: Callable[[int], float]
    signed: bool
    uses_center: bool
    apply: Callable[[Image.Image, float, Tuple[int, int], Fill], Image.Image]


_OPERATIONS = {
    "Rotate": _Operation(lambda m: _int_parameter(m, 30), True, False, _rotate),
    "TranslateX": _Operation(lambda m: _int_parameter(m, 10), True, False, _translate_x),
    "TranslateY": _Operation(lambda m: _int_parameter(m, 10), True, False, _translate_y),
    "Brightness": _Operation(_enhance_factor, False, False, _enhance(ImageEnhance.Brightness)),
    "Color": _Operation(_enhance_factor, False, False, _enhance(ImageEnhance.Color)),
    "Invert": _Operation(lambda m: 0, False, False, lambda img, p, c, f: ImageOps.invert(img)),
    "Sharpness": _Operation(_enhance_factor, False, False, _enhance(ImageEnhance.Sharpness)),
    "Posterize": _Operation(lambda m: 4 - _int_parameter(m, 4), False, False, _posterize),
    "ShearX": _Operation(lambda m: _float_parameter(m, 0.3), True, False, _shear_x),
    "Solarize": _Operation(lambda m: 256 - _int_parameter(m, 256), False, False, _solarize),
    "ShearY": _Operation(lambda m: _float_parameter(m, 0.3), True, False, _shear_y),
    "Equalize": _Operation(lambda m: 0, False, False, lambda img, p, c, f: ImageOps.equalize(img)),
    "AutoContrast": _Operation(lambda m: 0, False, False, lambda img, p, c, f: ImageOps.autocontrast(img)),
    "Cutout": _Operation(lambda m: _int_parameter(m, 20), False, True, _cutout),
    "Contrast": _Operation(_enhance_factor, False, False, _enhance(ImageEnhance.Contrast)),
}


def _operation(name: str) -> _Operation:
    try:
        return _OPERATIONS[name]
    except KeyError:
        raise ValueError(f"unknown operation {name!r} (known: {', '.join(PBA_OPERATIONS)})") from None


def _check_image(img: Any) -> None:
    """pba works on 8-bit grey and RGB images; other modes would silently mean something else
    (an alpha channel, a palette)."""
    if not isinstance(img, Image.Image):
        raise TypeError(f"expected a PIL image, got {type(img).__name__}")
    if img.mode not in ("L", "RGB"):
        raise ValueError(f"image mode {img.mode!r} is not supported: convert to 'RGB' or 'L' first")


def _pil_fill(img: Image.Image, fill: Fill) -> Union[int, Tuple[int, int, int]]:
    """A fill in Pillow's form for the image's mode: one value per channel; a grey image uses
    the first value of a colour, a colour image repeats a single grey value (pba's FillColor)."""
    values = (fill,) if isinstance(fill, int) and not isinstance(fill, bool) else tuple(fill)
    if len(values) not in (1, 3) or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 255
                                        for v in values):
        raise ValueError(f"fill {fill!r} must be one or three integers in 0..255")
    if img.mode == "L":
        return values[0]
    return values * 3 if len(values) == 1 else values


def operation_parameter(name: str, magnitude: int, sign: int = 1) -> float:
    """The operation's parameter at a magnitude (degrees, pixels, shear, enhance factor, bits,
    threshold, Cutout side) with the sign applied to signed operations, as pba computes it."""
    op = _operation(name)
    low, high = OPERATION_MAGNITUDE_RANGE
    if isinstance(magnitude, bool) or not isinstance(magnitude, int) or not low <= magnitude <= high:
        raise ValueError(f"magnitude {magnitude!r} is outside {low}...{high}")
    if sign not in (1, -1):
        raise ValueError(f"sign {sign!r} must be +1 or -1")
    p = op.parameter(magnitude)
    return -p if op.signed and sign < 0 else p


def apply_operation(img: Image.Image, name: str, magnitude: int, sign: int = 1,
                    fill: Fill = CIFAR10_MEAN_FILL, center: Optional[Tuple[int, int]] = None) -> Image.Image:
    """Applies one operation deterministically, as ``pba augment --op`` does: PBA's magnitude
    mapping (0..10), ``sign`` for signed operations (ignored by the others), ``center`` for
    Cutout (default: the image centre, (width // 2, height // 2)). Returns a new image."""
    _check_image(img)
    parameter = operation_parameter(name, magnitude, sign)
    c = (img.width // 2, img.height // 2) if center is None else tuple(center)
    if len(c) != 2 or not (0 <= c[0] < img.width and 0 <= c[1] < img.height):
        raise ValueError(f"centre {center!r} lies outside the {img.width}x{img.height} image")
    return _operation(name).apply(img, parameter, c, _pil_fill(img, fill))


# MARK: Applying a policy


def _apply_drawing(img: Image.Image, name: str, magnitude: int, rng, fill) -> Image.Image:
    """Applies an operation of a policy, drawing what it needs in pba's order: the sign (signed
    operations, negative with probability 1/2), then the centre's x and y (Cutout)."""
    op = _OPERATIONS[name]
    p = op.parameter(magnitude)
    if op.signed and rng.randrange(2) == 1:
        p = -p
    center = (0, 0)
    if op.uses_center:
        center = (rng.randrange(img.width), rng.randrange(img.height))
    return op.apply(img, p, center, fill)


def apply_policy(img: Image.Image, policy: Policy, rng=random, fill: Fill = CIFAR10_MEAN_FILL) -> Image.Image:
    """PBA's per-image policy application, as pba does it.

    Choose count = 0, 1 or 2 with probabilities 0.2, 0.3, 0.5; visit the 2n (operation,
    probability, magnitude) tuples in uniformly random order (a Fisher-Yates shuffle drawn one
    position per visited tuple, so the walk stops drawing when it stops), applying each with
    probability probability/10 until count operations have been applied or the tuples run out.
    Pixels an operation uncovers hold the fill and later operations treat them as ordinary
    pixels, as in pba (PBA's RGBA trick differs there; see pba's Augmenter.swift).
    """
    _check_image(img)
    fill = _pil_fill(img, fill)
    u = rng.randrange(10)
    count = 0 if u < 2 else (1 if u < 5 else 2)
    if count == 0:
        return img
    tuples = policy.tuples()
    order = list(range(len(tuples)))
    for i in range(len(order)):
        if count == 0:
            break
        j = i + rng.randrange(len(order) - i)
        order[i], order[j] = order[j], order[i]
        name, probability, magnitude = tuples[order[i]]
        if rng.randrange(10) < probability:
            img = _apply_drawing(img, name, magnitude, rng, fill)
            count -= 1
    return img


def _shift(img: Image.Image, dx: int, dy: int, fill) -> Image.Image:
    """Output (x, y) takes input (x + dx, y + dy); the rest is fill: pad then crop."""
    out = Image.new(img.mode, img.size, fill)
    out.paste(img, (-dx, -dy))
    return out


def apply_base_augmentation(img: Image.Image, base: BaseAugmentation, rng=random,
                            fill: Optional[Fill] = None) -> Image.Image:
    """The schedule's base augmentation, as pba applies it after the policy.

    Draws in pba's order: crop offsets dx, dy uniform in [-padding, padding] (torchvision's
    RandomCrop range; PBA's own code never shifts by +padding), a flip with probability 1/2,
    then the Cutout centre uniform over the pixels. Padding and Cutout use ``fill`` (default:
    the schedule's fill rule). Normalisation is not applied here.
    """
    _check_image(img)
    fill = _pil_fill(img, base.fill_colour() if fill is None else fill)
    if base.padding > 0 and base.random_crop:
        dx = rng.randrange(2 * base.padding + 1) - base.padding
        dy = rng.randrange(2 * base.padding + 1) - base.padding
        if dx or dy:
            img = _shift(img, dx, dy, fill)
    if base.horizontal_flip and rng.randrange(2) == 1:
        img = img.transpose(_FLIP_LEFT_RIGHT)
    if base.cutout_size > 0:
        center = (rng.randrange(img.width), rng.randrange(img.height))
        img = cutout(img, base.cutout_size, center, fill)
    return img


# MARK: Foundations (the policy baselines a schedule can be learned on top of)

#: The recipes a schedule's ``baseAugmentation.foundation`` may name (RandAugment also as
#: ``randaugment(N,M)``; plain ``randaugment`` is N = 2, M = 9), as pba's Baseline defines them.
FOUNDATIONS = ("randaugment", "trivialaugment", "autoaugment")

#: AutoAugment's published CIFAR-10 policy: 25 sub-policies of two (operation, probability in
#: tenths, magnitude 0..9) steps, on PBA's operations and scale (pba's ``autoAugmentCIFAR10``).
AUTOAUGMENT_CIFAR10 = (
    (("Invert", 1, 0), ("Contrast", 2, 6)), (("Rotate", 7, 2), ("TranslateX", 3, 9)),
    (("Sharpness", 8, 1), ("Sharpness", 9, 3)), (("ShearY", 5, 8), ("TranslateY", 7, 9)),
    (("AutoContrast", 5, 0), ("Equalize", 9, 0)), (("ShearY", 2, 7), ("Posterize", 3, 7)),
    (("Color", 4, 3), ("Brightness", 6, 7)), (("Sharpness", 3, 9), ("Brightness", 7, 9)),
    (("Equalize", 6, 0), ("Equalize", 5, 0)), (("Contrast", 6, 7), ("Sharpness", 6, 5)),
    (("Color", 7, 7), ("TranslateX", 5, 8)), (("Equalize", 3, 0), ("AutoContrast", 4, 0)),
    (("TranslateY", 4, 3), ("Sharpness", 2, 6)), (("Brightness", 9, 6), ("Color", 2, 8)),
    (("Solarize", 5, 2), ("Invert", 0, 0)), (("Equalize", 2, 0), ("AutoContrast", 6, 0)),
    (("Equalize", 2, 0), ("Equalize", 6, 0)), (("Color", 9, 9), ("Equalize", 6, 0)),
    (("AutoContrast", 8, 0), ("Solarize", 2, 8)), (("Brightness", 1, 3), ("Color", 7, 0)),
    (("Solarize", 4, 5), ("AutoContrast", 9, 0)), (("TranslateY", 9, 9), ("TranslateY", 7, 9)),
    (("AutoContrast", 9, 0), ("Solarize", 8, 3)), (("Equalize", 8, 0), ("Invert", 1, 0)),
    (("TranslateY", 7, 9), ("AutoContrast", 9, 0)),
)

#: What RandAugment and TrivialAugment draw from, after Identity (index 0), in pba's order.
_UNIFORM_OPERATIONS = (
    "AutoContrast", "Equalize", "Rotate", "Solarize", "Color", "Posterize", "Contrast", "Brightness",
    "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY",
)
_TRIVIAL_SIGNED = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast", "Sharpness"}


def parse_foundation(name: str) -> Tuple[str, int, int]:
    """(kind, n, m) for a foundation name: ("randaugment", N, M), ("trivialaugment", 0, 0) or
    ("autoaugment", 0, 0). Raises ValueError naming what is allowed, as pba does."""
    s = str(name).lower().replace(" ", "")
    if s in ("trivialaugment", "autoaugment"):
        return (s, 0, 0)
    if s == "randaugment":
        return ("randaugment", 2, 9)
    if s.startswith("randaugment(") and s.endswith(")"):
        parts = s[len("randaugment("):-1].split(",")
        try:
            n, m = (int(p) for p in parts)
        except ValueError:
            raise ValueError(f"baseline '{name}': expected randaugment(N,M) with integers N and M") from None
        if not 0 <= n <= 16:
            raise ValueError(f"baseline '{name}': N = {n} is outside 0...16")
        if not 0 <= m <= PARAMETER_MAX:
            raise ValueError(f"baseline '{name}': M = {m} is outside 0...{PARAMETER_MAX}")
        return ("randaugment", n, m)
    if s in ("none", "base", "cutout"):
        raise ValueError(f"'{name}' cannot be a foundation: it is a base augmentation; a foundation is one of "
                         f"randaugment, trivialaugment, autoaugment, randaugment(N,M)")
    raise ValueError(f"unknown foundation '{name}' (known: randaugment, trivialaugment, autoaugment, randaugment(N,M))")


def _trivial_parameter(name: str, level: int, positive: bool) -> float:
    """TrivialAugment-wide's parameter at strength bin ``level`` of 0..30 (pba's
    ``trivialAugmentParameter``: torchvision's wide ranges, shears about the corner)."""
    f = level / 30.0
    sign = 1.0 if positive else -1.0
    if name in ("ShearX", "ShearY"):
        return sign * 0.99 * f
    if name in ("TranslateX", "TranslateY"):
        return sign * float(int(32.0 * f))
    if name == "Rotate":
        return sign * 135.0 * f
    if name in ("Brightness", "Color", "Contrast", "Sharpness"):
        return 1 + sign * 0.99 * f
    if name == "Posterize":
        return float(8 - round(level / 5.0))
    if name == "Solarize":
        return 255.0 - 255.0 * f
    return 0.0


def apply_foundation(img: Image.Image, foundation: str, rng=random, fill: Fill = CIFAR10_MEAN_FILL) -> Image.Image:
    """Applies a foundation recipe as pba does before a schedule's policy, drawing in pba's
    order: AutoAugment picks one of its 25 sub-policies and applies each step with its
    probability; RandAugment applies N draws from Identity + 13 operations at magnitude M;
    TrivialAugment applies one such draw at a uniform strength of 31 bins. Signs are random
    for signed operations."""
    _check_image(img)
    kind, n, m = parse_foundation(foundation)
    fill = _pil_fill(img, fill)
    if kind == "autoaugment":
        for name, probability, magnitude in AUTOAUGMENT_CIFAR10[rng.randrange(len(AUTOAUGMENT_CIFAR10))]:
            if rng.randrange(10) < probability:
                img = _apply_drawing(img, name, magnitude, rng, fill)
    elif kind == "randaugment":
        for _ in range(n):
            k = rng.randrange(len(_UNIFORM_OPERATIONS) + 1)
            if k > 0:
                img = _apply_drawing(img, _UNIFORM_OPERATIONS[k - 1], m, rng, fill)
    else:
        k = rng.randrange(len(_UNIFORM_OPERATIONS) + 1)
        if k > 0:
            name = _UNIFORM_OPERATIONS[k - 1]
            level = rng.randrange(31)
            positive = rng.randrange(2) == 0 if name in _TRIVIAL_SIGNED else True
            img = _OPERATIONS[name].apply(img, _trivial_parameter(name, level, positive), (0, 0), fill)
    return img


# MARK: The transform


class PBASchedule:
    """A torchvision-style transform applying a schedule: its foundation if it has one (a
    baseline recipe it was learned on top of), the current epoch's policy, then the schedule's
    base augmentation (pad + random crop, flip, Cutout). PIL image in, PIL image out;
    put ``ToTensor()`` and ``Normalize(*t.normalization)`` after it.

    ``schedule``: a path to a schedule JSON file, or a loaded ``Schedule``.
    ``epochs``: how many epochs you train for; the schedule is stretched to them.
    ``seed``: None (default) draws from Python's global ``random``, which PyTorch's DataLoader
    reseeds in every worker process, so workers do not repeat each other's draws. An integer
    gives this transform its own ``random.Random(seed)`` (reproducible in one process; every
    worker process would start from the same copy of it).
    ``fill``: the colour of padded, uncovered and cut-out pixels; default the schedule's rule
    (its data set's mean). Set it when you train on other data than the schedule's.
    ``base_augmentation``: False to apply the policy only.

    Call ``set_epoch(e)`` at the start of every epoch e in 0..epochs-1, before iterating the
    DataLoader: worker processes get a copy of the transform when an iteration starts, so with
    ``persistent_workers=True`` they would keep the first epoch's policy for ever.
    """

    def __init__(self, schedule: Union[str, "os.PathLike[str]", Schedule], epochs: int, *,
                 seed: Optional[int] = None, fill: Optional[Fill] = None, base_augmentation: bool = True):
        self.schedule = schedule if isinstance(schedule, Schedule) else load_schedule(schedule)
        self.epochs = epochs
        self.policies = self.schedule.epoch_policies(epochs)
        self.fill = fill
        self.base_augmentation = base_augmentation
        self.epoch = 0
        # None: the module-level generator (picklable, reseeded per DataLoader worker).
        self._rng = None if seed is None else random.Random(seed)

    def set_epoch(self, epoch: int) -> None:
        """Selects the policy of training epoch ``epoch`` (0-based)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch < self.epochs:
            raise ValueError(f"epoch {epoch!r} is outside 0..{self.epochs - 1} "
                             f"(the schedule was stretched to epochs={self.epochs})")
        self.epoch = epoch

    @property
    def policy(self) -> Policy:
        """The current epoch's policy."""
        return self.policies[self.epoch]

    @property
    def normalization(self) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
        """(mean, std) per channel of pixel/255, for ``torchvision.transforms.Normalize``."""
        base = self.schedule.base_augmentation
        return base.normalization_mean, base.normalization_std

    def _fill_for(self, img: Image.Image) -> Fill:
        if self.fill is not None:
            return self.fill
        colour = self.schedule.base_augmentation.fill_colour()
        channels = 1 if img.mode == "L" else 3
        if len(colour) != channels:
            raise ValueError(f"the schedule's base augmentation describes {len(colour)}-channel images, "
                             f"this image has mode {img.mode!r}: pass fill=... for other data")
        return colour

    def __call__(self, img: Image.Image) -> Image.Image:
        _check_image(img)
        rng = random if self._rng is None else self._rng
        fill = self._fill_for(img)
        foundation = self.schedule.base_augmentation.foundation
        if foundation is not None:
            img = apply_foundation(img, foundation, rng, fill)
        img = apply_policy(img, self.policy, rng, fill)
        if self.base_augmentation:
            img = apply_base_augmentation(img, self.schedule.base_augmentation, rng, fill)
        return img

    def __repr__(self) -> str:
        s = self.schedule
        return (f"{type(self).__name__}({s.dataset}/{s.model}, learned over {s.learned_epochs} epochs, "
                f"stretched to {self.epochs}, epoch {self.epoch})")


# MARK: Helpers


def _byte_of_mean(mean: float) -> int:
    """pba's ``FillColor(datasetMean:)``: Float(mean) * 255 in single precision, rounded half
    away from zero, clamped to a byte. The product of two floats is exact in a double, so
    rounding it once to single precision gives the float product."""
    f32 = struct.unpack("f", struct.pack("f", mean))[0]
    product = struct.unpack("f", struct.pack("f", f32 * 255.0))[0]
    return max(0, min(255, math.floor(product + 0.5)))
