"""The building blocks of CE-Net (Gu et al., IEEE TMI 38:2281, 2019), as small 2-D modules.

Each block says what it computes and at which resolution; :mod:`.cenet`
assembles them into the context encoder network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.nets.resnet import ResNetBlock
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 1) -> nn.Sequential:
    """``kernel_size`` convolution (same padding) → batch norm → ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def resnet_stage(in_channels: int, out_channels: int, n_blocks: int, stride: int) -> nn.Sequential:
    """One ResNet stage of ``n_blocks`` basic blocks (MONAI's ``ResNetBlock``, 2-D).

    The first block changes width and/or resolution (stride) through a 1×1 projection shortcut.
    """
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    blocks = [ResNetBlock(in_channels, out_channels, spatial_dims=2, stride=stride,
                          downsample=downsample)]
    blocks += [ResNetBlock(out_channels, out_channels, spatial_dims=2) for _ in range(n_blocks - 1)]
    return nn.Sequential(*blocks)


class DenseAtrousBlock(nn.Module):
    """Dense Atrous Convolution (DAC) block, paper Fig. 3: four cascade branches, one output.

    With ``a``, ``b``, ``c`` the 3×3 convolutions of dilation 1, 3 and 5 and ``p`` a 1×1
    convolution, the branches are ``a(x)``, ``p(b(x))``, ``p(b(a(x)))`` and ``p(c(b(a(x))))``
    (each through a ReLU), and the block returns ``x`` plus their sum: receptive fields 3, 7, 9
    and 19 pixels at the block's scale. The shared intermediate results ``a(x)`` and ``b(a(x))``
    are computed once (the reference implementation recomputes them).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.dilate1 = nn.Conv2d(channels, channels, 3, dilation=1, padding=1)
        self.dilate3 = nn.Conv2d(channels, channels, 3, dilation=3, padding=3)
        self.dilate5 = nn.Conv2d(channels, channels, 3, dilation=5, padding=5)
        self.project = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.dilate1(x)
        ba = self.dilate3(a)
        branches = (
            a,
            self.project(self.dilate3(x)),
            self.project(ba),
            self.project(self.dilate5(ba)),
        )
        out = x
        for branch in branches:
            out = out + F.relu(branch)
        return out


class ResidualMultiKernelPool(nn.Module):
    """Residual Multi-kernel Pooling (RMP) block, paper Fig. 4.

    Max-pools the input with kernels (and strides) of 2, 3, 5 and 6 pixels, reduces each pooled
    map to one channel with its own 1×1 convolution, upsamples it bilinearly back to the input
    size and concatenates the four maps with the input: ``channels + 4`` channels out.
    """

    kernels = (2, 3, 5, 6)

    def __init__(self, channels: int):
        super().__init__()
        self.reduce = nn.ModuleList(nn.Conv2d(channels, 1, 1) for _ in self.kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        maps = [x]
        for kernel, reduce in zip(self.kernels, self.reduce, strict=True):
            # ceil_mode keeps small feature maps (< kernel) from pooling to nothing
            pooled = F.max_pool2d(x, kernel, stride=kernel, ceil_mode=True)
            maps.append(F.interpolate(reduce(pooled), size=size, mode="bilinear",
                                      align_corners=False))
        return torch.cat(maps, dim=1)


class DecoderBlock(nn.Module):
    """CE-Net decoder block: 1×1 conv (C → C/4) → 3×3 transposed conv, stride 2 → 1×1 conv.

    Doubles the resolution; each convolution is followed by batch norm and ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        mid = in_channels // 4
        self.reduce = conv_bn_relu(in_channels, mid)
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
        )
        self.expand = conv_bn_relu(mid, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.upsample(self.reduce(x)))


class LogitHead(nn.Module):
    """4×4 transposed conv (stride 2) → ReLU → 3×3 conv → ReLU → 3×3 conv to one logit channel."""

    def __init__(self, in_channels: int, mid_channels: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.ConvTranspose2d(in_channels, mid_channels, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, mid_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class SegmentHead(nn.Module):
    """Coronary-segment logits on a 1/4-resolution grid, from that grid's features and a coarse
    grid's (1/16: a wide view of the tree, which names a branch by where it runs): the coarse
    features are reduced (1×1 conv → BN → ReLU) and upsampled bilinearly onto the fine grid,
    concatenated with it, then fused (1×1), 3×3 conv → BN → ReLU → 1×1 conv to ``classes``
    channels. About 5 % of cenet-light's arithmetic."""

    def __init__(self, fine_channels: int, coarse_channels: int, classes: int,
                 context_channels: int = 64, mid_channels: int = 32):
        super().__init__()
        self.context = conv_bn_relu(coarse_channels, context_channels)
        self.layers = nn.Sequential(
            conv_bn_relu(fine_channels + context_channels, mid_channels),
            nn.Conv2d(mid_channels, mid_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, classes, 1),
        )

    def forward(self, fine: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        context = F.interpolate(self.context(coarse), size=fine.shape[-2:], mode="bilinear",
                                align_corners=False)
        return self.layers(torch.cat([fine, context], dim=1))
