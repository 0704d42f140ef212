"""RetinaFace with a MobileNet-0.25 backbone (Deng et al. 2020), the face detector of GFPGAN/CodeFormer.

A self-contained definition whose state-dict layout is that of facexlib's
``detection_mobilenet0.25_Final.pth``, so the same verified weights load with
``strict=True``. Why not import facexlib's: its module imports torchvision,
which imports ``torch._dynamo`` (about as long again as ``import torch``) and
whose PyPI wheel does not even load beside CPU torch. Keeping the ~100 lines
here halves ``faceblur deblur``'s start-up and drops two heavy dependencies;
``tests/test_faces.py`` checks the detections equal facexlib's.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

#: Anchor sizes per pyramid level and the level strides (the mobilenet0.25 config).
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
STEPS = (8, 16, 32)
VARIANCE = (0.1, 0.2)
#: BGR mean subtracted from the input, as in training.
MEAN_BGR = (104.0, 117.0, 123.0)


def _conv_bn(cin: int, cout: int, stride: int = 1, leaky: float | None = 0.0, k: int = 3, groups: int = 1):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if leaky is not None:
        layers.append(nn.LeakyReLU(leaky, inplace=True))
    return nn.Sequential(*layers)


def _conv_dw(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 + pointwise 1x1, each with BN and LeakyReLU(0.1) (MobileNet v1)."""
    return nn.Sequential(*_conv_bn(cin, cin, stride, 0.1, groups=cin), *_conv_bn(cin, cout, 1, 0.1, k=1))


def fuse_batchnorm(net: nn.Module) -> nn.Module:
    """Fold every Conv2d -> BatchNorm2d pair of a model in eval mode into the convolution (the BN
    becomes Identity): the same function, one pass over the activations fewer (~6 % of detection)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in net.modules():
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                conv, bn = module[i], module[i + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    module[i], module[i + 1] = fuse_conv_bn_eval(conv, bn), nn.Identity()
    return net


class SSH(nn.Module):
    """Single-stage headless context module: 3x3, 5x5 (two 3x3) and 7x7 (three 3x3) branches."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        leaky = 0.1 if cout <= 64 else 0.0
        self.conv3X3 = _conv_bn(cin, cout // 2, leaky=None)
        self.conv5X5_1 = _conv_bn(cin, cout // 4, leaky=leaky)
        self.conv5X5_2 = _conv_bn(cout // 4, cout // 4, leaky=None)
        self.conv7X7_2 = _conv_bn(cout // 4, cout // 4, leaky=leaky)
        self.conv7x7_3 = _conv_bn(cout // 4, cout // 4, leaky=None)

    def forward(self, x):
        c5 = self.conv5X5_1(x)
        c7 = self.conv7X7_2(c5)
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(c5), self.conv7x7_3(c7)], 1))


class FPN(nn.Module):
    def __init__(self, cins: tuple[int, int, int], cout: int):
        super().__init__()
        leaky = 0.1 if cout <= 64 else 0.0
        self.output1, self.output2, self.output3 = (_conv_bn(c, cout, leaky=leaky, k=1) for c in cins)
        self.merge1 = _conv_bn(cout, cout, leaky=leaky)
        self.merge2 = _conv_bn(cout, cout, leaky=leaky)

    def forward(self, feats):
        o1, o2, o3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[2:], mode="nearest"))
        o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[2:], mode="nearest"))
        return [o1, o2, o3]


class _Head(nn.Module):
    def __init__(self, cin: int, anchors: int, values: int):
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(cin, anchors * values, 1)

    def forward(self, x):
        return self.conv1x1(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.values)


class RetinaFaceMobile(nn.Module):
    """Returns (box offsets N x P x 4, face probability N x P, landmark offsets N x P x 10) per prior."""

    def __init__(self):
        super().__init__()
        stage1 = [_conv_bn(3, 8, 2, 0.1), _conv_dw(8, 16, 1), _conv_dw(16, 32, 2), _conv_dw(32, 32, 1)]
        stage1 += [_conv_dw(32, 64, 2), _conv_dw(64, 64, 1)]
        stage2 = [_conv_dw(64, 128, 2)] + [_conv_dw(128, 128, 1) for _ in range(5)]
        stage3 = [_conv_dw(128, 256, 2), _conv_dw(256, 256, 1)]
        self.body = nn.ModuleDict(
            {"stage1": nn.Sequential(*stage1), "stage2": nn.Sequential(*stage2), "stage3": nn.Sequential(*stage3)}
        )
        self.fpn = FPN((64, 128, 256), 64)
        self.ssh1, self.ssh2, self.ssh3 = SSH(64, 64), SSH(64, 64), SSH(64, 64)
        self.ClassHead = nn.ModuleList(_Head(64, 2, 2) for _ in range(3))
        self.BboxHead = nn.ModuleList(_Head(64, 2, 4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(_Head(64, 2, 10) for _ in range(3))

    def forward(self, x):
        feats = []
        for stage in self.body.values():
            x = stage(x)
            feats.append(x)
        feats = [ssh(f) for ssh, f in zip((self.ssh1, self.ssh2, self.ssh3), self.fpn(feats))]
        boxes = torch.cat([h(f) for h, f in zip(self.BboxHead, feats)], 1)
        scores = torch.cat([h(f) for h, f in zip(self.ClassHead, feats)], 1).softmax(-1)[..., 1]
        landmarks = torch.cat([h(f) for h, f in zip(self.LandmarkHead, feats)], 1)
        return boxes, scores, landmarks


def priors(height: int, width: int) -> torch.Tensor:
    """Anchor boxes (cx, cy, w, h), normalised to the image, in the order of the heads' outputs."""
    out = []
    for sizes, step in zip(MIN_SIZES, STEPS):
        fh, fw = -(-height // step), -(-width // step)
        cy, cx = torch.meshgrid(
            (torch.arange(fh) + 0.5) * step / height, (torch.arange(fw) + 0.5) * step / width, indexing="ij"
        )
        for_size = [
            torch.stack([cx, cy, torch.full_like(cx, s / width), torch.full_like(cy, s / height)], -1) for s in sizes
        ]
        out.append(torch.stack(for_size, 2).reshape(-1, 4))  # per cell: one anchor per size
    return torch.cat(out)


def decode(boxes: torch.Tensor, landmarks: torch.Tensor, anchors: torch.Tensor):
    """Offsets -> corner boxes (x1, y1, x2, y2) and 5 landmark points, normalised to the image."""
    centre = anchors[:, :2] + boxes[:, :2] * VARIANCE[0] * anchors[:, 2:]
    size = anchors[:, 2:] * torch.exp(boxes[:, 2:] * VARIANCE[1])
    corners = torch.cat([centre - size / 2, centre + size / 2], 1)
    points = anchors[:, None, :2] + landmarks.reshape(-1, 5, 2) * VARIANCE[0] * anchors[:, None, 2:]
    return corners, points
