"""Reads what `dlpc runs export` wrote with the trackers' own packages, and
checks it against the run record (tests/runs_export.rs runs this).

    python check_exports.py MLRUNS TBDIR RECORD...

MLRUNS is the MLflow file store the records were exported to, TBDIR the
TensorBoard folder, each RECORD a run folder. The expected series are computed here from
metrics.jsonl and summary.json, independently of dlp's exporter:

    step lines      loss, lr                       (step = the step)
    epoch lines     train_<m>   train/<m>          (step = the epoch)
    validate lines  val_<m>     val/<m>            (step = the epoch)
    summary final   final_<data>_<m>  final/<data>/<m>  (step = the last epoch)

Needs `mlflow-skinny` (or `mlflow`) and `tensorboard`.
"""

import calendar
import json
import math
import os
import sys
import time
from pathlib import Path

# MLflow 3.x refuses file stores unless told otherwise.
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

import numpy as np  # noqa: E402  (installed with tensorboard)
from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

SKIP = {"step": {"kind", "epoch", "step"}, "epoch": {"kind", "epoch", "steps"},
        "validate": {"kind", "epoch", "data"}}
PREFIX = {"step": ("", ""), "epoch": ("train_", "train/"), "validate": ("val_", "val/")}
STATUS = {"completed": "FINISHED", "stopped early": "FINISHED", "stopped": "KILLED",
          "failed": "FAILED"}


def expected(record):
    """{(mlflow name, tensorboard tag): [(step, value, time)]}, and the run's start."""
    config = json.loads((record / "config.json").read_text())
    summary_path = record / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    start = config.get("started_unix")
    if start is None:
        start = calendar.timegm(time.strptime(config["started"], "%Y%m%d-%H%M%S"))
    lines = [json.loads(l) for l in (record / "metrics.jsonl").read_text().splitlines() if l]
    times_path = record / "times.jsonl"
    times = [start] * len(lines)
    if times_path.exists():
        t = [json.loads(l) for l in times_path.read_text().splitlines() if l]
        assert len(t) == len(lines), "times.jsonl and metrics.jsonl differ in length"
        times = [x["time"] for x in t]
    series = {}
    last_epoch = 0
    for line, t in zip(lines, times):
        kind = line["kind"]
        last_epoch = max(last_epoch, line["epoch"])
        step = line["step"] if kind == "step" else line["epoch"]
        name, tag = PREFIX[kind]
        for key, value in line.items():
            if key in SKIP[kind]:
                continue
            value = math.nan if value is None else float(value)
            series.setdefault((name + key, tag + key), []).append((step, value, t))
    end = start
    if summary is not None:
        last_epoch = summary.get("epochs", last_epoch)
        if times_path.exists() and lines:
            end = times[-1]
        elif summary.get("seconds") is not None:
            end = start + summary["seconds"]
        for data, metrics in summary.get("final", {}).items():
            for key, value in metrics.items():
                series[(f"final_{data}_{key}", f"final/{data}/{key}")] = [
                    (last_epoch, float(value), end)]
    return config, summary, series, start


def millis(t):
    """Unix milliseconds, truncated, as MLflow makes them."""
    return math.floor(t * 1000)


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def check_mlflow(record, store, config, summary, series, start):
    client = MlflowClient(tracking_uri=Path(store).resolve().as_uri())
    experiment = client.get_experiment_by_name(config["train"])
    assert experiment is not None, f"no experiment {config['train']!r}"
    runs = client.search_runs([experiment.experiment_id])
    mine = [r for r in runs if r.data.tags.get("mlflow.runName") == record.name]
    assert len(mine) == 1, f"{len(mine)} runs named {record.name}"
    run = mine[0]
    info = run.info
    assert info.run_name == record.name, info.run_name
    if summary:
        want = STATUS.get(summary["status"], "FINISHED")
    else:
        # Killed, unless a live process still writes the record.
        want = "RUNNING" if (record / ".writer").exists() else "KILLED"
    assert info.status == want, (info.status, want)
    assert info.lifecycle_stage == "active"
    assert info.start_time == millis(start), (info.start_time, start)
    assert run.data.tags["dlp.run"] == record.name
    assert run.data.tags["dlp.version"] == config["dlpc"]
    params = run.data.params
    plan = config["plan"]
    assert params["seed"] == str(config["seed"]), params["seed"]
    assert params["batch"] == str(plan["batch"])
    assert params["model"] == plan["model"]
    for key, value in plan["optimizer"].items():
        got = params[f"optimizer.{key}"]
        # Numbers and booleans as JSON (`1e-8`, `true`), strings as they are.
        assert (got if isinstance(value, str) else json.loads(got)) == value, (key, got, value)
    for key, value in (config.get("overrides") or {}).items():
        assert params[f"overrides.{key}"] == value
    values = 0
    for (name, _), points in series.items():
        history = client.get_metric_history(info.run_id, name)
        got = [(m.step, m.value, m.timestamp) for m in history]
        want = [(s, v, millis(t)) for s, v, t in points]
        assert len(got) == len(want), (name, len(got), len(want))
        for g, w in zip(got, want):
            assert g[0] == w[0] and same(g[1], w[1]) and g[2] == w[2], (name, g, w)
        values += len(got)
    artifacts = {a.path for a in client.list_artifacts(info.run_id)}
    assert {"program", "checkpoints", "config.json"} <= artifacts, artifacts
    print(f"mlflow: run {info.run_id} in experiment {experiment.experiment_id}: "
          f"{len(series)} series, {values} values as in {record.name}")


def check_tensorboard(record, tbdir, series):
    folder = Path(tbdir) / record.name
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    want_tags = {tag for _, tag in series}
    assert tags == want_tags, (sorted(tags ^ want_tags))
    values = 0
    for (_, tag), points in series.items():
        got = acc.Scalars(tag)
        assert len(got) == len(points), (tag, len(got), len(points))
        for g, (step, value, t) in zip(got, points):
            # TensorBoard's scalars are float32.
            assert g.step == step and same(g.value, float(np.float32(value))), (tag, g, step, value)
            assert abs(g.wall_time - t) < 1e-6, (tag, g.wall_time, t)
        values += len(got)
    print(f"tensorboard: {len(tags)} tags, {values} scalars as in {record.name}")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    store, tbdir = sys.argv[1], sys.argv[2]
    for record in map(Path, sys.argv[3:]):
        config, summary, series, start = expected(record)
        check_mlflow(record, store, config, summary, series, start)
        check_tensorboard(record, tbdir, series)


if __name__ == "__main__":
    main()
