#!/usr/bin/env python3
"""Lean Pillow peer for `pba bench augment`: per-core images/s of the same recipes as
`AugmentBenchmark.standardCases()` on uint8 32×32×3 PIL images.

- pba: PBA's policy application (count 0/1/2 with p 0.2/0.3/0.5, the 30 tuples in random order,
  each applied with its probability until count) with every probability 1.0 and magnitude 5,
  PBA's operation semantics (PARAMETER_MAX 10) directly on RGB images (no RGBA round trip, no
  numpy conversion), then pad 4 + random crop, random flip, Cutout 16.
- trivialaugment / randaugment(2,9): torchvision's TrivialAugmentWide / RandAugment on PIL
  images plus the same crop/flip/cutout, when torchvision is installed.

Prints one JSON object: {"pillow": version, "pba": img/s, "trivialaugment": img/s or null, ...}.
Usage: python3 bench/augment_pillow.py [--seconds S]
"""
import json
import random
import sys
import time

import PIL
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

PARAMETER_MAX = 10
FILL = (125, 123, 114)


def int_parameter(level, maxval):
    return int(level * maxval / PARAMETER_MAX)


def float_parameter(level, maxval):
    return float(level) * maxval / PARAMETER_MAX


def signed(v):
    return -v if random.random() > 0.5 else v


def affine(img, data):
    return img.transform(img.size, Image.Transform.AFFINE, data, Image.Resampling.NEAREST, fillcolor=FILL)


def cutout(img, size):
    if size <= 0:
        return img
    w, h = img.size
    cx, cy = random.randrange(w), random.randrange(h)
    img = img.copy()
    ImageDraw.Draw(img).rectangle([max(0, cx - size // 2), max(0, cy - size // 2),
                                   min(w, cx + size // 2) - 1, min(h, cy + size // 2) - 1], fill=FILL)
    return img


def enhance(cls):
    return lambda img, m: cls(img).enhance(float_parameter(m, 1.8) + .1)


OPS = [
    ("Rotate", lambda img, m: img.rotate(signed(int_parameter(m, 30)), fillcolor=FILL)),
    ("TranslateX", lambda img, m: affine(img, (1, 0, signed(int_parameter(m, 10)), 0, 1, 0))),
    ("TranslateY", lambda img, m: affine(img, (1, 0, 0, 0, 1, signed(int_parameter(m, 10))))),
    ("Brightness", enhance(ImageEnhance.Brightness)),
    ("Color", enhance(ImageEnhance.Color)),
    ("Invert", lambda img, m: ImageOps.invert(img)),
    ("Sharpness", enhance(ImageEnhance.Sharpness)),
    ("Posterize", lambda img, m: ImageOps.posterize(img, 4 - int_parameter(m, 4))),
    ("ShearX", lambda img, m: affine(img, (1, signed(float_parameter(m, 0.3)), 0, 0, 1, 0))),
    ("Solarize", lambda img, m: ImageOps.solarize(img, 256 - int_parameter(m, 256))),
    ("ShearY", lambda img, m: affine(img, (1, 0, 0, signed(float_parameter(m, 0.3)), 1, 0))),
    ("Equalize", lambda img, m: ImageOps.equalize(img)),
    ("AutoContrast", lambda img, m: ImageOps.autocontrast(img)),
    ("Cutout", lambda img, m: cutout(img, int_parameter(m, 20))),
    ("Contrast", enhance(ImageEnhance.Contrast)),
]
POLICY = [(fn, 1.0, 5) for _, fn in OPS] * 2   # 30 tuples, every probability 1.0, magnitude 5


def apply_policy(img):
    count = random.choices([0, 1, 2], weights=[0.2, 0.3, 0.5])[0]
    if count:
        tuples = POLICY[:]
        random.shuffle(tuples)
        for fn, p, m in tuples:
            if random.random() < p:
                img = fn(img, m)
                count -= 1
                if count == 0:
                    break
    return img


def base(img):
    padded = ImageOps.expand(img, border=4, fill=FILL)
    x, y = random.randint(0, 8), random.randint(0, 8)
    img = padded.crop((x, y, x + 32, y + 32))
    if random.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return cutout(img, 16)


def measure(fn, images, seconds):
    n = 0
    start = time.perf_counter()
    while True:
        for img in images:
            fn(img)
        n += len(images)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def main():
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 2.0
    random.seed(1)
    images = [Image.frombytes("RGB", (32, 32), bytes(random.randrange(256) for _ in range(3072))) for _ in range(64)]
    result = {"pillow": PIL.__version__, "pba": measure(lambda im: base(apply_policy(im)), images, seconds),
              "trivialaugment": None, "randaugment": None}
    try:
        from torchvision.transforms import RandAugment, TrivialAugmentWide
        ta, ra = TrivialAugmentWide(fill=list(FILL)), RandAugment(2, 9, fill=list(FILL))
        result["trivialaugment"] = measure(lambda im: base(ta(im)), images, seconds)
        result["randaugment"] = measure(lambda im: base(ra(im)), images, seconds)
    except ImportError:
        pass
    print(json.dumps(result))


if __name__ == "__main__":
    main()
