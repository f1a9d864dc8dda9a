"""A folder of generated PNGs in torchvision's ImageFolder layout: circles, squares and triangles in random
colours, places and sizes on noisy backgrounds, at assorted image sizes (the loader resizes them)."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")
SIZES = ((24, 24), (40, 30), (20, 28))  # (width, height): the images are not all the data's size


def draw(shape: str, size: tuple[int, int], rng: random.Random) -> Image.Image:
    width, height = size
    background = tuple(rng.randrange(0, 90) for _ in range(3))
    image = Image.new("RGB", size, background)
    pixels = image.load()
    for _ in range(width * height // 8):  # speckles of noise
        pixels[rng.randrange(width), rng.randrange(height)] = tuple(rng.randrange(0, 120) for _ in range(3))
    side = rng.randint(min(size) // 2, min(size) - 2)
    left, top = rng.randint(0, width - side), rng.randint(0, height - side)
    colour = tuple(rng.randrange(150, 256) for _ in range(3))
    pen = ImageDraw.Draw(image)
    if shape == "circle":
        pen.ellipse((left, top, left + side, top + side), fill=colour)
    elif shape == "square":
        pen.rectangle((left, top, left + side, top + side), fill=colour)
    else:
        pen.polygon([(left + side // 2, top), (left, top + side), (left + side, top + side)], fill=colour)
    return image


def write_shapes(folder: Path, train: int = 24, test: int = 8, seed: int = 0) -> Path:
    """`folder`/train/<class>/*.png and `folder`/test/<class>/*.png: `train` and `test` images of each class."""
    rng = random.Random(seed)
    for split, count in (("train", train), ("test", test)):
        for shape in CLASSES:
            (folder / split / shape).mkdir(parents=True, exist_ok=True)
            for index in range(count):
                draw(shape, SIZES[index % len(SIZES)], rng).save(folder / split / shape / f"{shape}_{index:03d}.png")
    return folder

