"""The report's figures as matplotlib Figures on the Agg canvas (no display, no pyplot state), and saving one as PNG.

A legend sits below its axes, in as many columns as the figure's width holds, and the figure grows by the
legend's height: the axes keep their size whatever the number of entries.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from sweeps.report.stats import Stat, VariantRow

DPI = 110  # dots per inch: a 10-inch-wide figure is 1100 pixels
_SPLITS: tuple[tuple[str, Literal["-", "--"]], ...] = (("train", "-"), ("val", "--"))  # metric prefix, line style
_LEGEND_SHARE = 0.95  # of the figure's width a legend may take
THIN_RUNS = 30  # a variant's repeats drawn one thin line each up to this many; beyond, only their mean and band
LEGEND_ENTRIES = 12  # variants (or runs) named in a legend; the rest are counted in one entry
MANY_POINTS = 200  # a scatter of more points draws smaller markers


def save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)  # every figure lays itself out ("constrained"): no second, "tight" pass
    return path


def _colour(index: int, count: int) -> Any:
    """The index-th of `count` distinct colours: matplotlib's 10-colour cycle, or tab20's 20 beyond ten."""
    return f"C{index}" if count <= 10 else colormaps["tab20"](index % 20)


def _figure(width: float, height: float) -> Figure:
    """A figure of that size in inches, laid out by matplotlib's constrained layout, on an Agg canvas."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _integer_ticks(axis: Axis) -> None:
    """Ticks at whole numbers only (epochs, trials) on a linear axis."""
    locator = axis.get_major_locator()
    assert isinstance(locator, MaxNLocator)  # a linear axis's default, AutoLocator, is one
    locator.set_params(integer=True)


def _legend_below(figure: Figure, handles: Sequence[Artist]) -> None:
    """A legend under the axes in as many columns as fit; the figure grows by its height (the axes keep theirs).

    Sizes are measured with the canvas's renderer alone, without laying the figure out (a layout with an
    oversized legend is what collapses axes).
    """
    assert isinstance(figure.canvas, FigureCanvasAgg)  # as `_figure` made it
    renderer = figure.canvas.get_renderer()
    width, height = figure.get_size_inches()
    room = _LEGEND_SHARE * width * figure.dpi  # pixels

    def place(columns: int) -> Artist:
        return figure.legend(handles=handles, loc="outside lower center", ncols=columns, fontsize="small")

    legend = place(1)
    widest = legend.get_window_extent(renderer).width  # one column: the widest entry
    if widest > room:  # a label wider than the figure: wrap the long ones
        longest = max(len(str(handle.get_label())) for handle in handles)
        fits = max(20, int(longest * room / widest))  # characters per line
        for handle in handles:
            handle.set_label(textwrap.fill(str(handle.get_label()), fits))
        legend.remove()
        legend = place(1)
        widest = legend.get_window_extent(renderer).width
    columns = min(len(handles), max(1, int(room // widest)))
    while columns > 1:  # the most columns that fit (their widths differ, so measure)
        legend.remove()
        legend = place(columns)
        if legend.get_window_extent(renderer).width <= room:
            break
        columns -= 1
    else:
        legend.remove()
        legend = place(1)
    figure.set_size_inches(width, height + legend.get_window_extent(renderer).height / figure.dpi)


def curves(rows: Sequence[VariantRow], title: str) -> Figure:
    """Loss and accuracy per epoch, one colour per variant; repeats as thin lines, their mean and ± std band."""
    figure = _figure(11, 4.2)
    loss, accuracy = figure.subplots(1, 2)
    for index, row in enumerate(rows):
        colour = _colour(index, len(rows))
        for axes, metric in ((loss, "loss"), (accuracy, "acc")):
            for split, style in _SPLITS:
                _draw_metric(axes, row, f"{split}_{metric}", colour, style)
    for axes, name in ((loss, "loss"), (accuracy, "accuracy")):
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        _integer_ticks(axes.xaxis)
    handles = [Line2D([], [], color=_colour(i, len(rows)), label=row.label) for i, row in enumerate(rows[:LEGEND_ENTRIES])]
    if len(rows) > LEGEND_ENTRIES:
        handles.append(Line2D([], [], color="none", label=f"… {len(rows) - LEGEND_ENTRIES} more variants (see the table)"))
    handles += [Line2D([], [], color="grey", linestyle=style, label=split) for split, style in _SPLITS]
    if any(not run.finished for row in rows for run in row.runs):
        handles.append(Line2D([], [], color="grey", linestyle=":", label="not finished"))
    figure.suptitle(title)
    _legend_below(figure, handles)
    return figure


def _draw_metric(axes: Axes, row: VariantRow, key: str, colour: Any, style: str) -> None:
    finished = [run.curves[key] for run in row.finished if run.curves.get(key)]
    if len(finished) == 1:
        axes.plot(_epochs(finished[0]), finished[0], color=colour, linestyle=style, marker="o", markersize=3)
    elif finished:
        for values in finished if len(finished) <= THIN_RUNS else []:
            axes.plot(_epochs(values), values, color=colour, linestyle=style, linewidth=0.7, alpha=0.35)
        length = min(map(len, finished))  # finished repeats have the same epochs
        stacked = np.array([values[:length] for values in finished])
        mean, std = stacked.mean(axis=0), stacked.std(axis=0, ddof=1)
        axes.plot(_epochs(mean), mean, color=colour, linestyle=style, linewidth=2)
        axes.fill_between(_epochs(mean), mean - std, mean + std, color=colour, alpha=0.15, linewidth=0)
    unfinished = [run for run in row.runs if not run.finished]
    for run in unfinished if len(unfinished) <= THIN_RUNS else []:
        if run.curves.get(key):
            axes.plot(_epochs(run.curves[key]), run.curves[key], color=colour, linestyle=":", marker="x", markersize=3)


def _epochs(values: Sequence[float]) -> np.ndarray:
    return np.arange(1, len(values) + 1)


@dataclass(frozen=True)
class AxisPoint:
    x: float  # the varied value, e.g. a learning rate
    val: Stat
    train: Stat


def metric_vs_axis(series: dict[str, list[AxisPoint]], axis: str, title: str) -> Figure:
    """Final val (solid) and train (dashed) accuracy against one numeric override, ± std as error bars."""
    figure = _figure(6.5, 4.2)
    axes = figure.subplots()
    for index, (name, points) in enumerate(series.items()):
        points = sorted(points, key=lambda point: point.x)
        xs = [point.x for point in points]
        for attribute, style, split in (("val", "-", "val"), ("train", "--", "train")):
            stats = [getattr(point, attribute) for point in points]
            axes.errorbar(
                xs,
                [stat.mean for stat in stats],
                yerr=[stat.std or 0.0 for stat in stats],
                color=_colour(index, len(series)),
                linestyle=style,
                marker="o",
                capsize=3,
                label=f"{name} {split}".strip(),
            )
    values = sorted({point.x for points in series.values() for point in points})
    if values[0] > 0 and values[-1] / values[0] >= 10:  # a decade or more apart: lr, batch size, hidden units
        axes.set_xscale("log")
    axes.set_xticks(values, [f"{value:g}" for value in values])
    axes.minorticks_off()
    axes.set_xlabel(axis)
    axes.set_ylabel("final accuracy")
    axes.grid(alpha=0.3)
    axes.set_title(title)
    _legend_below(figure, axes.get_legend_handles_labels()[0])
    return figure


def confusion_matrix(matrix: np.ndarray, title: str, names: Sequence[str] | None = None) -> Figure:
    """Counts per (true, predicted) class, coloured by the share of the true class's examples; the classes
    by `names` where given, else by number."""
    figure = _figure(5.5, 5)
    axes = figure.subplots()
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    for (true, predicted), count in np.ndenumerate(matrix):
        colour = "white" if shares[true, predicted] > 0.5 else "black"
        axes.text(predicted, true, str(count), ha="center", va="center", fontsize=7, color=colour)
    classes = np.arange(matrix.shape[0])
    if names is not None and len(names) == len(classes):
        axes.set_xticks(classes, list(names), rotation=45, ha="right", fontsize=7)
        axes.set_yticks(classes, list(names), fontsize=7)
    else:
        axes.set_xticks(classes)
        axes.set_yticks(classes)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title, fontsize="medium")
    return figure


def image_grid(images: np.ndarray, labels: Sequence[int] | Sequence[str], title: str) -> Figure:
    """Images (N, H, W) with pixel values in [0, 1] as a square grid, each titled with its label (number or name)."""
    side = int(np.ceil(np.sqrt(len(images))))
    figure = _figure(1.2 * side, 1.3 * side + 0.3)
    for index, axes in enumerate(figure.subplots(side, side, squeeze=False).flat):
        axes.set_axis_off()
        if index < len(images):
            axes.imshow(images[index], cmap="gray", vmin=0.0, vmax=1.0)
            axes.set_title(str(labels[index]), fontsize=8)
    figure.suptitle(title, fontsize="medium")
    return figure


@dataclass(frozen=True)
class TrialPoint:
    order: int  # 1 = the first trial started
    value: float  # its final metric
    stopped: bool  # stopped early by the scheduler (drawn as a cross)
    best: bool


def trials_over_time(points: Sequence[TrialPoint], metric: str, title: str) -> Figure:
    """A search's final metric per trial in the order they started: finished as dots, stopped as crosses."""
    figure = _figure(6.5, 4.2)
    axes = figure.subplots()
    size = 8 if len(points) > MANY_POINTS else None  # square points; matplotlib's default is 36
    for stopped, marker, label in ((False, "o", "finished"), (True, "x", "stopped early")):
        chosen = [point for point in points if point.stopped == stopped]
        if chosen:
            axes.scatter([p.order for p in chosen], [p.value for p in chosen], marker=marker, s=size, color="C0", label=label)
    for point in points:
        if point.best:
            axes.scatter([point.order], [point.value], marker="*", s=220, color="C3", zorder=3, label="best")
    _integer_ticks(axes.xaxis)
    axes.set_xlabel("trial (in the order started)")
    axes.set_ylabel(f"final {metric}")
    axes.grid(alpha=0.3)
    axes.set_title(title)
    _legend_below(figure, axes.get_legend_handles_labels()[0])
    return figure


@dataclass(frozen=True)
class Curve:
    label: str
    epochs: Sequence[float]
    values: Sequence[float]
    thick: bool  # emphasised (a search's best, a stage's run); the others are thin


def overlaid_curves(lines: Sequence[Curve], ylabel: str, title: str) -> Figure:
    """One metric per epoch, a line per run; emphasised ones thick, the rest thin. Past LEGEND_ENTRIES lines,
    the first ones (and every emphasised one) keep a colour and a legend entry, the rest are thin and grey."""
    figure = _figure(7, 4.2)
    axes = figure.subplots()
    named = list(lines)
    if len(lines) > LEGEND_ENTRIES:
        named = [line for line in lines if line.thick] + [line for line in lines if not line.thick]
        named = named[: max(LEGEND_ENTRIES, sum(line.thick for line in lines))]
    for index, line in enumerate(named):
        thin: dict[str, Any] = {"linewidth": 0.8, "alpha": 0.6, "marker": "o", "markersize": 2.5}  # a marker: one epoch is a point
        style = {"linewidth": 2.5, "marker": "o", "markersize": 4} if line.thick else thin
        axes.plot(line.epochs, line.values, color=_colour(index, len(named)), label=line.label, zorder=2, **style)
    rest = [line for line in lines if not any(line is kept for kept in named)]
    for line in rest:
        axes.plot(line.epochs, line.values, color="grey", linewidth=0.5, alpha=0.3, zorder=1)
    _integer_ticks(axes.xaxis)
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.set_title(title)
    if lines:
        handles = axes.get_legend_handles_labels()[0]
        if rest:
            handles.append(Line2D([], [], color="grey", linewidth=0.5, label=f"{len(rest)} more runs"))
        _legend_below(figure, handles)
    return figure
