"""Vectorised drawing for the generated stand-ins: soft-edged shapes on a pixel grid, smooth noise, random warps.

Every function works on a whole batch at once: per-image parameters are (N, 1, 1) tensors that broadcast
against the (1, H, W) coordinate grids, so no Python loop ever runs per image or per pixel. Coordinates
run from -1 to 1 across the image, x to the right and y downwards.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

DEGREE = math.pi / 180.0  # radians per degree
CLASSES = 10  # every stand-in has ten balanced classes
CHUNK = 1000  # images drawn at a time: small temporaries that stay in cache make it about 2× faster than all at once


def in_chunks(draw: Callable[[torch.Tensor], torch.Tensor], items: torch.Tensor) -> torch.Tensor:
    """`draw` applied to consecutive slices of `items` of CHUNK rows, concatenated (draws random numbers in order)."""
    return torch.cat([draw(items[start : start + CHUNK]) for start in range(0, len(items), CHUNK)])


class Canvas:
    """Pixel-centre coordinates of a `side`×`side` image, as (1, side, side) tensors, and one pixel's width."""

    def __init__(self, side: int) -> None:
        centres = (torch.arange(side, dtype=torch.float32) + 0.5) / side * 2.0 - 1.0
        self.side = side
        self.y, self.x = (axis.unsqueeze(0) for axis in torch.meshgrid(centres, centres, indexing="ij"))
        self.pixel = 2.0 / side  # coordinate units per pixel


def uniform(generator: torch.Generator, count: int, low: float, high: float) -> torch.Tensor:
    """One value per image, uniform in [low, high), shaped (N, 1, 1) to broadcast against a Canvas."""
    return low + (high - low) * torch.rand((count, 1, 1), generator=generator)


def chance(generator: torch.Generator, count: int, probability: float) -> torch.Tensor:
    """One 0/1 float per image, 1 with `probability`, shaped (N, 1, 1)."""
    return (torch.rand((count, 1, 1), generator=generator) < probability).float()


def soft(distance: torch.Tensor, canvas: Canvas) -> torch.Tensor:
    """Coverage in [0, 1] from a signed distance (positive inside), ramped over one pixel: anti-aliased edges."""
    return (0.5 + distance / canvas.pixel).clamp(0.0, 1.0)


def box(canvas: Canvas, cx: torch.Tensor, cy: torch.Tensor, half_w: torch.Tensor, half_h: torch.Tensor) -> torch.Tensor:
    """An axis-aligned rectangle."""
    return soft(torch.minimum(half_w - (canvas.x - cx).abs(), half_h - (canvas.y - cy).abs()), canvas)


def spanning(
    canvas: Canvas, left: torch.Tensor, top: torch.Tensor, right: torch.Tensor, bottom: torch.Tensor
) -> torch.Tensor:
    """The axis-aligned rectangle between two x and two y coordinates."""
    return box(canvas, (left + right) / 2, (top + bottom) / 2, (right - left) / 2, (bottom - top) / 2)


def rotated_box(
    canvas: Canvas,
    cx: torch.Tensor,
    cy: torch.Tensor,
    half_w: torch.Tensor,
    half_h: torch.Tensor,
    angle: torch.Tensor,
) -> torch.Tensor:
    """A rectangle turned by `angle` radians (clockwise on screen, as y points down)."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    dx, dy = canvas.x - cx, canvas.y - cy
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos
    return soft(torch.minimum(half_w - along.abs(), half_h - across.abs()), canvas)


def trapezoid(
    canvas: Canvas,
    cx: torch.Tensor,
    top: torch.Tensor,
    bottom: torch.Tensor,
    half_top: torch.Tensor,
    half_bottom: torch.Tensor,
) -> torch.Tensor:
    """A vertical trapezoid: half-width `half_top` at y = `top`, widening linearly to `half_bottom` at y = `bottom`."""
    fraction = ((canvas.y - top) / (bottom - top)).clamp(0.0, 1.0)
    half = half_top + (half_bottom - half_top) * fraction
    return soft(torch.minimum(half - (canvas.x - cx).abs(), torch.minimum(canvas.y - top, bottom - canvas.y)), canvas)


def ellipse(canvas: Canvas, cx: torch.Tensor, cy: torch.Tensor, rx: torch.Tensor, ry: torch.Tensor) -> torch.Tensor:
    """An axis-aligned ellipse (its signed distance approximated by the radial one, scaled by the smaller radius)."""
    radius = torch.sqrt(((canvas.x - cx) / rx) ** 2 + ((canvas.y - cy) / ry) ** 2)
    return soft((1.0 - radius) * torch.minimum(rx, ry), canvas)


def arch(
    canvas: Canvas, cx: torch.Tensor, base_y: torch.Tensor, rx: torch.Tensor, ry: torch.Tensor, thickness: torch.Tensor
) -> torch.Tensor:
    """The upper half of an elliptical ring standing on the line y = `base_y`: a handle or a strap."""
    ring = ellipse(canvas, cx, base_y, rx, ry) * (1.0 - ellipse(canvas, cx, base_y, rx - thickness, ry - thickness))
    return ring * (canvas.y < base_y).float()


def polar(canvas: Canvas, cx: torch.Tensor, cy: torch.Tensor, angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from (cx, cy) and the direction there, turned by `angle` radians: for shapes drawn in polar form."""
    dx, dy = canvas.x - cx, canvas.y - cy
    return torch.sqrt(dx * dx + dy * dy), torch.atan2(dy, dx) - angle


def smooth_noise(generator: torch.Generator, count: int, channels: int, side: int, cells: int) -> torch.Tensor:
    """Noise of about `cells` blobs across, in [-1, 1], shaped (N, channels, side, side).

    A (cells+1)² grid of uniform values, interpolated bilinearly as two small matrix products
    (`upsample · coarse · upsampleᵀ`): much faster than F.interpolate on many small images.
    """
    coarse = torch.rand((count, channels, cells + 1, cells + 1), generator=generator) * 2.0 - 1.0
    upsample = _upsampling_matrix(cells + 1, side)
    return upsample @ coarse @ upsample.T


@functools.lru_cache(maxsize=8)
def _upsampling_matrix(coarse: int, side: int) -> torch.Tensor:
    """(side, coarse): row i interpolates pixel i linearly between the coarse grid's points, corners aligned."""
    identity = torch.eye(coarse).unsqueeze(0)  # each coarse point alone, as a 1-D signal
    return F.interpolate(identity, size=side, mode="linear", align_corners=True)[0].T.contiguous()


def warp(
    images: torch.Tensor,
    generator: torch.Generator,
    rotation: float,
    scale: float,
    shift: float,
    elastic: float,
    elastic_cells: int = 3,
) -> torch.Tensor:
    """Each square image (N, C, S, S) under its own random affine map and elastic distortion.

    rotation: radians, at most ±; scale: relative, at most ±; shift: coordinate units (2 = the width), at most ±;
    elastic: coordinate units, the size of a smooth random displacement of about `elastic_cells` waves across.
    Uncovered pixels become 0 (the background of the grey stand-ins).
    """
    count, side = images.shape[0], images.shape[-1]  # square images
    angle = (torch.rand(count, generator=generator) * 2.0 - 1.0) * rotation
    zoom = 1.0 + (torch.rand(count, generator=generator) * 2.0 - 1.0) * scale
    offset = (torch.rand((count, 1, 1, 2), generator=generator) * 2.0 - 1.0) * shift
    cos, sin = (torch.cos(angle) / zoom).view(-1, 1, 1), (torch.sin(angle) / zoom).view(-1, 1, 1)
    canvas = Canvas(side)  # where each output pixel samples the input, in grid_sample's coordinates
    source = torch.stack([cos * canvas.x - sin * canvas.y, sin * canvas.x + cos * canvas.y], dim=-1) + offset
    displacement = smooth_noise(generator, count, 2, side, elastic_cells) * elastic
    grid = source + displacement.permute(0, 2, 3, 1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def balanced_labels(count: int) -> torch.Tensor:
    """`count` labels, count/10 of each class in class order (count must be a multiple of ten)."""
    if count % CLASSES:
        raise ValueError(f"a stand-in's split size must be a multiple of {CLASSES}; got {count}")
    return torch.arange(CLASSES).repeat_interleave(count // CLASSES)

