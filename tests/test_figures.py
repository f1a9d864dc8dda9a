"""Every kind of report figure keeps its axes' size whatever the number of legend entries, with no layout warning.

Each figure is drawn with one entry and with many (long labels, as a search's run names are), saved as the
report saves it, and its axes' bounding boxes compared in inches; matplotlib's warnings are errors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from sweeps.report import figures
from sweeps.report.collect import RunRecord
from sweeps.report.stats import VariantRow, summarise
from sweeps.trials import PlannedVariant

MANY = 14  # entries: more than a search's 12 samples
LABEL = "q13 optim=adam model=jhu_extra_conv optim.lr=0.0008543 model.dropout=0.02926 trainer.batch_size=64 #{}"


def _run(index: int, epochs: int = 5) -> RunRecord:
    values = [0.1 * index / MANY + 0.1 * epoch for epoch in range(epochs)]
    curves = {"val_acc": values, "train_acc": values, "val_loss": values[::-1], "train_loss": values[::-1]}
    return RunRecord(f"t{index}", f"r{index}", f"run {index}", "finished", epochs, curves, {}, {})


def _curves(count: int) -> Figure:
    rows = [
        VariantRow(PlannedVariant([f"t{i}"], "g", {"k": i}, False), LABEL.format(i), [_run(i)], 1000, {})
        for i in range(count)
    ]
    return figures.curves(rows, "curves")


def _metric_vs_axis(count: int) -> Figure:
    stat = summarise([0.5, 0.6])
    assert stat is not None
    series = {LABEL.format(i): [figures.AxisPoint(x, stat, stat) for x in (0.001, 0.01, 0.1)] for i in range(count)}
    return figures.metric_vs_axis(series, "optim.lr", "vs lr")


def _overlaid(count: int) -> Figure:
    lines = [figures.Curve(LABEL.format(i), [1, 2, 3], [0.1 * i / count, 0.5, 0.6], i == 0) for i in range(count)]
    return figures.overlaid_curves(lines, "val accuracy", "val acc")


def _trials(count: int) -> Figure:
    points = [figures.TrialPoint(i + 1, 0.5 + 0.01 * i, i % 2 == 1, i == 0) for i in range(count)]
    return figures.trials_over_time(points, "val_acc", "trials")


def _confusion(count: int) -> Figure:
    return figures.confusion_matrix(np.arange(count * count).reshape(count, count) % 7, "confusion")


KINDS: dict[str, tuple[Callable[[int], Figure], int]] = {  # figure → (draw with n entries, n for "many")
    "curves": (_curves, MANY),
    "metric_vs_axis": (_metric_vs_axis, MANY // 2),  # two entries per series: val and train
    "overlaid_curves": (_overlaid, MANY),
    "trials_over_time": (_trials, MANY),
    "confusion_matrix": (_confusion, 20),  # classes
}


def _axes_sizes(figure: Figure, path: Path) -> list[tuple[float, float]]:
    """(width, height) in inches of each axes, after the layout saving ran; warnings are errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figures.save(figure, path)
    boxes = [axes.get_window_extent() for axes in figure.axes if axes.get_label() != "<colorbar>"]
    return [(box.width / figure.dpi, box.height / figure.dpi) for box in boxes]


@pytest.mark.parametrize("kind", KINDS)
def test_axes_keep_their_size_with_many_legend_entries(kind: str, tmp_path: Path) -> None:
    draw, many = KINDS[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one, lots = draw(1), draw(many)
    alone = _axes_sizes(one, tmp_path / "one.png")
    crowded = _axes_sizes(lots, tmp_path / "many.png")
    assert len(alone) == len(crowded)
    for (width, height), (crowded_width, crowded_height) in zip(alone, crowded, strict=True):
        assert height >= 2.0 and width >= 3.0, (kind, width, height)  # inches: a plot, not a strip
        assert crowded_height >= 0.9 * height and crowded_width >= 0.9 * width, (kind, (width, height), (crowded_width, crowded_height))
    if kind != "confusion_matrix":  # a legend below the axes, inside the figure
        (legend,) = lots.legends
        box = legend.get_window_extent()
        assert box.x0 >= 0 and box.x1 <= lots.bbox.width + 1
        assert box.y1 <= min(axes.get_window_extent().y0 for axes in lots.axes)


def test_image_grid_is_square_and_warning_free(tmp_path: Path) -> None:
    images = np.random.default_rng(0).random((16, 28, 28))
    figure = figures.image_grid(images, list(range(16)), "samples")
    sizes = _axes_sizes(figure, tmp_path / "grid.png")
    assert len(sizes) == 16 and all(width > 0.5 and height > 0.5 for width, height in sizes)


def _lines(figure: Figure) -> list[int]:
    return [len(axes.get_lines()) for axes in figure.axes]


def _legend_labels(figure: Figure) -> list[str]:
    return [text.get_text() for legend in figure.legends for text in legend.get_texts()]


def test_many_repeats_draw_their_mean_and_band_not_a_line_each() -> None:
    def one_variant(repeats: int) -> Figure:
        variant = PlannedVariant([f"t{i}" for i in range(repeats)], "g", {}, False)
        row = VariantRow(variant, "x1", [_run(i) for i in range(repeats)], 1000, {})
        return figures.curves([row], "repeats")

    assert _lines(one_variant(3)) == [2 * (3 + 1)] * 2  # train and val: each repeat thin, and the mean
    assert _lines(one_variant(1000)) == [2] * 2  # the means only (their bands are filled areas)
    assert all(len(axes.collections) == 2 for axes in one_variant(1000).axes)


def test_a_legend_names_a_dozen_variants_and_counts_the_rest() -> None:
    labels = _legend_labels(_curves(40))
    assert len(labels) == figures.LEGEND_ENTRIES + 1 + 2  # the variants named, the count, train and val
    assert f"… {40 - figures.LEGEND_ENTRIES} more variants (see the table)" in labels


def test_a_thousand_overlaid_runs_name_the_first_and_grey_the_rest(tmp_path: Path) -> None:
    figure = _overlaid(1000)
    labels = _legend_labels(figure)
    assert labels[-1] == f"{1000 - figures.LEGEND_ENTRIES} more runs" and len(labels) == figures.LEGEND_ENTRIES + 1
    assert LABEL.format(0) in labels[0].replace("\n", " ")  # the emphasised run is named first
    assert len(figure.axes[0].get_lines()) == 1000
    figures.save(figure, tmp_path / "overlaid.png")


def test_a_search_of_a_thousand_samples_is_drawn(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = figures.save(_trials(1000), tmp_path / "trials.png")
    assert path.stat().st_size > 0
