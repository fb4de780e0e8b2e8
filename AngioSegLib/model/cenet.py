"""CE-Net, the context encoder network for 2-D medical image segmentation (Gu et al. 2019).

A ResNet encoder (stem, then four stages down to 1/32 of the input), a context extractor (the
Dense Atrous Convolution block then Residual Multi-kernel Pooling), and a decoder of four
upsampling blocks with the encoder's features added as skips, finished by a deconvolution head
that gives one vessel logit per input pixel. :func:`build_network` makes a registered variant by
name. The input's height and width must be multiples of ``SIZE_MULTIPLE`` (32 px, the encoder's
total down-sampling); the network does not pad: frames are padded once, by the Segmenter
(:meth:`AngioSegLib.segment.segmenter.Segmenter.prepare`), and training crops are multiples of
32 already.

With ``segment_classes`` S > 0 a second, cheap head names the vessel
(:class:`~.blocks.SegmentHead`): from the decoder's 1/4-resolution features and
its 1/16-resolution ones (a wide view of the tree) it gives S coronary-segment logits (see
:mod:`AngioSegLib.anatomy.segments`). They stay at
1/4 resolution — segment names change over centimetres, not pixels, and upsampling 26 channels
to the frame would cost more than the head — so such a network returns a pair: vessel logits
(B, 1, H, W) and segment logits (B, S, H/4, W/4). :func:`vessel_logits` takes the first of
either kind of output.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from AngioSegLib.choices import closest_choice
from AngioSegLib.errors import ModelError
from AngioSegLib.model.blocks import (
    DecoderBlock,
    DenseAtrousBlock,
    LogitHead,
    ResidualMultiKernelPool,
    SegmentHead,
    resnet_stage,
)

SIZE_MULTIPLE = 32  # total down-sampling of the encoder


@dataclass(frozen=True)
class CENetConfig:
    """Widths (stem then the four stages) and ResNet blocks per stage of one CE-Net variant."""

    widths: tuple[int, int, int, int]
    blocks: tuple[int, int, int, int]
    head_channels: int = 32


CONFIGS: dict[str, CENetConfig] = {
    # the paper's network: ResNet-34 stages, 64/128/256/512 channels (≈ 29 M parameters)
    "cenet-r34": CENetConfig(widths=(64, 128, 256, 512), blocks=(3, 4, 6, 3)),
    # for CPUs: ResNet-18 depth at half width (≈ 3.7 M parameters, ~1/8 of the arithmetic)
    "cenet-light": CENetConfig(widths=(32, 64, 128, 256), blocks=(2, 2, 2, 2), head_channels=16),
}


class CENet(nn.Module):
    """CE-Net: (B, 1, H, W) normalised image, H and W multiples of ``SIZE_MULTIPLE``, → (B, 1, H,
    W) vessel logits; with ``segment_classes`` S > 0 the pair (vessel logits, (B, S, H/4, W/4)
    segment logits)."""

    def __init__(self, config: CENetConfig, in_channels: int = 1, segment_classes: int = 0):
        super().__init__()
        self.segment_classes = int(segment_classes)
        w = config.widths
        self.stem = nn.Sequential(  # 7×7 stride-2 conv and 3×3 stride-2 max pool: 1/4 resolution
            nn.Conv2d(in_channels, w[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(w[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        self.encoder = nn.ModuleList(
            resnet_stage(w[max(i - 1, 0)], w[i], config.blocks[i], stride=1 if i == 0 else 2)
            for i in range(4)
        )
        self.dac = DenseAtrousBlock(w[3])
        self.rmp = ResidualMultiKernelPool(w[3])
        self.decoder = nn.ModuleList([
            DecoderBlock(w[3] + len(ResidualMultiKernelPool.kernels), w[2]),
            DecoderBlock(w[2], w[1]),
            DecoderBlock(w[1], w[0]),
            DecoderBlock(w[0], w[0]),
        ])
        self.head = LogitHead(w[0], config.head_channels)
        self.segment_head = (SegmentHead(w[0], w[2], self.segment_classes)
                             if self.segment_classes else None)

    def forward(self, image: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if not torch.jit.is_tracing():  # the ONNX graph's input contract says so instead
            check_input_size(tuple(image.shape[-2:]))
        skips = []
        x = self.stem(image)
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = self.rmp(self.dac(x))
        grids = []
        for i, block in enumerate(self.decoder):
            x = block(x)
            if i < 3:
                x = x + skips[2 - i]
                grids.append(x)  # 1/16, 1/8, 1/4 resolution
        vessel = self.head(x)
        if self.segment_head is None:
            return vessel
        return vessel, self.segment_head(grids[2], grids[0])


def check_input_size(size: tuple[int, int]) -> None:
    """ModelError unless (H, W) ``size`` (px) are multiples of ``SIZE_MULTIPLE``."""
    height, width = (int(n) for n in size)
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise ModelError(
            f"CE-Net input is {height}×{width} px (H×W); height and width must be multiples of "
            f"{SIZE_MULTIPLE}: run frames through AngioSegLib.segment.segmenter.Segmenter, which "
            f"pads them, or pad the input yourself"
        )


def vessel_logits(output):
    """The vessel logits (B, 1, H, W) of a network's output (a tensor or a pair)."""
    return output[0] if isinstance(output, tuple) else output


def build_network(name: str, segment_classes: int = 0) -> CENet:
    """A freshly initialised network of the registered variant ``name`` (see ``MODEL_NAMES``),
    with a coronary-segment head of ``segment_classes`` classes when that is > 0."""
    config = CONFIGS.get(name) if isinstance(name, str) else None
    if config is None:
        close = closest_choice(name, CONFIGS)
        hint = f" (did you mean {close!r}?)" if close else ""
        raise ModelError(f"unknown network {name!r}{hint}; the registered networks are "
                         f"{', '.join(map(repr, CONFIGS))}")
    if not isinstance(segment_classes, int) or segment_classes < 0:
        raise ModelError(f"segment_classes must be a whole number ≥ 0, found {segment_classes!r}")
    return CENet(config, segment_classes=segment_classes)
