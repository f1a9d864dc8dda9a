"""`sweep init DIR`: a starter course folder that `sweep plan --conf DIR starter` plans as it stands."""

from __future__ import annotations

from pathlib import Path

from sweeps.errors import SweepError

STARTER_STUDY = "starter"

_STUDY = """\
# @package _global_
# A starter question set on Fashion-MNIST (offline=true: its bundled stand-in). Each question's variants
# apply on top of the baseline below; `xN` multiplies the baseline's value.
defaults:
  - override /data: fashion_mnist
  - override /model: starter_net
  - override /optim: sgd
  - override /trainer: default

study:
  name: starter
  title: My first question set
  baseline:
    optim.lr: 0.01
    optim.momentum: 0.9
    trainer.epochs: 5
    trainer.batch_size: 128
  questions:
    - id: q01
      text: Change the SGD learning rate to x0.1 and x10 of the baseline's.
      grid:
        optim.lr: [x0.1, x1, x10]
      reference: {optim.lr: x1}
    - id: q02
      text: Train the baseline three times with different seeds to see the spread.
      repeats: 3
      variants:
        - {}
"""

_MODEL = """\
# A small convolutional net as a layer list (the layer types of the built-in models, e.g. jhu_baseline).
name: starter_net
width: 1.0  # multiplier on conv filters and hidden units; the output layer is never scaled
dropout: 0.25  # p of the dropout layer, via ${model.dropout}
layers:
  - {type: conv2d, filters: 16, kernel: 3}          # 1x28x28 -> 16x26x26
  - {type: relu}
  - {type: maxpool2d, size: 2}                      # -> 16x13x13
  - {type: flatten}
  - {type: dense, units: 64, activation: relu}
  - {type: dropout, p: "${model.dropout}"}
  - {type: dense, units: classes, activation: log_softmax}
"""

_README = """\
# My course

A course folder for `sweep`: your own studies and models beside the built-in ones.

- `study/starter.yaml`: the question set: a baseline and two questions (learning rate, seeds).
- `model/starter_net.yaml`: the model, a layer list.

Plan it (no training), run it, and read the answers:

    sweep plan --conf . starter offline=true
    sweep run --conf . starter offline=true
    sweep report --conf . starter offline=true

Set `SWEEPS_CONF` to this folder to leave out `--conf`. Add files to data/, optim/ or trainer/ the
same way; a file named like a built-in one is refused, so give yours names of their own.
Python code of your own goes here too: a model class in `nets.py` (or a package `mycourse/`) is
`model._target_: nets.MyNet`, imported from this folder.
"""

STARTER = {Path("study") / f"{STARTER_STUDY}.yaml": _STUDY, Path("model") / "starter_net.yaml": _MODEL, Path("README.md"): _README}


def write_starter(folder: Path) -> list[Path]:
    """Write the starter files into `folder` (made if missing); none is written if any is there already."""
    if folder.exists() and not folder.is_dir():
        raise SweepError(f"init: {folder} is a file; give a folder")
    there = [folder / relative for relative in STARTER if (folder / relative).exists()]
    if there:
        raise SweepError(f"init: {there[0]} exists; give an empty or new folder (nothing was written)")
    written = []
    for relative, text in STARTER.items():
        path = folder / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as error:
            raise SweepError(f"init: {path}: {error.strerror}; give a folder you can write to") from None
        written.append(path)
    return written
