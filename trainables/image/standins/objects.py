"""The CIFAR-10 stand-in: ten kinds of coloured object at random places and sizes on cluttered colour backgrounds.

Every 32×32 colour image holds one object — disk, ring, square, triangle, cross, star, crescent, bar,
grille (a disk cut into stripes) or chequer (a square of checks) — in a random colour, position, size
and turn, on a background of smooth colour noise strewn with small distractor patches and bars. The class is in
the object's shape only, wherever it sits: local, translation-invariant features (a CNN's) find it,
while a small MLP on the raw pixels must learn each shape at every place. Generated with fixed seeds.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from trainables.image.standins.draw import (
    Canvas,
    balanced_labels,
    ellipse,
    in_chunks,
    polar,
    rotated_box,
    smooth_noise,
    soft,
    uniform,
)

SIDE = 32  # pixels, as CIFAR-10
TRAIN_SIZE = 10_000  # images, 1,000 of each class
TEST_SIZE = 2_000  # images, 200 of each class
TRAIN_SEED = 50_000  # fixes every training image and its order
TEST_SEED = 10_001  # fixes every test image (a different stream from the training one)
SIZE = (0.35, 0.65)  # the object's radius, coordinate units (the image is 2 across): 5.5 to 10.5 pixels
PLACE = 0.45  # the object's centre lies within ± this of the image's centre, coordinate units
COLOUR_CUE = 0.5  # probability that an object has its class's own colour (else any), as CIFAR's frogs are mostly green
CLASS_COLOURS_SEED = 10  # fixes each class's own colour
DISTRACTORS = 5  # small patches and bars strewn over every background
DISTRACTOR_SIZE = (0.05, 0.16)  # their radius, coordinate units: 1 to 2.5 pixels


class Pose(NamedTuple):
    """Where an object sits, per image, each (N, 1, 1): centre, radius and turn (radians), coordinate units."""

    cx: torch.Tensor
    cy: torch.Tensor
    r: torch.Tensor
    turn: torch.Tensor


# A shape: (canvas, generator, pose) → coverage (N, S, S) in [0, 1].
Shape = Callable[[Canvas, torch.Generator, Pose], torch.Tensor]


@functools.lru_cache(maxsize=1)  # per process: every trial in a worker reuses it
def cluttered_objects() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y): float32 (N, 3, 32, 32) in [0, 1] and int64 labels, ten balanced classes."""
    return (*_drawn(TRAIN_SIZE, TRAIN_SEED), *_drawn(TEST_SIZE, TEST_SEED))


def _drawn(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` images, count/10 of each class, in one fixed random order."""
    generator = torch.Generator().manual_seed(seed)
    canvas = Canvas(SIDE)
    labels = balanced_labels(count)
    images = torch.cat(
        [
            in_chunks(
                # mypy infers no type for a lambda with default arguments (here: this class's shape and colour)
                lambda batch, shape=shape, own=own: _scene(canvas, generator, len(batch), shape, own),  # type: ignore[misc]
                labels[labels == label],
            )
            for label, (shape, own) in enumerate(zip(_SHAPES, _class_colours(), strict=True))
        ]
    )
    order = torch.randperm(count, generator=generator)
    return images[order].contiguous(), labels[order].contiguous()


def _class_colours() -> torch.Tensor:
    """One colour per class, (10, 3, 1, 1)."""
    return torch.rand((len(_SHAPES), 3, 1, 1), generator=torch.Generator().manual_seed(CLASS_COLOURS_SEED))


def _scene(canvas: Canvas, g: torch.Generator, n: int, shape: Shape, own: torch.Tensor) -> torch.Tensor:
    """One object of `shape`, lit from a random side, over a cluttered background: (n, 3, S, S).

    `own`: the class's own colour (3, 1, 1), which the object has (jittered) with probability COLOUR_CUE.
    """
    background = _background(canvas, g, n)
    place, size, turn = (-PLACE, PLACE), SIZE, (0.0, 2.0 * math.pi)
    at = Pose(uniform(g, n, *place), uniform(g, n, *place), uniform(g, n, *size), uniform(g, n, *turn))
    coverage = shape(canvas, g, at).unsqueeze(1)
    jittered = (own + 0.3 * torch.rand((n, 3, 1, 1), generator=g) - 0.15).clamp(0.0, 1.0)
    cued = torch.rand((n, 1, 1, 1), generator=g) < COLOUR_CUE
    colour = _contrasting(torch.where(cued, jittered, torch.rand((n, 3, 1, 1), generator=g)), background)
    light = uniform(g, n, 0.0, 2.0 * math.pi)  # direction the light comes from
    shading = 1.0 + 0.25 * ((canvas.x - at.cx) * torch.cos(light) + (canvas.y - at.cy) * torch.sin(light))
    return torch.lerp(background, (colour * shading.unsqueeze(1)).clamp(0.0, 1.0), coverage)


def _background(canvas: Canvas, g: torch.Generator, n: int) -> torch.Tensor:
    """Smooth colour noise around a random base colour, strewn with small patches and bars of other colours."""
    base = torch.rand((n, 3, 1, 1), generator=g)
    image = (base + 0.3 * smooth_noise(g, n, 3, canvas.side, 3)).clamp(0.0, 1.0)
    for _ in range(DISTRACTORS):
        cx, cy = uniform(g, n, -1.0, 1.0), uniform(g, n, -1.0, 1.0)
        radius = uniform(g, n, *DISTRACTOR_SIZE)
        aspect = uniform(g, n, 0.2, 1.0)  # 1: a square patch; 0.2: a thin bar
        blob = rotated_box(canvas, cx, cy, radius / aspect.sqrt(), radius * aspect.sqrt(), uniform(g, n, 0.0, math.pi))
        image = torch.lerp(image, torch.rand((n, 3, 1, 1), generator=g), blob.unsqueeze(1))
    return image


def _contrasting(colour: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """`colour` (n, 3, 1, 1); where it is too close to the background's mean colour, that mean turned half-way round."""
    behind = background.mean(dim=(2, 3), keepdim=True)
    too_close = (colour - behind).abs().amax(dim=1, keepdim=True) < 0.35
    return torch.where(too_close, (behind + 0.5) % 1.0, colour)


# --- the ten shapes ---------------------------------------------------------------------------------------------


def _disk(canvas: Canvas, g: torch.Generator, at: Pose) -> torch.Tensor:
    return ellipse(canvas, at.cx, at.cy, at.r, at.r)


def _ring(canvas: Canvas, g: torch.Generator, at: Pose) -> torch.Tensor:
    hole = at.r * uniform(g, len(at.r), 0.45, 0.65)
    return _disk(canvas, g, at) * (1.0 - ellipse(canvas, at.cx, at.cy, hole, hole))


def _polygon(corners: int) -> Shape:
    """A regular polygon with `corners` corners, its radius to the corners."""

    def shape(canvas: Canvas, g: torch.Generator, at: Pose) -> torch.Tensor:
        distance, direction = polar(canvas, at.cx, at.cy, at.turn)
        sector = 2.0 * math.pi / corners
        edge = at.r * math.cos(math.pi / corners) / torch.cos(torch.remainder(direction, sector) - sector / 2)
        return soft(edge - distance, canvas)

    return shape


def _cross(canvas: Canvas, g: torch.Generator, at: Pose) -> torch.Tensor:
    arm = at.r * uniform(g, len(at.r), 0.25, 0.4)
    return torch.maximum(
        rotated_box(canvas, at.cx, at.cy, at.r, arm, at.turn),
        rotated_box(canvas, at.cx, at.cy, at.r, arm, at.turn + math.pi / 2),
    )


def _star(canvas: Canvas, g: torch.Generator, at: Pose) -> torch.Tensor:
    distance, direction = polar(canvas, at.cx, at.cy, at.turn)
    inner = uniform(g, len(at.r), 0.35, 0.5)  # the notches' depth, as a fraction of the points' radius
    edge = at.r * (inner + (1.0 - inner) * ((1.0 + torch.cos(5.0 * direction)) / 2.0) ** 2)
    return soft(edge - distance, canvas)


def _crescent(canvas: Canvas, g: torch.Generator, at: Pose) -> torch.Tensor:
    offset = at.r * uniform(g, len(at.r), 0.4, 0.6)
    bite_x, bite_y = at.cx + offset * torch.cos(at.turn), at.cy + offset * torch.sin(at.turn)
    return _disk(canvas, g, at) * (1.0 - ellipse(canvas, bite_x, bite_y, at.r * 0.9, at.r * 0.9))


def _bar(canvas: Canvas, g: torch.Generator, at: Pose) -> torch.Tensor:
    return rotated_box(canvas, at.cx, at.cy, at.r, at.r * uniform(g, len(at.r), 0.25, 0.4), at.turn)


def _stripes(canvas: Canvas, at: Pose, period: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
    """Bands of width period/2 across the direction `turn`, one centred on the object's centre."""
    across = (canvas.x - at.cx) * torch.cos(turn) + (canvas.y - at.cy) * torch.sin(turn)
    return soft(canvas.pixel * 2.0 * torch.cos(across / period * 2.0 * math.pi), canvas)


def _grille(canvas: Canvas, g: torch.Generator, at: Pose) -> torch.Tensor:
    period = at.r * uniform(g, len(at.r), 0.5, 0.7)
    return _disk(canvas, g, at) * _stripes(canvas, at, period, at.turn)


def _chequer(canvas: Canvas, g: torch.Generator, at: Pose) -> torch.Tensor:
    period = at.r * uniform(g, len(at.r), 0.6, 0.8)
    square = rotated_box(canvas, at.cx, at.cy, at.r * 0.8, at.r * 0.8, at.turn)
    one, other = _stripes(canvas, at, period, at.turn), _stripes(canvas, at, period, at.turn + math.pi / 2)
    return square * (one * other + (1.0 - one) * (1.0 - other))


_SHAPES: tuple[Shape, ...] = (
    _disk,
    _ring,
    _polygon(4),  # square
    _polygon(3),  # triangle
    _cross,
    _star,
    _crescent,
    _bar,
    _grille,
    _chequer,
)
