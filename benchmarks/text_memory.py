"""Peak memory of the text trainable against the size of its sparse TF-IDF matrix.

    python benchmarks/text_memory.py [--rows 100000] [--threads 2] [--smoke]

Builds a synthetic corpus with the offline sample's generator (trainables/text/sample.py), its
comments 3–12 sentences long (~65 words, about the Kaggle comments' mean), then measures what a
trial does from the corpus in memory (`trainables.text.loop.train_on_corpus`): building the TF-IDF
features and one training epoch of the study's baseline MLP (conf/study/toxic_comments.yaml:
text_mlp, 20,000 word uni- and bigrams, Adam), a checkpoint taken after the epoch as the runner does.

  tracemalloc  peak of the Python, numpy and scipy allocations made during the measured call
  RSS          peak resident memory (VmHWM, reset through /proc/self/clear_refs) above the RSS
               before the call: everything, torch's tensors, the model and Adam's state included

Each is compared with S = data + indices + indptr bytes of the train and validation TF-IDF
matrices; a dense copy of the train matrix alone would be rows × columns × 4 bytes (printed for
scale). PASS when both peaks are ≤ 2 × S; the exit status is 1 on FAIL. --smoke only checks that the
script runs: on 5,000 rows the model's fixed ~20 MB outweighs S, so it gives no verdict.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sweeps.plan.build import plan_study
from trainables.callback import EpochReport
from trainables.kinds import kind
from trainables.placement import Placement
from trainables.text.corpus import CorpusSplits, split_corpus
from trainables.text.features import build_features
from trainables.text.sample import generate_sample

DEFAULT_ROWS = 100_000
SMOKE_ROWS = 5_000
DEFAULT_THREADS = 2  # the reference machine's cores, so two machines' numbers compare
SENTENCES = (3, 12)  # per comment: ~65 words on average
LIMIT = 2.0  # peak memory / sparse matrix bytes
KIB = 1024  # /proc/self/status counts kB = KiB
MB = 1e6


def baseline_config(rows: int) -> dict[str, Any]:
    """The study's baseline MLP trial (q01's text_mlp variant), one epoch."""
    plan = plan_study("toxic_comments", ["offline=true", "trainer.epochs=1", f"data.sample_size={rows}"], ["q01"])
    return next(trial.config for trial in plan.trials if trial.config["model"]["architecture"] == "mlp")


def sparse_bytes(config: dict[str, Any], splits: CorpusSplits) -> tuple[int, int, int]:
    """S, the train matrix's non-zeros and its columns (built once here, outside the measurements)."""
    features = build_features(config["data"]["features"], splits.train.texts, splits.val.texts, None)
    size = sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in (features.train, features.val))
    return size, features.train.nnz, features.width


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_rss_bytes(call: Callable[[], None]) -> int | None:
    """Peak RSS during `call` above the RSS before it; None where the peak cannot be reset."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        return None
    before = _status_kib("VmRSS")
    call()
    return (_status_kib("VmHWM") - before) * KIB


def peak_traced_bytes(call: Callable[[], None]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measured_call(config: dict[str, Any], splits: CorpusSplits, threads: int) -> Callable[[], None]:
    from trainables.text.loop import train_on_corpus

    def on_epoch(report: EpochReport) -> None:
        report.checkpoint()  # as the runner does before it reports an epoch

    return lambda: train_on_corpus(config, splits, on_epoch, Placement(threads=threads))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"corpus rows (default {DEFAULT_ROWS:,})")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="torch threads")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_ROWS:,} rows: a seconds-long check")
    args = parser.parse_args(argv)
    rows = SMOKE_ROWS if args.smoke else args.rows

    config = baseline_config(rows)
    started = time.perf_counter()
    corpus = generate_sample(rows, sentences=SENTENCES)
    generated = time.perf_counter() - started
    data = config["data"]
    splits = split_corpus(corpus, data["validation_split"], data["test_split"])
    words = np.mean([len(text.split()) for text in corpus.texts])
    size, nnz, width = sparse_bytes(config, splits)
    dense = len(splits.train) * width * 4  # float32
    print(f"corpus: {rows:,} rows ({len(splits.train):,} train, {len(splits.val):,} validation), {words:.0f} words a row on average "
          f"(generated in {generated:.1f} s)")
    print(f"TF-IDF: {width:,} columns, {nnz / len(splits.train):.0f} non-zeros a train row; "
          f"S = data + indices + indptr of train and validation = {size / MB:.1f} MB "
          f"(a dense float32 train matrix would be {dense / MB:,.0f} MB)")
    model = config["model"]
    parameters = kind("text").parameters(config, Path("data"))
    print(f"measured: TF-IDF features + 1 epoch of {model['name']} (hidden {model['hidden']}), "
          f"batch {config['trainer']['batch_size']}, {args.threads} threads; its {parameters:,} parameters, their "
          f"gradients and Adam's two moments take {parameters * 4 * 4 / MB:.1f} MB whatever the corpus size")

    call = measured_call(config, splits, args.threads)
    clock = time.perf_counter()
    rss = peak_rss_bytes(call)
    seconds = time.perf_counter() - clock
    traced = peak_traced_bytes(call)
    verdicts = []
    print(f"tracemalloc peak: {traced / MB:.1f} MB = {traced / size:.2f} × S")
    verdicts.append(traced <= LIMIT * size)
    if rss is None:
        print("RSS peak: not measured (/proc/self/clear_refs cannot be written here)")
    else:
        print(f"RSS peak above the start: {rss / MB:.1f} MB = {rss / size:.2f} × S   (the call took {seconds:.1f} s)")
        verdicts.append(rss <= LIMIT * size)
    if args.smoke:
        print("smoke run: no verdict (at this size the model's fixed memory outweighs the matrix)")
        return 0
    ok = all(verdicts)
    print(f"{'PASS' if ok else 'FAIL'}: peak memory ≤ {LIMIT:g} × the sparse matrix")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
