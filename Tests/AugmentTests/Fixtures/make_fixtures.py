#!/usr/bin/env python3
"""Records Pillow's output for every PBA operation on small fixed images.

Run with the pinned Pillow (see README.md next to this file):
    python3 make_fixtures.py > pillow_ops.json

The images come from fixed integer formulas (no random files). Operations follow PBA's
augmentation_transforms_hp.py semantics (PARAMETER_MAX = 10) on uint8 "L"/"RGB" images, with
uncovered pixels filled by an explicit fill colour instead of PBA's transparent RGBA trick.
"""
import base64
import json
import sys

import PIL
from PIL import Image, ImageEnhance, ImageOps

PARAMETER_MAX = 10


def int_parameter(level, maxval):
    return int(level * maxval / PARAMETER_MAX)


def float_parameter(level, maxval):
    return float(level) * maxval / PARAMETER_MAX


def make_image(name, width, height, mode, formula):
    channels = 3 if mode == "RGB" else 1
    data = bytearray()
    for y in range(height):
        for x in range(width):
            for c in range(channels):
                data.append(formula(x, y, c) % 256)
    return name, Image.frombytes(mode, (width, height), bytes(data))


IMAGES = [
    make_image("rgb8x8", 8, 8, "RGB", lambda x, y, c: x * 37 + y * 59 + c * 101 + x * y * 13),
    make_image("rgb11x7", 11, 7, "RGB", lambda x, y, c: 60 + (x * 23 + y * 41 + c * 67 + x * y * 7) % 90),
    # More than 255 pixels in a narrow range: PIL's equalize step (pixels // 255) is non-zero.
    make_image("rgb18x18", 18, 18, "RGB", lambda x, y, c: 30 + (x * 5 + y * 11 + c * 29 + (x ^ y) * 3) % 70),
    make_image("l8x8", 8, 8, "L", lambda x, y, c: 40 + (x * 29 + y * 17 + x * y * 5) % 120),
    make_image("l11x7", 11, 7, "L", lambda x, y, c: x * 47 + y * 71 + x * y * 3),
    make_image("l24x24", 24, 24, "L", lambda x, y, c: 90 + (x * 7 + y * 3 + (x * y) % 11) % 50),
    # Wider than 64 pixels: rotations take the uncached matrix path.
    make_image("l70x3", 70, 3, "L", lambda x, y, c: x * 3 + y * 80),
]

RGB_FILL = (128, 64, 200)
L_FILL = 77


def fill_for(img):
    return RGB_FILL if img.mode == "RGB" else L_FILL


def affine(img, data):
    return img.transform(img.size, Image.Transform.AFFINE, data, Image.Resampling.NEAREST, fillcolor=fill_for(img))


def cutout(img, size, center):
    out = img.copy()
    if size <= 0:
        return out
    w, h = img.size
    cx, cy = center
    px = out.load()
    for y in range(max(0, cy - size // 2), min(h, cy + size // 2)):
        for x in range(max(0, cx - size // 2), min(w, cx + size // 2)):
            px[x, y] = fill_for(img)
    return out


# Each operation: (signed, magnitude-dependent, function(img, parameter, center)), with
# parameter(level) PBA's mapping. The function takes the signed parameter.
OPS = {
    "Rotate": (True, True, lambda m: int_parameter(m, 30),
               lambda img, p, c: img.rotate(p, resample=Image.Resampling.NEAREST, fillcolor=fill_for(img))),
    "TranslateX": (True, True, lambda m: int_parameter(m, 10), lambda img, p, c: affine(img, (1, 0, p, 0, 1, 0))),
    "TranslateY": (True, True, lambda m: int_parameter(m, 10), lambda img, p, c: affine(img, (1, 0, 0, 0, 1, p))),
    "Brightness": (False, True, lambda m: float_parameter(m, 1.8) + .1,
                   lambda img, p, c: ImageEnhance.Brightness(img).enhance(p)),
    "Color": (False, True, lambda m: float_parameter(m, 1.8) + .1, lambda img, p, c: ImageEnhance.Color(img).enhance(p)),
    "Invert": (False, False, lambda m: 0, lambda img, p, c: ImageOps.invert(img)),
    "Sharpness": (False, True, lambda m: float_parameter(m, 1.8) + .1,
                  lambda img, p, c: ImageEnhance.Sharpness(img).enhance(p)),
    "Posterize": (False, True, lambda m: 4 - int_parameter(m, 4), lambda img, p, c: ImageOps.posterize(img, int(p))),
    "ShearX": (True, True, lambda m: float_parameter(m, 0.3), lambda img, p, c: affine(img, (1, p, 0, 0, 1, 0))),
    "Solarize": (False, True, lambda m: 256 - int_parameter(m, 256), lambda img, p, c: ImageOps.solarize(img, p)),
    "ShearY": (True, True, lambda m: float_parameter(m, 0.3), lambda img, p, c: affine(img, (1, 0, 0, p, 1, 0))),
    "Equalize": (False, False, lambda m: 0, lambda img, p, c: ImageOps.equalize(img)),
    "AutoContrast": (False, False, lambda m: 0, lambda img, p, c: ImageOps.autocontrast(img)),
    "Cutout": (False, True, lambda m: int_parameter(m, 20), lambda img, p, c: cutout(img, int(p), c)),
    "Contrast": (False, True, lambda m: float_parameter(m, 1.8) + .1,
                 lambda img, p, c: ImageEnhance.Contrast(img).enhance(p)),
}

MAGNITUDES = [0, 1, 5, 9]

# Parameters outside PBA's magnitude grid, as TrivialAugment-wide and RandAugment use them.
PARAMETER_CASES = [
    ("Rotate", 45.5), ("Rotate", 10.3), ("Rotate", -0.7), ("Rotate", -135.0), ("Rotate", 90.0), ("Rotate", 180.0), ("Rotate", 270.0),
    ("ShearX", 0.99), ("ShearX", -0.55), ("ShearY", -0.99), ("ShearY", 0.33),
    ("TranslateX", 17.0), ("TranslateY", -32.0),
    ("Brightness", 0.01), ("Brightness", 1.99), ("Color", 0.37), ("Color", 1.99),
    ("Contrast", 0.01), ("Contrast", 1.63), ("Sharpness", 0.5), ("Sharpness", 1.99),
    ("Posterize", 2.0), ("Posterize", 8.0), ("Posterize", 0.0), ("Solarize", 100.5), ("Solarize", 0.0),
]


PARAMETER_IMAGES = {"rgb8x8", "rgb11x7", "l11x7", "l70x3"}


def b64(img):
    return base64.b64encode(img.tobytes()).decode("ascii")


def main():
    images = []
    cases = []
    for name, img in IMAGES:
        w, h = img.size
        center = (2, h - 2)
        images.append({"name": name, "width": w, "height": h, "channels": len(img.getbands()),
                       "fill": list(fill_for(img)) if img.mode == "RGB" else [L_FILL], "pixels": b64(img),
                       "center": list(center)})
        for op, (signed, by_magnitude, parameter, fn) in OPS.items():
            for m in (MAGNITUDES if by_magnitude else [0]):
                for sign in ([1, -1] if signed else [1]):
                    p = parameter(m) * sign if signed else parameter(m)
                    out = fn(img, p, center)
                    assert out.mode == img.mode and out.size == img.size
                    cases.append({"image": name, "op": op, "magnitude": m, "sign": sign, "output": b64(out)})
        for op, p in (PARAMETER_CASES if name in PARAMETER_IMAGES else []):
            out = OPS[op][3](img, p, center)
            cases.append({"image": name, "op": op, "parameter": p, "output": b64(out)})
    json.dump({"pillow": PIL.__version__, "images": images, "cases": cases}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
