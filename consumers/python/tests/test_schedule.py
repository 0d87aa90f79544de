"""Reading, validating and stretching schedules, checked against pba's own reading of the same
files (``pba schedule import``, ``show`` and ``plot``)."""

import copy
import json
import re

import pytest

import pba_cli
import pba_schedule as pba


def load_document(path):
    with open(path) as f:
        return json.load(f)


def write_document(path, document):
    with open(path, "w") as f:
        json.dump(document, f)
    return path


# MARK: Loading


def test_imported_schedule_loads_with_pbas_segments(imported_schedules, tmp_path):
    path = imported_schedules["rcifar10_16_wrn"]
    schedule = pba.load_schedule(path)
    assert schedule.operations == pba.PBA_OPERATIONS
    assert schedule.learned_epochs == 200
    assert schedule.dataset == "rcifar10_16_wrn"
    # pba's PBA form of the same document: [[n_epochs, policy], ...]
    pba_form = tmp_path / "pba-form.txt"
    pba_cli.run_pba("schedule", "import", path, "--format", "pba", "--out", pba_form)
    expected = json.loads(pba_form.read_text())
    assert [[s.epoch_count, list(s.policy.values)] for s in schedule.segments] == expected


def test_imported_schedule_describes_pbas_cifar10_base_augmentation(imported_schedules):
    base = pba.load_schedule(imported_schedules["rcifar10_16_wrn"]).base_augmentation
    assert (base.padding, base.random_crop, base.horizontal_flip, base.cutout_size) == (4, True, True, 16)
    assert base.fill == "dataset-mean"
    assert base.fill_colour() == pba.CIFAR10_MEAN_FILL   # pba's FillColor.cifar10Mean


def test_policy_tuples_follow_the_layout(imported_schedules):
    policy = pba.load_schedule(imported_schedules["rcifar10_16_wrn"]).segments[1].policy
    tuples = policy.tuples()
    assert len(tuples) == 30
    assert tuples[0] == ("Rotate", policy.values[0], policy.values[1])
    assert tuples[14] == ("Contrast", policy.values[28], policy.values[29])
    assert tuples[15] == ("Rotate", policy.values[30], policy.values[31])


# MARK: Stretching


def letters(policies, segments):
    """Each epoch's policy as the index of the segment it came from (first match)."""
    index = {s.policy: i for i, s in reversed(list(enumerate(segments)))}
    return [index[p] for p in policies]


def synthetic_document(imported, tmp_path):
    """A 10-epoch schedule with segment lengths 3, 0, 4, 3 (an empty one, as PBA makes) and four
    different policies, so every stretched epoch shows which segment it came from."""
    document = load_document(imported)
    policies = [s["policy"] for s in document["segments"][1:5]]
    starts = [0, 3, 3, 7, 10]
    document["learnedEpochs"] = 10
    document["segments"] = [{"startEpoch": starts[i], "endEpoch": starts[i + 1], "policy": policies[i]}
                            for i in range(4)]
    document["lineage"] = None
    return write_document(tmp_path / "synthetic.json", document)


def test_stretching_follows_pbas_rule(imported_schedules, tmp_path):
    schedule = pba.load_schedule(synthetic_document(imported_schedules["rcifar10_16_wrn"], tmp_path))
    segments = schedule.segments
    # a segment of n epochs lasts int(n * N / 10); the rest takes the last policy, excess is cut
    assert letters(schedule.epoch_policies(5), segments) == [0, 2, 2, 3, 3]
    assert letters(schedule.epoch_policies(7), segments) == [0, 0, 2, 2, 3, 3, 3]
    assert letters(schedule.epoch_policies(10), segments) == [0, 0, 0, 2, 2, 2, 2, 3, 3, 3]
    assert letters(schedule.epoch_policies(1), segments) == [3]
    assert letters(schedule.epoch_policies(20), segments) == [0] * 6 + [2] * 8 + [3] * 6
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        schedule.epoch_policies(0)


SVG_POLYGON = re.compile(r'<polygon class="op" data-op="([^"]+)" points="([^"]+)"')


def svg_panels(svg, operations):
    """pba's plot, read back: per panel (probability, magnitude), per operation, the y of the top
    edge of its stacked area at each epoch."""
    polygons = SVG_POLYGON.findall(svg)
    assert [name for name, _ in polygons] == list(operations) * 2
    panels = []
    for start in (0, len(operations)):
        panel = []
        for _, points in polygons[start:start + len(operations)]:
            ys = [float(p.split(",")[1]) for p in points.split()]
            panel.append(ys[:len(ys) // 2][::2])   # the upper edge: two points per epoch
        panels.append(panel)
    return panels


def predicted_panels(policies, operations):
    """The same y values from our per-epoch policies, with pba's plot arithmetic (ScheduleRendering:
    260-pixel panels from y = 50 and 370, stacked in operation order, scaled to the largest total)."""
    k = len(operations)
    probability = [[(p.values[2 * o] + p.values[2 * k + 2 * o]) / 10 for o in range(k)] for p in policies]
    magnitude = [[float(p.values[2 * o + 1] + p.values[2 * k + 2 * o + 1]) for o in range(k)] for p in policies]
    panels = []
    for values, y0 in ((probability, 50.0), (magnitude, 370.0)):
        totals = []
        for row in values:
            total = 0.0
            for v in row:
                total += v
            totals.append(total)
        scale = 260.0 / max(max(totals), 1e-9)
        below = [0.0] * len(policies)
        panel = []
        for o in range(k):
            edge = []
            for e in range(len(policies)):
                below[e] += values[e][o]
                edge.append(y0 + 260.0 - below[e] * scale)
            panel.append(edge)
        panels.append(panel)
    return panels


@pytest.mark.parametrize("name, epochs", [
    ("rcifar10_16_wrn", 1), ("rcifar10_16_wrn", 3), ("rcifar10_16_wrn", 37), ("rcifar10_16_wrn", 199),
    ("rcifar10_16_wrn", 200), ("rcifar10_16_wrn", 201), ("rcifar10_16_wrn", 333),
    ("rsvhn_16_wrn", 7), ("rsvhn_16_wrn", 160), ("rsvhn_16_wrn", 180),
    ("synthetic", 1), ("synthetic", 3), ("synthetic", 7), ("synthetic", 13), ("synthetic", 29),
])
def test_stretching_matches_pba(name, epochs, imported_schedules, tmp_path):
    if name == "synthetic":
        path = synthetic_document(imported_schedules["rcifar10_16_wrn"], tmp_path)
    else:
        path = imported_schedules[name]
    schedule = pba.load_schedule(path)
    policies = schedule.epoch_policies(epochs)
    assert len(policies) == epochs
    svg = tmp_path / "plot.svg"
    pba_cli.run_pba("schedule", "plot", path, "--train-epochs", epochs, "--out", svg)
    swift = svg_panels(svg.read_text(), schedule.operations)
    ours = predicted_panels(policies, schedule.operations)
    for panel, (s_panel, o_panel) in zip(("probability", "magnitude"), zip(swift, ours)):
        for op, s_edge, o_edge in zip(schedule.operations, s_panel, o_panel):
            assert len(s_edge) == epochs
            for e, (s, o) in enumerate(zip(s_edge, o_edge)):
                # pba prints one decimal: 0.05 of rounding; one epoch in the wrong segment moves an
                # edge by at least 0.1 x (260 / largest total) pixels, far more.
                assert abs(s - o) <= 0.06, f"epoch {e}, {op}, {panel}: pba plots y={s}, we predict {o:.3f}"


# MARK: Validation


def mutate(document, path, value=None, delete=False):
    """Sets (or deletes) the value at a pba-style path such as segments[2].policy[17]."""
    keys = [int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)]
    target = document
    for k in keys[:-1]:
        target = target[k]
    if delete:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value


# (description, path to change, new value or DELETE, path the error must name, pba reports it too)
DELETE = object()
BROKEN = [
    ("missing policy", "segments[2].policy", DELETE, "segments[2].policy", True),
    ("missing object", "baseAugmentation", DELETE, "baseAugmentation", True),
    ("missing nested field", "baseAugmentation.cutoutSize", DELETE, "baseAugmentation.cutoutSize", True),
    ("string for integer", "segments[1].startEpoch", "12", "segments[1].startEpoch", True),
    ("string for integer", "policyLayout.integersPerPolicy", "60", "policyLayout.integersPerPolicy", True),
    ("boolean for integer", "baseAugmentation.padding", True, "baseAugmentation.padding", True),
    ("object for array", "operations", {}, "operations", True),
    ("integer for string", "operations[3].name", 3, "operations[3].name", True),
    ("policy value out of range", "segments[3].policy[17]", 12, "segments[3].policy[17]", True),
    ("short policy", "segments[0].policy", [0] * 59, "segments[0].policy", True),
    ("gap between segments", "segments[4].startEpoch", 75, "segments[4].startEpoch", True),
    ("segments not reaching learnedEpochs", "learnedEpochs", 201, "segments[16].endEpoch", True),
    ("duplicate operation", "operations[5].name", "Rotate", "operations[5].name", True),
    ("wrong format name", "format", "pba-schedul", "format", True),
    ("bad lineage policy", "lineage.perturbations[2].newPolicy[0]", 11, "lineage.perturbations[2].newPolicy[0]", True),
    ("unknown operation name", "operations[4].name", "Colour", "operations[4].name", True),
    ("unknown fill rule", "baseAugmentation.fill", "black", "baseAugmentation.fill", True),
    ("foundation in a version-1 document", "baseAugmentation.foundation", "autoaugment", "baseAugmentation.foundation", True),
    ("mean not of pixel/255", "baseAugmentation.normalizationMean[1]", 123.0, "baseAugmentation.normalizationMean[1]", True),
]


@pytest.mark.parametrize("description, where, value, expected_path, pba_checks", BROKEN,
                         ids=[f"{b[0]}:{b[1]}" for b in BROKEN])
def test_a_broken_document_names_the_place(description, where, value, expected_path, pba_checks,
                                           imported_schedules, tmp_path):
    document = load_document(imported_schedules["rcifar10_16_wrn"])
    mutate(document, where, delete=value is DELETE, value=None if value is DELETE else value)
    path = write_document(tmp_path / "broken.json", document)
    with pytest.raises(pba.ScheduleError) as raised:
        pba.load_schedule(path)
    error = raised.value
    assert isinstance(error, ValueError)
    assert error.path == expected_path, str(error)
    assert str(error).startswith(f"{path}: schedule field {expected_path}: ")
    if pba_checks:
        assert f"schedule field {expected_path}: " in pba_cli.run_pba_failing("schedule", "show", path)


def test_an_unknown_format_version_is_refused(imported_schedules, tmp_path):
    document = load_document(imported_schedules["rcifar10_16_wrn"])
    document["formatVersion"] = 3
    path = write_document(tmp_path / "v3.json", document)
    with pytest.raises(pba.ScheduleError, match="format version 3 is not supported") as raised:
        pba.load_schedule(path)
    assert raised.value.path == "formatVersion"
    assert "format version 3 is not supported" in pba_cli.run_pba_failing("schedule", "show", path)


@pytest.mark.parametrize("text, message", [
    ('{"format": "pba-schedule",', "is not valid JSON"),
    ("[1, 2, 3]", "expected an object, found an array"),
    (b"\xff\xfe{}", "is not"),
])
def test_a_document_that_is_not_a_schedule_is_refused(text, message, tmp_path):
    path = tmp_path / "bad.json"
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    with pytest.raises(pba.ScheduleError, match=message) as raised:
        pba.load_schedule(path)
    assert raised.value.path == "$"


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(pba.ScheduleError, match="cannot be read") as raised:
        pba.load_schedule(tmp_path / "nowhere.json")
    assert "nowhere.json" in str(raised.value)


def test_optional_fields_may_be_null_or_absent_and_unknown_keys_are_ignored(imported_schedules, tmp_path):
    document = load_document(imported_schedules["rcifar10_16_wrn"])
    for key in ("seed", "search", "lineage"):
        document.pop(key)
    document["comment"] = "pba ignores keys it does not know, and so does this reader"
    document["segments"][0]["endEpoch"] = 12.0   # JSON Schema: an integer may be written 12.0
    schedule = pba.load_schedule(write_document(tmp_path / "lean.json", document))
    assert schedule.seed is None and schedule.segments[0].end_epoch == 12
    copy.deepcopy(schedule)


# MARK: Foundations


def stacked_document(imported_schedules, foundation):
    document = load_document(imported_schedules["rcifar10_16_wrn"])
    document["formatVersion"] = 2
    document["baseAugmentation"]["foundation"] = foundation
    return document


@pytest.mark.parametrize("foundation", ["cutout", "fancy", "randaugment(2,11)"])
def test_a_bad_foundation_is_refused_by_both(foundation, imported_schedules, tmp_path):
    path = write_document(tmp_path / "bad.json", stacked_document(imported_schedules, foundation))
    with pytest.raises(pba.ScheduleError) as raised:
        pba.load_schedule(path)
    assert raised.value.path == "baseAugmentation.foundation", str(raised.value)
    assert "schedule field baseAugmentation.foundation: " in pba_cli.run_pba_failing("schedule", "show", path)


def test_a_stacked_schedule_applies_its_foundation_first(imported_schedules, tmp_path):
    path = write_document(tmp_path / "aa.json", stacked_document(imported_schedules, "autoaugment"))
    pba_cli.run_pba("schedule", "show", path)  # pba reads it too
    schedule = pba.load_schedule(path)
    assert schedule.base_augmentation.foundation == "autoaugment"
    transform = pba.PBASchedule(schedule, 200, seed=5)
    transform.set_epoch(150)
    img = pba.Image.frombytes("RGB", (32, 32), bytes((i * 7) % 256 for i in range(32 * 32 * 3)))
    fill = schedule.base_augmentation.fill_colour()
    by_hand = __import__("random").Random(5)
    changed_by_foundation = 0
    plain = pba.PBASchedule(pba.load_schedule(imported_schedules["rcifar10_16_wrn"]), 200, seed=5)
    plain.set_epoch(150)
    for _ in range(40):
        expected = pba.apply_foundation(img, "autoaugment", by_hand, fill)
        expected = pba.apply_policy(expected, transform.policy, by_hand, fill)
        expected = pba.apply_base_augmentation(expected, schedule.base_augmentation, by_hand, fill)
        got = transform(img)
        assert got.tobytes() == expected.tobytes()
        changed_by_foundation += plain(img).tobytes() != got.tobytes()
    assert changed_by_foundation > 30


def test_foundation_recipes_follow_pbas_tables():
    assert len(pba.AUTOAUGMENT_CIFAR10) == 25 and all(len(sub) == 2 for sub in pba.AUTOAUGMENT_CIFAR10)
    assert pba.AUTOAUGMENT_CIFAR10[1] == (("Rotate", 7, 2), ("TranslateX", 3, 9))
    assert pba.parse_foundation("randaugment") == ("randaugment", 2, 9)
    assert pba.parse_foundation("RandAugment(3, 5)") == ("randaugment", 3, 5)
    # TrivialAugment-wide's parameters at hand-computed bins (the values pba's tests check).
    assert pba._trivial_parameter("Rotate", 30, False) == -135
    assert pba._trivial_parameter("TranslateX", 30, True) == 32
    assert pba._trivial_parameter("TranslateY", 1, True) == 1
    assert pba._trivial_parameter("Posterize", 0, True) == 8 and pba._trivial_parameter("Posterize", 30, True) == 2
    assert pba._trivial_parameter("Solarize", 30, True) == 0
    assert abs(pba._trivial_parameter("Color", 30, False) - 0.01) < 1e-12
    # An AutoAugment step is pba's operation at that magnitude: a scripted draw applies exactly it.

    class Scripted:
        def __init__(self, values):
            self.values = list(values)

        def randrange(self, n):
            v = self.values.pop(0)
            assert 0 <= v < n
            return v

    img = pba.Image.frombytes("RGB", (32, 32), bytes((i * 13) % 256 for i in range(32 * 32 * 3)))
    # Sub-policy 1: Rotate p 7 m 2 (applied: draw 0 < 7, sign draw 1 = negative), TranslateX p 3 (skipped: 5).
    got = pba.apply_foundation(img, "autoaugment", Scripted([1, 0, 1, 5]), (1, 2, 3))
    assert got.tobytes() == pba.apply_operation(img, "Rotate", 2, -1, (1, 2, 3)).tobytes()
