"""Applying policies and the base augmentation, and the transform's interface.

pba's random numbers are not Python's, so policy application is compared with pba by the
frequencies of outcomes over many copies of one image, and the base augmentation by showing
that every image pba produced is one our base augmentation can produce.
"""

import pickle
import random

import pytest
from PIL import Image, ImageChops

import pba_cli
import pba_schedule as pba

N = len(pba.PBA_OPERATIONS)


def policy_with(*entries):
    """A policy with only the given (operation, pair 1 or 2, probability, magnitude) entries."""
    values = [0] * (4 * N)
    for name, pair, probability, magnitude in entries:
        i = 2 * pba.PBA_OPERATIONS.index(name) + (2 * N if pair == 2 else 0)
        values[i], values[i + 1] = probability, magnitude
    return pba.Policy(pba.PBA_OPERATIONS, tuple(values))


class ScriptedRandom:
    """Returns the given draws in order, checking each lies in the range asked for."""

    def __init__(self, draws):
        self.draws = list(draws)

    def randrange(self, n):
        value = self.draws.pop(0)
        assert 0 <= value < n, f"scripted draw {value} outside range({n})"
        return value


def outcome_fractions(outputs, outcomes):
    """Fraction of outputs equal to each named outcome image; every output must be one of them."""
    counts = dict.fromkeys(outcomes, 0)
    by_bytes = {img.tobytes(): name for name, img in outcomes.items()}
    assert len(by_bytes) == len(outcomes), "outcomes must be distinguishable"
    for i, out in enumerate(outputs):
        name = by_bytes.get(out.tobytes())
        assert name is not None, f"output {i} is none of the expected outcomes {list(outcomes)}"
        counts[name] += 1
    return {k: v / len(outputs) for k, v in counts.items()}


# MARK: Policy application


def test_the_count_and_probabilities_follow_pba():
    """Invert in both pairs at probability 1: count 1 (0.3) inverts, count 0 (0.2) and 2 (0.5)
    give the image back. Invert in one pair at probability 0.5: inverted with 0.8 x 0.5."""
    img = Image.new("RGB", (2, 2), (10, 20, 30))
    inverted = pba.apply_operation(img, "Invert", 0)
    rng = random.Random(7)
    both = policy_with(("Invert", 1, 10, 0), ("Invert", 2, 10, 0))
    half = policy_with(("Invert", 2, 5, 0))
    for policy, expected in ((both, 0.3), (half, 0.4)):
        outputs = [pba.apply_policy(img, policy, rng, fill=0) for _ in range(4000)]
        fractions = outcome_fractions(outputs, {"same": img, "inverted": inverted})
        assert abs(fractions["inverted"] - expected) < 0.03, fractions


def test_a_scripted_walk_applies_what_the_draws_choose():
    img = Image.new("RGB", (4, 4), (10, 20, 30))
    policy = policy_with(("Rotate", 1, 3, 5), ("Cutout", 2, 9, 1))
    # Draws: 7 -> count 2. Position 0 takes tuple 28 (Cutout, pair 2); 4 < 9 applies it, centre
    # (1, 2). Every later position keeps its tuple (offset 0) and draws 9, which no probability
    # exceeds, so the walk ends after all 30 tuples with one operation applied.
    rng = ScriptedRandom([7, 28, 4, 1, 2] + [0, 9] * 29)
    out = pba.apply_policy(img, policy, rng, fill=(1, 2, 3))
    expected = pba.apply_operation(img, "Cutout", 1, fill=(1, 2, 3), center=(1, 2))
    assert out.tobytes() == expected.tobytes()


def test_a_zero_policy_changes_nothing():
    img = Image.new("L", (5, 3), 99)
    zero = pba.Policy(pba.PBA_OPERATIONS, (0,) * (4 * N))
    rng = random.Random(1)
    assert all(pba.apply_policy(img, zero, rng, fill=0).tobytes() == img.tobytes() for _ in range(200))


def repeated_image_file(tmp_path, cifar_subset, copies):
    _, records = cifar_subset
    path = tmp_path / "repeated.bin"
    pba_cli.write_cifar(path, [records[0]] * copies)
    return path, records[0][1]


def test_policy_application_matches_pba_in_distribution(cifar_subset, tmp_path):
    """Invert and Posterize at probability 1 in the first pairs: nothing (count 0: 0.2), one of
    them (count 1: 0.15 each) or both in either order (count 2: 0.25 each). pba's outputs and ours
    must fall on the same five images with the same frequencies."""
    copies = 1000
    path, img = repeated_image_file(tmp_path, cifar_subset, copies)
    policy = policy_with(("Invert", 1, 10, 0), ("Posterize", 1, 10, 5))
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(str(list(policy.values)))
    out = tmp_path / "out.bin"
    pba_cli.run_pba("augment", "--policy", policy_file, "--in", path, "--out", out,
                    "--padding", 0, "--cutout", 0, "--no-flip", "--seed", 3)
    invert = lambda x: pba.apply_operation(x, "Invert", 0)
    posterize = lambda x: pba.apply_operation(x, "Posterize", 5)
    outcomes = {"none": img, "invert": invert(img), "posterize": posterize(img),
                "invert then posterize": posterize(invert(img)), "posterize then invert": invert(posterize(img))}
    expected = {"none": 0.2, "invert": 0.15, "posterize": 0.15,
                "invert then posterize": 0.25, "posterize then invert": 0.25}
    swift = outcome_fractions([x for _, x in pba_cli.read_cifar(out)], outcomes)
    rng = random.Random(3)
    ours = outcome_fractions([pba.apply_policy(img, policy, rng, fill=0) for _ in range(copies)], outcomes)
    for name, p in expected.items():
        # 1000 draws: a standard deviation of at most 0.016 per fraction
        assert abs(swift[name] - p) < 0.06 and abs(ours[name] - p) < 0.06, (name, swift, ours)


# MARK: Base augmentation


def base(padding=4, crop=True, flip=True, cutout=16, fill="dataset-mean"):
    return pba.BaseAugmentation(padding, crop, flip, cutout, fill, (0.5, 0.25, 0.75), (0.2, 0.2, 0.2))


def test_base_augmentation_draws_offsets_flip_then_cutout_centre():
    img = Image.frombytes("RGB", (6, 5), bytes(range(90)))
    fill = (7, 8, 9)
    # dx = 5 - 4 = +1, dy = 2 - 4 = -2, flip, cutout centre (0, 4)
    out = pba.apply_base_augmentation(img, base(), ScriptedRandom([5, 2, 1, 0, 4]), fill=fill)
    shifted = Image.new("RGB", img.size, fill)
    shifted.paste(img, (-1, 2))
    expected = pba.cutout(shifted.transpose(Image.FLIP_LEFT_RIGHT), 16, (0, 4), fill)
    assert out.tobytes() == expected.tobytes()
    # Without crop, flip and cutout nothing is drawn and nothing changes.
    quiet = pba.apply_base_augmentation(img, base(crop=False, flip=False, cutout=0), ScriptedRandom([]), fill=fill)
    assert quiet.tobytes() == img.tobytes()


def test_the_fill_rule_gives_pbas_bytes():
    assert base().fill_colour() == (128, 64, 191)   # 127.5 rounds up, 191.25 down
    assert base(fill="zero").fill_colour() == (0, 0, 0)


def explain_by_base_augmentation(swift, original, fill, padding, cutout):
    """Whether some crop offset and flip of ours, followed by a Cutout of side ``cutout``,
    gives ``swift``: the difference must fit in one Cutout square that holds only fill."""
    for dx in range(-padding, padding + 1):
        for dy in range(-padding, padding + 1):
            for mirror in (0, 1):
                ours = pba.apply_base_augmentation(
                    original, base(padding=padding, cutout=0),
                    ScriptedRandom([dx + padding, dy + padding, mirror]), fill=fill)
                box = ImageChops.difference(swift, ours).getbbox()
                if box is None:
                    return True
                x0, y0, x1, y1 = box
                if x1 - x0 <= cutout and y1 - y0 <= cutout and \
                        swift.crop(box).getcolors() == [((x1 - x0) * (y1 - y0), fill)]:
                    return True
    return False


def test_base_augmentation_matches_pba(cifar_subset, tmp_path):
    path, records = cifar_subset
    zero = tmp_path / "zero.json"
    zero.write_text(str([0] * (4 * N)))
    out = tmp_path / "base.bin"
    pba_cli.run_pba("augment", "--policy", zero, "--in", path, "--out", out)   # pad 4, flip, Cutout 16
    fill = pba_cli.mean_fill(records)
    swift = pba_cli.read_cifar(out)
    for i, ((_, s), (_, original)) in enumerate(zip(swift, records)):
        assert explain_by_base_augmentation(s, original, fill, 4, 16), \
            f"record {i}: pba's base augmentation made an image ours cannot"


# MARK: The transform


@pytest.fixture
def schedule_path(imported_schedules):
    return imported_schedules["rcifar10_16_wrn"]


def test_the_transform_follows_the_epoch(schedule_path):
    t = pba.PBASchedule(schedule_path, epochs=50, seed=0)
    policies = pba.load_schedule(schedule_path).epoch_policies(50)
    for epoch in (0, 17, 49):
        t.set_epoch(epoch)
        assert t.policy == policies[epoch]
    for bad in (-1, 50, 2.0, True):
        with pytest.raises(ValueError, match="outside 0..49"):
            t.set_epoch(bad)
    assert t.normalization == ((0.49139968, 0.48215841, 0.44653091), (0.24703223, 0.24348513, 0.26158784))
    assert "stretched to 50" in repr(t)


def test_the_same_seed_gives_the_same_images(schedule_path, cifar_subset):
    _, records = cifar_subset
    images = [img for _, img in records[:16]]

    def run(seed):
        t = pba.PBASchedule(schedule_path, epochs=200, seed=seed)
        t.set_epoch(150)
        return [t(img).tobytes() for img in images]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_the_transform_survives_pickling(schedule_path, cifar_subset):
    """DataLoader workers started by spawn get the transform pickled."""
    img = cifar_subset[1][0][1]
    t = pba.PBASchedule(schedule_path, epochs=10, seed=1)
    t.set_epoch(9)
    copy = pickle.loads(pickle.dumps(t))
    assert copy.epoch == 9 and copy(img).tobytes() == t(img).tobytes()
    unseeded = pickle.loads(pickle.dumps(pba.PBASchedule(schedule_path, epochs=10)))
    assert unseeded(img).size == (32, 32)


def test_grey_images_need_a_fill_for_a_colour_schedule(schedule_path):
    grey = Image.new("L", (28, 28), 40)
    with pytest.raises(ValueError, match="pass fill="):
        pba.PBASchedule(schedule_path, epochs=10, seed=0)(grey)
    t = pba.PBASchedule(schedule_path, epochs=10, seed=0, fill=33)
    t.set_epoch(9)
    outputs = [t(grey) for _ in range(20)]
    assert all(o.mode == "L" and o.size == grey.size for o in outputs)
    assert any(33 in o.tobytes() for o in outputs)   # Cutout 16 always covers some pixels


def test_without_base_augmentation_an_empty_policy_is_the_identity(schedule_path, cifar_subset):
    img = cifar_subset[1][0][1]
    t = pba.PBASchedule(schedule_path, epochs=200, seed=0, base_augmentation=False)
    t.set_epoch(0)   # PBA's schedule starts with an empty policy
    assert all(t(img).tobytes() == img.tobytes() for _ in range(50))
