"""pba's Wide-ResNet in PyTorch, both forms, as Sources/Engine/Model/WideResNet.swift builds it:
pre-activation blocks, BN eps 1e-3 and momentum 0.1, bias-free convolutions initialised
N(0, sqrt(2/fan_out)) (fan_out = k*k*out), classifier weights U(-1/sqrt(in), 1/sqrt(in)) with
zero bias, BN weight 1 and bias 0. (The draws come from torch's generator seeded with the
weight seed, not pba's xoshiro stream: same distribution, other numbers.)"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


def _bn(c, momentum, eps):
    return nn.BatchNorm2d(c, eps=eps, momentum=momentum)


class PoolPad(nn.Module):
    """Average pooling by the stride (ceil mode, in-image pixels only) and zero channels
    padded equally on both sides: PBA's parameter-free shortcut."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        assert cout >= cin and (cout - cin) % 2 == 0
        self.pad, self.stride = (cout - cin) // 2, stride

    def forward(self, x):
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride, self.stride, ceil_mode=True, count_include_pad=False)
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad, self.pad))
        return x


class Block(nn.Module):
    def __init__(self, cin, cout, stride, activate_before_residual, form, momentum, eps):
        super().__init__()
        self.abr = activate_before_residual
        self.bn1 = _bn(cin, momentum, eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = _bn(cout, momentum, eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        if cin == cout and stride == 1:
            self.shortcut = None
        elif form == "pba":
            self.shortcut = PoolPad(cin, cout, stride)
        else:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        s = a if self.abr else x
        h = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return h + (s if self.shortcut is None else self.shortcut(s))


class WideResNet(nn.Module):
    def __init__(self, depth, widen, form="pba", channels=3, classes=10, bn_momentum=0.1, bn_eps=1e-3):
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WRN depth {depth} is invalid: depth must be 6n+4")
        if form not in ("pba", "zagoruyko"):
            raise ValueError(f"form must be pba or zagoruyko, got {form!r}")
        self.form = form
        n = (depth - 4) // 6
        stem = min(16 * widen, 16) if form == "pba" else 16
        widths = [16 * widen, 32 * widen, 64 * widen]
        self.stem = nn.Conv2d(channels, stem, 3, 1, 1, bias=False)
        groups, shortcuts, cin = [], [], stem
        for g, w in enumerate(widths):
            stride = 1 if g == 0 else 2
            blocks = []
            for b in range(n):
                c = cin if b == 0 else w
                abr = (g == 0 and b == 0) if form == "pba" else (c != w)
                blocks.append(Block(c, w, stride if b == 0 else 1, abr, form, bn_momentum, bn_eps))
            groups.append(nn.Sequential(*blocks))
            shortcuts.append(PoolPad(cin, w, stride) if form == "pba" else nn.Identity())
            cin = w
        self.groups = nn.ModuleList(groups)
        self.group_shortcuts = nn.ModuleList(shortcuts)
        self.stem_shortcut = PoolPad(stem, cin, 4) if form == "pba" else None
        self.final_bn = _bn(cin, bn_momentum, bn_eps)
        self.fc = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight); nn.init.zeros_(m.bias)
        bound = 1 / math.sqrt(cin)
        nn.init.uniform_(self.fc.weight, -bound, bound)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        h = self.stem(x)
        stem_out = h
        for group, shortcut in zip(self.groups, self.group_shortcuts):
            g_in = h
            h = group(h)
            if self.form == "pba":
                h = h + shortcut(g_in)
        if self.stem_shortcut is not None:
            h = h + self.stem_shortcut(stem_out)
        h = F.relu(self.final_bn(h))
        return self.fc(h.mean(dim=(2, 3)))
