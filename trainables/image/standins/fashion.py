"""The Fashion-MNIST stand-in: Fashion-MNIST's ten classes as drawn 28×28 silhouettes, generated with fixed seeds.

Each class is a parametric drawing — tops (T-shirt/top, pullover, coat, shirt, dress) from one builder,
footwear (sandal, sneaker, ankle boot) from another, trousers and bags — whose proportions, sleeves,
collars, openings, brightness, folds and fabric patterns are drawn at random per image, then warped a
little. The tops' ranges overlap the way Fashion-MNIST's look-alike classes do, so shirt, T-shirt,
pullover and coat are confused more than trousers and bags are.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from trainables.image.standins.draw import (
    DEGREE,
    Canvas,
    arch,
    balanced_labels,
    box,
    chance,
    ellipse,
    in_chunks,
    rotated_box,
    smooth_noise,
    spanning,
    trapezoid,
    uniform,
    warp,
)

SIDE = 28  # pixels, as Fashion-MNIST
TRAIN_SIZE = 10_000  # images, 1,000 of each class
TEST_SIZE = 2_000  # images, 200 of each class
TRAIN_SEED = 60_000  # fixes every training drawing and its order
TEST_SEED = 10_000  # fixes every test drawing (a different stream: no test image repeats a training one)
ROTATION = 3 * DEGREE  # at most ±, after drawing
SCALE = 0.06  # at most ±6 %
SHIFT = 1 * 2.0 / SIDE  # at most ±1 pixel, in coordinate units
ELASTIC = 0.6 * 2.0 / SIDE  # about 0.6 pixels of smooth displacement

Range = tuple[float, float]


@dataclass(frozen=True)
class _Top:
    """A garment for the upper body: a body (shoulders → waist → hem) with sleeves, collar and front details."""

    shoulder: Range  # half-width at the shoulders, coordinate units
    waist: Range  # half-width at the waist ÷ at the shoulders
    hem: Range  # half-width at the hem ÷ at the shoulders
    length: Range  # y of the hem (the shoulders are near the top, y ≈ -0.8)
    sleeve: Range  # sleeve length, coordinate units; short sleeves stick out, long ones hang down
    sleeveless: float  # probability of no sleeves at all
    collar: float  # probability of a collar
    opening: float  # probability of an opening down the whole front (a zip or buttoned coat)
    buttons: float  # probability of a button placket down the upper front
    pattern: float  # probability of stripes or checks (else plain fabric with folds)


# The tops' ranges overlap on purpose: a long-sleeved shirt without its collar is a pullover.
T_SHIRT = _Top((0.30, 0.45), (0.90, 1.00), (0.90, 1.05), (0.65, 0.92), (0.20, 0.50), 0.15, 0.05, 0.0, 0.05, 0.35)
PULLOVER = _Top((0.32, 0.46), (0.88, 1.00), (0.85, 1.00), (0.65, 0.90), (0.90, 1.35), 0.0, 0.15, 0.0, 0.0, 0.25)
COAT = _Top((0.34, 0.48), (0.95, 1.05), (1.00, 1.20), (0.82, 0.98), (1.00, 1.40), 0.0, 0.60, 0.80, 0.30, 0.10)
SHIRT = _Top((0.30, 0.45), (0.90, 1.00), (0.90, 1.05), (0.70, 0.95), (0.30, 1.35), 0.05, 0.75, 0.10, 0.70, 0.55)
DRESS = _Top((0.17, 0.30), (0.70, 0.95), (1.50, 2.60), (0.85, 0.98), (0.20, 0.50), 0.50, 0.05, 0.0, 0.05, 0.30)


@dataclass(frozen=True)
class _Footwear:
    """A shoe seen from the side, toe to the left: sole, upper, and optionally a shaft or straps instead of an upper."""

    upper: Range  # height of the upper above the sole, coordinate units
    shaft: float  # probability of a shaft up the ankle (boots)
    heel: Range  # height of the heel block under the back of the sole
    straps: bool  # straps with gaps between them instead of a closed upper (sandals)
    ground: Range  # y of the sole's underside


SANDAL = _Footwear((0.35, 0.65), 0.0, (0.00, 0.20), True, (0.40, 0.75))
SNEAKER = _Footwear((0.45, 0.70), 0.0, (0.00, 0.04), False, (0.40, 0.75))
ANKLE_BOOT = _Footwear((0.40, 0.60), 1.0, (0.05, 0.20), False, (0.70, 0.92))


@functools.lru_cache(maxsize=1)  # per process: every trial in a worker reuses it
def garments() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y): float32 (N, 1, 28, 28) in [0, 1] and int64 labels, ten balanced classes."""
    return (*_drawn(TRAIN_SIZE, TRAIN_SEED), *_drawn(TEST_SIZE, TEST_SEED))


def _drawn(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` drawings, count/10 of each class, warped a little, in one fixed random order."""
    generator = torch.Generator().manual_seed(seed)
    canvas = Canvas(SIDE)
    labels = balanced_labels(count)
    per_class = [
        # mypy infers no type for a lambda with default arguments (here: this class's drawing)
        in_chunks(lambda batch, draw=draw: draw(canvas, generator, len(batch)), labels[labels == label])  # type: ignore[misc]
        for label, draw in enumerate(_CLASSES)
    ]
    images = torch.cat(per_class).unsqueeze(1)
    images = in_chunks(lambda batch: warp(batch, generator, ROTATION, SCALE, SHIFT, ELASTIC), images).clamp(0.0, 1.0)
    order = torch.randperm(count, generator=generator)
    return images[order].contiguous(), labels[order].contiguous()


# --- drawing ------------------------------------------------------------------------------------------------


def _top(style: _Top) -> Callable[[Canvas, torch.Generator, int], torch.Tensor]:
    def draw(canvas: Canvas, g: torch.Generator, n: int) -> torch.Tensor:
        zero = torch.zeros((n, 1, 1))
        shoulder_y = uniform(g, n, -0.88, -0.72)
        waist_y = uniform(g, n, -0.10, 0.20)
        hem_y = uniform(g, n, *style.length)
        shoulder = uniform(g, n, *style.shoulder)
        waist = shoulder * uniform(g, n, *style.waist)
        hem = shoulder * uniform(g, n, *style.hem)
        body = torch.maximum(
            trapezoid(canvas, zero, shoulder_y, waist_y, shoulder, waist),
            trapezoid(canvas, zero, waist_y, hem_y, waist, hem),
        )
        sleeves = _sleeves(canvas, g, n, style, shoulder, shoulder_y)
        neck = ellipse(canvas, zero, shoulder_y - 0.02, uniform(g, n, 0.10, 0.20), uniform(g, n, 0.05, 0.18))
        coverage = torch.maximum(body, sleeves) * (1.0 - neck)
        shade = _fabric(canvas, g, n, style.pattern)
        image = coverage * shade
        collar = _collar(canvas, g, n, shoulder_y) * chance(g, n, style.collar)
        image = torch.maximum(image, collar * (shade * 1.25).clamp(max=1.0))  # a collar catches the light
        opening = spanning(canvas, zero - 0.035, shoulder_y, zero + 0.035, hem_y)
        image = image * (1.0 - 0.75 * opening * chance(g, n, style.opening))
        return image * (1.0 - 0.6 * _buttons(canvas, g, n, shoulder_y) * chance(g, n, style.buttons))

    return draw


def _sleeves(
    canvas: Canvas, g: torch.Generator, n: int, style: _Top, shoulder: torch.Tensor, shoulder_y: torch.Tensor
) -> torch.Tensor:
    """Both sleeves, mirrored: short ones stand out (≈ 65° from hanging), long ones hang close to the body (≈ 15°)."""
    length = uniform(g, n, *style.sleeve) * (1.0 - chance(g, n, style.sleeveless))
    half_width = uniform(g, n, 0.09, 0.15)
    longness = ((length - 0.2) / 1.1).clamp(0.0, 1.0)
    outward = (65.0 - 50.0 * longness + uniform(g, n, -8.0, 8.0)) * DEGREE  # from hanging straight down
    anchor_x, anchor_y = shoulder - half_width * 0.6, shoulder_y + half_width
    centre_y = anchor_y + length / 2 * torch.cos(outward)
    sleeves = [
        rotated_box(
            canvas,
            side * (anchor_x + length / 2 * torch.sin(outward)),
            centre_y,
            length / 2,
            half_width,
            torch.atan2(torch.cos(outward), side * torch.sin(outward)),
        )
        for side in (-1.0, 1.0)
    ]
    return torch.maximum(*sleeves) * (length > 0).float()


def _collar(canvas: Canvas, g: torch.Generator, n: int, shoulder_y: torch.Tensor) -> torch.Tensor:
    """Two flaps meeting in a V below the neck."""
    spread = uniform(g, n, 0.08, 0.14)
    size = uniform(g, n, 0.07, 0.11)
    tilt = uniform(g, n, 35.0, 60.0) * DEGREE
    return torch.maximum(
        *(
            rotated_box(canvas, side * spread, shoulder_y + 0.1, size, size * 0.55, side * tilt)
            for side in (-1.0, 1.0)
        )
    )


def _buttons(canvas: Canvas, g: torch.Generator, n: int, shoulder_y: torch.Tensor) -> torch.Tensor:
    """A placket line down the upper front with dark buttons on it."""
    top = shoulder_y + 0.15
    length = uniform(g, n, 0.6, 1.2)
    spacing = uniform(g, n, 0.22, 0.32)
    on_line = box(canvas, torch.zeros_like(top), top + length / 2, torch.full_like(top, 0.03), length / 2)
    dots = (torch.cos((canvas.y - top) / spacing * 2.0 * math.pi) > 0.3).float()
    return on_line * (0.4 + 0.6 * dots)


def _fabric(canvas: Canvas, g: torch.Generator, n: int, pattern: float) -> torch.Tensor:
    """Brightness per pixel: a base tone, soft folds, and sometimes stripes or checks."""
    tone = uniform(g, n, 0.30, 1.0)
    folds = 1.0 + 0.18 * smooth_noise(g, n, 1, canvas.side, 4)[:, 0]
    period = uniform(g, n, 0.18, 0.35)  # coordinate units: 2.5 to 5 pixels
    stripes = 0.5 + 0.5 * torch.cos(canvas.y / period * 2.0 * math.pi)
    across = 0.5 + 0.5 * torch.cos(canvas.x / period * 2.0 * math.pi)
    checks = chance(g, n, 0.5)
    motif = stripes * (1.0 - checks) + 0.5 * (stripes + across) * checks
    depth = uniform(g, n, 0.25, 0.55) * chance(g, n, pattern)
    return (tone * folds * (1.0 - depth * motif)).clamp(0.0, 1.0)


def _trouser(canvas: Canvas, g: torch.Generator, n: int) -> torch.Tensor:
    zero = torch.zeros((n, 1, 1))
    waist_y, hem_y = uniform(g, n, -0.96, -0.85), uniform(g, n, 0.85, 0.98)
    waist = uniform(g, n, 0.20, 0.32)
    outline = trapezoid(canvas, zero, waist_y, hem_y, waist, waist * uniform(g, n, 0.95, 1.45))
    crotch_y = uniform(g, n, -0.50, -0.15)
    gap = trapezoid(canvas, zero, crotch_y, hem_y + 0.1, torch.full_like(zero, 0.01), uniform(g, n, 0.03, 0.14))
    belt = box(canvas, zero, waist_y + 0.06, waist, torch.full_like(zero, 0.035)) * chance(g, n, 0.5)
    return outline * (1.0 - gap) * _fabric(canvas, g, n, 0.1) * (1.0 - 0.4 * belt)


def _bag(canvas: Canvas, g: torch.Generator, n: int) -> torch.Tensor:
    zero = torch.zeros((n, 1, 1))
    top, bottom = uniform(g, n, -0.35, 0.05), uniform(g, n, 0.72, 0.95)
    half_top = uniform(g, n, 0.45, 0.85)
    body = trapezoid(canvas, zero, top, bottom, half_top, half_top * uniform(g, n, 1.0, 1.2))
    reach_x, reach_y, thickness = uniform(g, n, 0.2, 0.5), uniform(g, n, 0.25, 0.6), uniform(g, n, 0.05, 0.1)
    handle = arch(canvas, zero, top, reach_x, reach_y, thickness) * chance(g, n, 0.75)
    flap = box(canvas, zero, top + uniform(g, n, 0.15, 0.4), half_top, torch.full_like(zero, 0.03)) * chance(g, n, 0.4)
    shade = _fabric(canvas, g, n, 0.3)
    return torch.maximum(body * shade * (1.0 - 0.5 * flap), handle * shade)


def _footwear(style: _Footwear) -> Callable[[Canvas, torch.Generator, int], torch.Tensor]:
    def draw(canvas: Canvas, g: torch.Generator, n: int) -> torch.Tensor:
        ground = uniform(g, n, *style.ground)
        toe, back = uniform(g, n, -0.97, -0.78), uniform(g, n, 0.78, 0.97)
        heel = uniform(g, n, *style.heel)
        sole_top = ground - heel - uniform(g, n, 0.06, 0.12)
        sole = spanning(canvas, toe, sole_top, back, ground - heel)
        heel_block = spanning(canvas, back - 0.29, ground - heel - 0.01, back - 0.01, ground + 0.01)
        height = uniform(g, n, *style.upper)
        if style.straps:
            upper = _straps(canvas, g, n, toe, back, sole_top, height)
        else:
            centre = back - uniform(g, n, 0.30, 0.50)
            vamp = ellipse(canvas, centre, sole_top, centre - toe, height) * (canvas.y < sole_top).float()
            counter = spanning(canvas, centre, sole_top - height * 0.9, back, sole_top)
            shaft_top = uniform(g, n, -0.88, -0.45)
            shaft = spanning(canvas, uniform(g, n, -0.05, 0.25), shaft_top, back, sole_top)
            dip = uniform(g, n, 0.12, 0.25)  # half-width of the opening for the foot
            collar_dip = ellipse(canvas, centre + 0.15, sole_top - height, dip, torch.full_like(toe, 0.08))
            closed = torch.maximum(vamp, counter) * (1.0 - collar_dip)
            upper = torch.maximum(closed, shaft * chance(g, n, style.shaft))
        shade = _fabric(canvas, g, n, 0.15)
        laces = (torch.cos((canvas.x - toe) / 0.09 * math.pi) > 0.4).float() * box(
            canvas, toe + (back - toe) * 0.4, sole_top - height * 0.6, torch.full_like(toe, 0.18), height * 0.2
        )
        sole_tone = uniform(g, n, 0.5, 1.0)
        return torch.maximum(upper * shade * (1.0 - 0.5 * laces), torch.maximum(sole, heel_block) * sole_tone)

    return draw


def _straps(
    canvas: Canvas,
    g: torch.Generator,
    n: int,
    toe: torch.Tensor,
    back: torch.Tensor,
    sole_top: torch.Tensor,
    height: torch.Tensor,
) -> torch.Tensor:
    """A sandal's open upper: three straps arching over the foot and one round the ankle, each sometimes missing."""
    straps = []
    for place in (0.2, 0.45, 0.7):
        centre_x = toe + (back - toe) * (place + uniform(g, n, -0.08, 0.08))
        reach = uniform(g, n, 0.12, 0.25)
        strap = arch(canvas, centre_x, sole_top, reach, height * uniform(g, n, 0.5, 1.0), uniform(g, n, 0.05, 0.09))
        straps.append(strap * chance(g, n, 0.8))
    ankle = box(canvas, back - 0.12, sole_top - height * 0.9, torch.full_like(toe, 0.12), torch.full_like(toe, 0.04))
    straps.append(ankle * chance(g, n, 0.6))
    return torch.stack(straps).amax(0)


# Fashion-MNIST's labels: 0 T-shirt/top, 1 trouser, 2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt,
# 7 sneaker, 8 bag, 9 ankle boot.
_CLASSES: tuple[Callable[[Canvas, torch.Generator, int], torch.Tensor], ...] = (
    _top(T_SHIRT),
    _trouser,
    _top(PULLOVER),
    _top(DRESS),
    _top(COAT),
    _footwear(SANDAL),
    _top(SHIRT),
    _footwear(SNEAKER),
    _bag,
    _footwear(ANKLE_BOOT),
)
