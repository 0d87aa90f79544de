"""Every operation against pba's own output (``pba augment --op``) on real CIFAR-10 images.

Geometric, lookup-table and Cutout operations must give identical pixels; the enhance operations
may differ by one grey level per channel (Pillow blends in single precision).
"""

import re

import pytest
from PIL import Image, ImageChops

import pba_cli
import pba_schedule as pba

ENHANCE = {"Brightness", "Color", "Contrast", "Sharpness"}
SIGNED = {"Rotate", "TranslateX", "TranslateY", "ShearX", "ShearY"}
#: Operations whose magnitude is unused: two magnitudes show that it stays unused.
MAGNITUDE_FREE = {"Invert", "Equalize", "AutoContrast"}
MAGNITUDES = [0, 1, 3, 5, 7, 9, 10]


def operation_cases():
    for name in pba.PBA_OPERATIONS:
        for m in ([0, 10] if name in MAGNITUDE_FREE else MAGNITUDES):
            for sign in ([1, -1] if name in SIGNED else [1]):
                yield pytest.param(name, m, sign, id=f"{name}-m{m}{'-' if sign < 0 else '+'}")


def compare(name, swift_records, python_images):
    """Asserts agreement record by record; the message names the first record that differs."""
    assert len(swift_records) == len(python_images)
    for i, ((_, swift), python) in enumerate(zip(swift_records, python_images)):
        assert python.mode == "RGB" and python.size == swift.size
        if name in ENHANCE:
            largest = max(high for _, high in ImageChops.difference(swift, python).getextrema())
            assert largest <= 1, f"record {i}: {name} differs from pba by {largest} grey levels"
        else:
            if swift.tobytes() != python.tobytes():
                differing = sum(a != b for a, b in zip(swift.tobytes(), python.tobytes()))
                pytest.fail(f"record {i}: {name} differs from pba in {differing} bytes", pytrace=False)


def run_operation(tmp_path, subset, name, magnitude, sign, *extra):
    out = tmp_path / "out.bin"
    pba_cli.run_pba("augment", "--op", name, "--magnitude", magnitude, "--sign", f"{sign:+d}",
                    "--in", subset, "--out", out, *extra)
    records = pba_cli.read_cifar(out)
    return records


@pytest.mark.parametrize("name, magnitude, sign", operation_cases())
def test_operation_matches_pba(name, magnitude, sign, cifar_subset, tmp_path):
    path, inputs = cifar_subset
    swift = run_operation(tmp_path, path, name, magnitude, sign)
    fill = pba_cli.mean_fill(inputs)   # pba augment's default --fill
    python = [pba.apply_operation(img, name, magnitude, sign, fill=fill) for _, img in inputs]
    compare(name, swift, python)
    assert [label for label, _ in swift] == [label for label, _ in inputs]
    if magnitude == 10:
        assert any(p.tobytes() != img.tobytes() for p, (_, img) in zip(python, inputs)), \
            f"{name} at magnitude 10 changed no image: the comparison proves nothing"


@pytest.mark.parametrize("center", [(0, 0), (31, 31), (3, 28), (30, 1), (16, 16)])
@pytest.mark.parametrize("magnitude", [3, 10])
def test_cutout_at_a_centre_matches_pba(center, magnitude, cifar_subset, tmp_path):
    path, inputs = cifar_subset
    swift = run_operation(tmp_path, path, "Cutout", magnitude, 1, "--center", f"{center[0]},{center[1]}")
    fill = pba_cli.mean_fill(inputs)
    python = [pba.apply_operation(img, "Cutout", magnitude, fill=fill, center=center) for _, img in inputs]
    compare("Cutout", swift, python)


@pytest.mark.parametrize("name", ["Rotate", "TranslateY", "ShearX", "Cutout"])
def test_explicit_fill_matches_pba(name, cifar_subset, tmp_path):
    path, inputs = cifar_subset
    swift = run_operation(tmp_path, path, name, 9, -1, "--fill", "250,3,77")
    python = [pba.apply_operation(img, name, 9, -1, fill=(250, 3, 77)) for _, img in inputs]
    compare(name, swift, python)


def test_grey_images_take_the_first_fill_value():
    img = Image.new("L", (8, 8), 200)
    out = pba.apply_operation(img, "TranslateX", 10, fill=(9, 99, 199))
    assert out.mode == "L" and set(out.tobytes()) == {9}
    assert pba.apply_operation(img, "Color", 9).tobytes() == img.tobytes()   # identity on grey, as pba


def test_parameters_follow_pbas_mapping():
    assert pba.operation_parameter("Rotate", 9, -1) == -27
    assert pba.operation_parameter("TranslateX", 7) == 7
    assert pba.operation_parameter("ShearY", 3, -1) == -3 * 0.3 / 10
    assert pba.operation_parameter("Brightness", 9) == 9 * 1.8 / 10 + 0.1
    assert pba.operation_parameter("Posterize", 9) == 1
    assert pba.operation_parameter("Solarize", 3) == 256 - 76
    assert pba.operation_parameter("Cutout", 7) == 14
    assert pba.operation_parameter("Invert", 5, -1) == 0   # unsigned: the sign is ignored


@pytest.mark.parametrize("call, message", [
    (lambda img: pba.apply_operation(img, "Rotation", 3), "unknown operation 'Rotation'"),
    (lambda img: pba.apply_operation(img, "Rotate", 11), "magnitude 11 is outside 0...10"),
    (lambda img: pba.apply_operation(img, "Rotate", 3, sign=0), "sign 0 must be +1 or -1"),
    (lambda img: pba.apply_operation(img, "Cutout", 3, center=(32, 0)), "outside the 32x32 image"),
    (lambda img: pba.apply_operation(img, "Rotate", 3, fill=(1, 2)), "one or three integers"),
    (lambda img: pba.apply_operation(img.convert("RGBA"), "Rotate", 3), "mode 'RGBA' is not supported"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call(Image.new("RGB", (32, 32)))
