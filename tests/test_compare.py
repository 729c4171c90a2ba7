"""`factory compare`: end to end on tiny data, equal budgets, resume, report-only, errors."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from factory.cli import app
from factory.compare import machine as machine_module
from factory.compare import report as report_module
from factory.compare import train as train_module
from factory.compare.machine import describe_cpu, describe_sitting
from factory.compare.metrics import ImageDetections
from factory.errors import FactoryError
from tests.compare_helpers import load_bench_script, make_fake_synth
from tests.conftest import make_tiny_dataset

runner = CliRunner()


@pytest.fixture
def real_and_synth(tmp_path: Path) -> tuple[Path, Path]:
    real = make_tiny_dataset(tmp_path / "real", per_split={"train": 9, "val": 3, "test": 4})
    synth = make_fake_synth(real, tmp_path / "synth", count=6)
    return real, synth


# ---- fakes for the fast tests: ultralytics and the model-dependent evaluation ---------------


class FakeTrainer:
    """Records every ``YOLO.train`` call and writes what ultralytics would leave behind."""

    def __init__(self):
        self.calls: list[dict] = []
        self.resumed: list[dict] = []
        self.flat = False
        self.gain_per_image_seen = 0.0  # > 0: larger budgets reach a higher val curve
        # With a deadline, trainings from call number `pause_from_call` on pause after
        # `pause_after` epochs, then call `on_pause` (a test moves its clock there).
        self.pause_after: int | None = None
        self.pause_from_call = 1
        self.on_pause = None

    def __call__(
        self, model_source: str, arguments: dict, deadline=None, label="", threads=None
    ) -> Path:
        lines = Path(yaml_train(arguments["data"])).read_text().split()
        self.calls.append(
            {"model": model_source, "arguments": arguments, "train_list": lines, "label": label,
             "threads": threads}
        )  # fmt: skip
        save_dir = Path(arguments["project"]) / arguments["name"]
        (save_dir / "weights").mkdir(parents=True, exist_ok=True)
        (save_dir / "weights" / "best.pt").write_bytes(b"fake")
        # last.pt remembers what the training was, as ultralytics' does, for resume()
        state = {"arguments": arguments, "lift": self.gain_per_image_seen * len(lines)}
        (save_dir / "weights" / "last.pt").write_text(json.dumps(state))
        (save_dir / "results.csv").write_text("epoch,metrics/mAP50(B),metrics/mAP50-95(B)\n")
        return self._epochs(save_dir, state, 1, deadline)

    def resume(
        self, last_weights: Path, deadline=None, overrides=None, label="", threads=None
    ) -> Path:
        save_dir = Path(last_weights).parent.parent
        state = json.loads(Path(last_weights).read_text())
        done = len((save_dir / "results.csv").read_text().splitlines()) - 1
        self.resumed.append(
            {"folder": save_dir, "epochs_done": done, "overrides": overrides, "label": label,
             "threads": threads}
        )  # fmt: skip
        return self._epochs(save_dir, state, done + 1, deadline)

    def _epochs(self, save_dir: Path, state: dict, first: int, deadline) -> Path:
        epochs = state["arguments"]["epochs"]
        last = epochs
        pausing = self.pause_after is not None and len(self.calls) >= self.pause_from_call
        if deadline is not None and pausing:
            last = min(epochs, max(first, self.pause_after))
        # A steadily rising curve (so its arm counts as still climbing), or a flat one.
        rise = 0.0 if self.flat else 1.0
        lift = state["lift"] * epochs
        with open(save_dir / "results.csv", "a") as csv_file:
            for e in range(first, last + 1):
                csv_file.write(
                    f"{e},{0.1 * e * rise + 0.1:.3f},{0.05 * e * rise + 0.05 + lift:.3f}\n"
                )
        if last < epochs:
            if self.on_pause is not None:
                self.on_pause()
            raise train_module.TrainingPaused(last, epochs)
        return save_dir


def yaml_train(data_yaml: str) -> str:
    import yaml

    return yaml.safe_load(Path(data_yaml).read_text())["train"]


def fake_predict(weights, records, imgsz, device):
    """Exact boxes for arms with synthetic data; boxes 3 px off (IoU about 0.55, so they
    count at IoU 0.5 only) for the real arm."""
    synthetic = Path(weights).parts[-5] != "real"  # runs/<setting>/<arm>/seed-k/train/weights
    out = []
    for record in records:
        gt = np.array([a.xyxy for a in record.annotations], float).reshape(-1, 4)
        cls = np.array([a.class_id for a in record.annotations], np.int64)
        pred = gt if synthetic else gt + np.array([3.0, 0.0, 3.0, 0.0])
        out.append(ImageDetections(gt, cls, pred, np.full(len(gt), 0.9), cls))
    return out


@pytest.fixture
def fake_training(monkeypatch):
    from factory.compare import evaluate

    trainer = FakeTrainer()
    monkeypatch.setattr(train_module, "run_ultralytics", trainer)
    monkeypatch.setattr(train_module, "resume_ultralytics", trainer.resume)
    monkeypatch.setattr(evaluate, "predict_test", fake_predict)
    monkeypatch.setattr(
        evaluate, "model_size", lambda w: {"params": 10, "fp32_mb": 0.1, "checkpoint_mb": 0.1}
    )
    monkeypatch.setattr(evaluate, "cpu_latency", lambda w, images, imgsz: {"median_ms": 1.0})
    monkeypatch.setattr(
        evaluate, "ultralytics_val",
        lambda *a, **k: {"map50": 0.5, "map50_95": 0.25, "precision": 0.5, "recall": 0.5},
    )  # fmt: skip
    return trainer


def invoke(*args: str):
    return runner.invoke(app, ["compare", *args])


# ---- the tests ---------------------------------------------------------------------------------


def test_arms_receive_equal_budgets(real_and_synth, tmp_path, fake_training):
    real, synth = real_and_synth
    out = tmp_path / "run"
    result = invoke(
        str(real), "--synthetic", str(synth), "--synthetic", f"more={synth}", "--synthetic-only",
        "--out", str(out), "--seeds", "2", "--budget", "100", "--batch", "8", "--imgsz", "32",
        "--real-count", "4,all", "--synthetic-ratio", "0.5,1", "--bootstrap", "100",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    calls = fake_training.calls
    # 2 real counts x (1 real arm shared by both ratios + 2 ratios x 3 arms: real+synthetic,
    # real+more, synthetic-only) x 2 seeds
    assert len(calls) == 2 * (1 + 2 * 3) * 2
    assert sum("/real/" in c["arguments"]["data"] for c in calls) == 2 * 2

    def budget_free(arguments):
        return {k: v for k, v in arguments.items() if k not in ("data", "project", "seed")}

    reference = budget_free(calls[0]["arguments"])
    for call in calls:
        assert budget_free(call["arguments"]) == reference
        assert call["model"] == "yolov8n.yaml"
        assert call["arguments"]["patience"] == 0 and call["arguments"]["amp"] is False
        assert call["arguments"]["plots"] is False
        # exactly epoch_size entries: the same images seen whatever the arm's size
        assert len(call["train_list"]) * call["arguments"]["epochs"] >= 100
        assert len(call["train_list"]) == len(calls[0]["train_list"])
        assert len(call["train_list"]) % call["arguments"]["batch"] == 0
    # the two seeds of an arm differ only by their seed
    assert calls[0]["arguments"]["seed"] != calls[4]["arguments"]["seed"]
    results = json.loads((out / "results.json").read_text())
    for setting in results["settings"]:
        seen = {r["spec"]["budget"]["images_seen"] for r in results["trainings"]
                if r["setting"]["key"] == setting["key"]}  # fmt: skip
        assert len(seen) == 1
        arms = setting["arms"]
        assert set(arms) == {"real", "real+synthetic", "real+more", "synthetic-only"}
        assert arms["synthetic-only"]["arm"]["real_images"] == 0
        n_real = arms["real"]["arm"]["real_images"]
        ratio = setting["setting"]["synthetic_ratio"]
        assert arms["real+synthetic"]["arm"]["synthetic_images"] == min(6, round(ratio * n_real))
    assert {s["setting"]["real_count"] for s in results["settings"]} == {4, None}
    # the shared real arm is reported in both ratio settings (and no ratio-all setting is)
    assert sorted(s["key"] for s in results["settings"]) == [
        "real-4_ratio-0.5_img-32", "real-4_ratio-1_img-32",
        "real-all_ratio-0.5_img-32", "real-all_ratio-1_img-32",
    ]  # fmt: skip
    real_arms = {s["key"]: s["arms"]["real"]["per_seed"] for s in results["settings"]}
    assert real_arms["real-4_ratio-0.5_img-32"] == real_arms["real-4_ratio-1_img-32"]
    assert results["trainings_finished"] == results["trainings_planned"] == 28
    # sweep plots exist for the two swept options
    assert (out / "plots" / "map_vs_real_count.png").is_file()
    assert (out / "plots" / "map_vs_synthetic_ratio.png").is_file()
    # the fake makes synthetic arms perfect: every verdict must say "better", beyond noise
    for setting in results["settings"]:
        for comparison in setting["comparisons"]:
            assert comparison["verdict"]["distinguishable"], comparison["verdict"]["sentence"]
            assert comparison["bootstrap"]["ci_low"] > 0


def two_seed_args(real: Path, synth: Path, out: Path) -> list[str]:
    """A small two-seed comparison of ``real`` and ``real`` + ``synth`` (for the fakes)."""
    return [str(real), "--synthetic", str(synth), "--out", str(out), "--seeds", "2",
            "--budget", "32", "--batch", "8", "--imgsz", "32", "--bootstrap", "100"]  # fmt: skip


def test_resume_skips_finished_trainings_and_report_only(real_and_synth, tmp_path, fake_training):
    real, synth = real_and_synth
    out = tmp_path / "run"
    args = two_seed_args(real, synth, out)
    assert invoke(*args).exit_code == 0
    assert len(fake_training.calls) == 4
    # lose one finished training: only that one is trained again
    shutil.rmtree(out / "runs" / "real-all_ratio-all_img-32" / "real+synthetic" / "seed-1")
    assert invoke(*args).exit_code == 0
    assert len(fake_training.calls) == 5
    report = (out / "report.md").read_text()
    (out / "report.md").unlink()
    result = invoke("--report-only", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "report.md").read_text() == report
    # other settings in the same folder are refused
    result = invoke(*args[:-2], "--bootstrap", "100", "--budget", "64")
    assert result.exit_code == 1
    assert f"error: {out}: holds a comparison with other settings" in result.output


def test_stop_after_pauses_and_the_same_command_resumes(
    real_and_synth, tmp_path, fake_training, monkeypatch
):
    """--stop-after: the training running at the deadline pauses at an epoch end (last.pt
    kept), none starts after it, the report names what is in progress, and the same command
    without it resumes the paused training and trains the rest."""
    from factory.compare import runner as runner_module

    real, synth = real_and_synth
    out = tmp_path / "run"
    args = two_seed_args(real, synth, out)
    clock = [1000.0]
    monkeypatch.setattr(runner_module, "_now", lambda: clock[0])
    fake_training.pause_after, fake_training.pause_from_call = 1, 2
    fake_training.on_pause = lambda: clock.__setitem__(0, clock[0] + 7200)  # past the deadline
    result = invoke(*args, "--stop-after", "1h30m")
    assert result.exit_code == 0, result.output
    assert len(fake_training.calls) == 2  # the first finished, the second paused, 2 waited
    results = json.loads((out / "results.json").read_text())
    epochs = results["settings"][0]["budget"]["epochs"]
    assert epochs > 1 and results["trainings_finished"] == 1
    in_progress = [t for t in results["trainings_missing"] if t["epochs_done"]]
    assert [t["epochs_done"] for t in in_progress] == [1]
    name = f"{in_progress[0]['setting']} / {in_progress[0]['arm']} / seed 0"
    text = " ".join(result.output.split())
    assert (
        f"compare: stopped by --stop-after 1h30m: paused {name} after epoch 1 of {epochs} "
        "(last.pt saved); 2 training(s) not started. Re-run the same command" in text
    )
    saved = f"(epoch 1 of {epochs} saved)"
    assert f"in progress: {name.replace(' / ', '/')} {saved}" in text
    assert saved in (out / "report.md").read_text()
    # the same command, without the limit: the paused one resumes, the other two start; a
    # sitting on another machine (other device or workers) resumes with its own
    monkeypatch.setenv("FACTORY_NO_PROGRESS", "0")  # to see the training lines
    result = invoke(*args, "--device", "0", "--workers", "3", "--threads", "3")  # fakes: no GPU
    assert result.exit_code == 0, result.output
    assert f"resuming after epoch 1 of {epochs})" in " ".join(result.output.split())
    # the log names each sitting's machine on one line (a paused run's log outlives it)
    sitting_line = f"compare: machine: {describe_sitting(machine_module.machine(), '0', None)}\n"
    assert sitting_line in result.output
    assert [r["epochs_done"] for r in fake_training.resumed] == [1]
    assert fake_training.resumed[0]["overrides"] == {"device": "0", "workers": 3}
    assert fake_training.resumed[0]["label"] == name  # its epoch lines say which it is
    assert fake_training.resumed[0]["threads"] == 3
    assert [c["threads"] for c in fake_training.calls] == [None, None, 3, 3]  # None: ultralytics'
    assert len(fake_training.calls) == 4
    labels = [c["label"] for c in fake_training.calls]
    assert labels[1] == name and len(set(labels)) == 4  # one label per training
    results = json.loads((out / "results.json").read_text())
    assert results["trainings_finished"] == 4 and not results["trainings_missing"]
    for training in results["trainings"]:
        assert [p["epoch"] for p in training["train"]["curve"]] == list(range(1, epochs + 1))
    # the resumed training says so, in results.json and in the report
    resumed = [t["train"]["resumed_after"] for t in results["trainings"]]
    assert sorted(resumed) == [[], [], [], [1]]
    # each training records where its last sitting ran, and the report says so
    where = sorted((t["arm"]["name"], t["seed_index"], t["device"], t["workers"])
                   for t in results["trainings"])  # fmt: skip
    assert where == [("real", 0, "cpu", 0), ("real", 1, "0", 3),
                     ("real+synthetic", 0, "0", 3), ("real+synthetic", 1, "0", 3)]  # fmt: skip
    # and every sitting: the paused one ran its first epoch on the CPU, the rest on "GPU 0"
    sittings = {(t["arm"]["name"], t["seed_index"]): t["train"]["sittings"]
                for t in results["trainings"]}  # fmt: skip
    # each sitting names the machine it ran on (CPU, logical CPUs, training packages)
    for sitting in itertools.chain.from_iterable(sittings.values()):
        assert sitting.pop("machine") == machine_module.machine()
    # and the torch CPU threads: ultralytics' own count on the CPU, none on a GPU (there
    # ultralytics leaves torch's threads alone, so --threads 3 does not apply)
    from ultralytics.utils import NUM_THREADS

    assert sittings[("real+synthetic", 0)] == [
        {"after_epoch": 0, "device": "cpu", "workers": 0, "threads": NUM_THREADS,
         "stage": "train"},
        {"after_epoch": 1, "device": "0", "workers": 3, "threads": None, "stage": "train"},
    ]  # fmt: skip
    assert sittings[("real", 1)] == [{"after_epoch": 0, "device": "0", "workers": 3,
                                      "threads": None, "stage": "train"}]  # fmt: skip
    threads = {(t["arm"]["name"], t["seed_index"]): t["threads"] for t in results["trainings"]}
    assert threads[("real", 0)] == NUM_THREADS and threads[("real", 1)] is None
    later = "epoch 2" if epochs == 2 else f"epochs 2–{epochs}"
    assert (
        "Trained on more than one kind of device: `real`: seed 0 on cpu, seed 1 on GPU 0; "
        f"`real+synthetic`: seed 0 on cpu for epoch 1 then on GPU 0 for {later}, "
        "seed 1 on GPU 0." in " ".join((out / "report.md").read_text().split())
    )
    assert "paused and resumed in a later sitting: seed 0 after epoch 1." in " ".join(
        (out / "report.md").read_text().split()
    )


def test_stop_after_before_anything_finished_writes_no_report(
    real_and_synth, tmp_path, fake_training, monkeypatch
):
    from factory.compare import runner as runner_module

    real, synth = real_and_synth
    out = tmp_path / "run"
    clock = [0.0]
    monkeypatch.setattr(runner_module, "_now", lambda: clock[0])
    fake_training.pause_after = 1
    fake_training.on_pause = lambda: clock.__setitem__(0, 100.0)
    result = runner.invoke(
        app, ["compare", *two_seed_args(real, synth, out), "--stop-after", "45s"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (out / "report.md").exists() and result.stdout == ""
    assert "3 training(s) not started" in " ".join(result.output.split())
    for bad in ("90", "2 hours", "0s"):
        result = invoke(*two_seed_args(real, synth, out), "--stop-after", bad)
        assert result.exit_code == 1
        assert "error: --stop-after" in result.output, result.output


def test_stop_after_durations_read_and_print_back():
    from factory.compare.options import format_duration, parse_duration

    for text, seconds in (("2h", 7200), ("1h30m", 5400), ("90m", 5400), ("45s", 45),
                          ("1.5h", 5400), ("2H 5M", 7500)):  # fmt: skip
        assert parse_duration(text) == seconds
    assert [format_duration(s) for s in (7200, 5400, 45, 3725)] == ["2h", "1h30m", "45s", "1h2m5s"]
    for bad in ("90", "h", "2h-5m", "1d"):
        with pytest.raises(FactoryError, match="--stop-after: expected a duration"):
            parse_duration(bad)


def test_learning_curve_skips_a_row_cut_short(tmp_path):
    results_csv = tmp_path / "results.csv"
    results_csv.write_text(
        "  epoch,  metrics/mAP50(B),  metrics/mAP50-95(B)\n1,0.2,0.1\n2,0.3\n"  # killed mid-row
    )
    assert train_module.read_curve(results_csv) == [{"epoch": 1, "map50": 0.2, "map50_95": 0.1}]


def test_epoch_lines_name_their_training_and_the_time_left():
    line = train_module.epoch_line
    assert line(87, 240, 0.4361, "s / real / seed 1", 104.4) == (
        "  epoch 87/240: val mAP50-95 0.436  [s / real / seed 1; 1m44s an epoch, 4h26m left]"
    )
    assert line(240, 240, 0.5, "s / real / seed 1", 104.0).endswith("; 1m44s an epoch]")
    assert line(8, 9, 0.5, "", 95.4).endswith("[1m35s an epoch, 1m35s left]")  # under 10 min
    assert line(1, 9, None) == "  epoch 1/9: val mAP50-95 n/a"  # unlabelled, not yet timed
    # the mean over this sitting's epochs; the setup before the first one does not count
    clock = train_module.EpochClock()
    assert clock.stop(5.0) is None  # an epoch end without a start (ultralytics' final val)
    clock.start(10.0)
    assert clock.stop(110.0) == 100.0
    assert clock.stop(500.0) == 100.0  # no start in between: nothing recorded
    clock.start(500.0)
    assert clock.stop(620.0) == 110.0


def test_pause_is_due_only_past_the_deadline_with_epochs_left():
    assert train_module.pause_due(100.0, 3, 10, now=100.0)
    assert not train_module.pause_due(100.0, 3, 10, now=99.9)
    assert not train_module.pause_due(100.0, 10, 10, now=500.0)  # the last epoch finishes
    assert not train_module.pause_due(None, 3, 10, now=500.0)


def test_a_sitting_stopped_before_its_first_epoch_leaves_one_record(tmp_path):
    """Killed before it finished an epoch, a sitting trained nothing: the sitting that resumes
    after the same epoch replaces its record instead of adding a second one."""
    from types import SimpleNamespace

    (tmp_path / train_module.SITTINGS_FILE).write_text(
        json.dumps([{"after_epoch": 0, "device": "0", "workers": 6}])
    )
    cpu = SimpleNamespace(device="cpu", workers=0, threads=2)
    train_module.record_resume(tmp_path, cpu, saved=168)
    train_module.record_resume(tmp_path, cpu, saved=168)  # the first of these did no epoch
    assert train_module.resumed_after(tmp_path) == [168]
    here = machine_module.machine()
    assert train_module.sittings(tmp_path) == [
        {"after_epoch": 0, "device": "0", "workers": 6},
        {"after_epoch": 168, "device": "cpu", "workers": 0, "threads": 2, "machine": here},
    ]
    gpu = SimpleNamespace(device="0", workers=2, threads=3)
    train_module.record_resume(tmp_path, gpu, saved=200)
    assert train_module.resumed_after(tmp_path) == [168, 200]
    assert [s["after_epoch"] for s in train_module.sittings(tmp_path)] == [0, 168, 200]
    assert train_module.sittings(tmp_path)[-1]["threads"] is None  # CPU threads: not on a GPU


def test_epochs_saved_count_only_what_a_later_sitting_keeps(tmp_path):
    """A stage's results.csv without its last.pt (a copy that came back without the
    checkpoint) starts over, so its epochs are not reported as saved; a finished stage's
    count whether or not its last.pt is there."""
    header = "epoch,metrics/mAP50(B),metrics/mAP50-95(B)\n"
    rows = "".join(f"{e},0.1,0.05\n" for e in range(1, 53))
    stage = tmp_path / "train"
    (stage / "weights").mkdir(parents=True)
    (stage / "results.csv").write_text(header + rows)
    assert train_module.epochs_done(tmp_path) == 0
    (stage / "weights" / "last.pt").write_bytes(b"checkpoint")
    assert train_module.epochs_done(tmp_path) == 52
    (stage / "weights" / "last.pt").unlink()
    (stage / train_module.STAGE_DONE_FILE).write_text("{}")
    assert train_module.epochs_done(tmp_path) == 52


def test_val_curves_script_leaves_out_stages_that_start_over(tmp_path, capsys, monkeypatch):
    """bench/val_curves.py shows running trainings, but not a stale results.csv whose
    training will start over (no last.pt, not finished), as the report does not. A finished
    training restored by bench/keep_run.py has no train/ folder: its curve comes from its
    result.json."""
    header = "epoch,metrics/mAP50(B),metrics/mAP50-95(B)\n"
    for seed, keep in (("seed-0", True), ("seed-2", False)):
        stage = tmp_path / "runs" / "setting" / "real" / seed / "train"
        (stage / "weights").mkdir(parents=True)
        (stage / "results.csv").write_text(header + "1,0.1,0.05\n2,0.2,0.10\n")
        if keep:
            (stage / "weights" / "last.pt").write_bytes(b"checkpoint")
    restored = tmp_path / "runs" / "setting" / "real" / "seed-1"
    restored.mkdir()
    curve = [
        {"epoch": 1, "map50": 0.3, "map50_95": 0.15},
        {"epoch": 2, "map50": 0.4, "map50_95": 0.25},
    ]
    (restored / "result.json").write_text(json.dumps({"train": {"curve": curve}}))
    val_curves = load_bench_script("val_curves")
    monkeypatch.setattr("sys.argv", ["val_curves.py", str(tmp_path), "--every", "1"])
    val_curves.main()
    printed = capsys.readouterr()
    assert "real seed-0 (setting)" in printed.out and "seed-2" not in printed.out
    assert "real seed-1 (setting)" in printed.out
    assert "| 2 | 0.100 | 0.250 |" in printed.out
    assert "seed-2/train: no last.pt, so it starts over" in printed.err


def test_cpu_model_reads_the_model_name_and_describes_it(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\n")
    assert machine_module.cpu_model(cpuinfo) == "AMD EPYC 9B14"
    described = describe_cpu({"cpu": "AMD EPYC 9B14", "logical_cpus": 2})
    assert described == "AMD EPYC 9B14 (2 logical CPUs)"
    assert describe_cpu({"cpu": "M1", "logical_cpus": 1}) == "M1 (1 logical CPU)"
    assert machine_module.machine()["logical_cpus"] == os.cpu_count()
    # the compare's log line for a sitting: threads only where torch's CPU threads apply
    record = {"cpu": "AMD EPYC 9B14", "logical_cpus": 2, "ultralytics": "8.4.190",
              "torch": "2.14.1", "numpy": "2.4.6", "opencv-python": "5.1.0.95"}  # fmt: skip
    assert describe_sitting(record, "cpu", 1) == (
        "AMD EPYC 9B14 (2 logical CPUs); device cpu, threads 1; ultralytics 8.4.190, "
        "torch 2.14.1, numpy 2.4.6, opencv-python 5.1.0.95, albumentations not installed"
    )
    assert describe_sitting(record, "0", None).startswith(
        "AMD EPYC 9B14 (2 logical CPUs); device 0; "
    )


def test_report_names_the_cpus_latency_was_timed_on(
    real_and_synth, tmp_path, fake_training, monkeypatch
):
    """Latency timed on two CPUs is flagged as not comparable; timings from before the CPU
    was recorded (no ``cpu``) are left out of the note."""
    from factory.compare import evaluate

    cpus = iter(["CPU A", "CPU B", None, "CPU A"])

    def latency(weights, images, imgsz):
        cpu = next(cpus)
        return {"median_ms": 1.0, **({"cpu": cpu, "logical_cpus": 2} if cpu else {})}

    monkeypatch.setattr(evaluate, "cpu_latency", latency)
    real, synth = real_and_synth
    out = tmp_path / "run"
    assert invoke(*two_seed_args(real, synth, out)).exit_code == 0
    report = " ".join((out / "report.md").read_text().split())
    assert (
        "CPU ms/img was timed on more than one CPU (CPU A (2 logical CPUs); CPU B (2 logical "
        "CPUs)): compare it only between trainings timed on the same one" in report
    )


def test_sitting_repeat_script_compares_a_restarted_sitting_with_the_lost_one(
    tmp_path, capsys, monkeypatch
):
    """bench/sitting_repeat.py: a sitting that started over is compared epoch by epoch with
    the earlier one, whatever order the side-by-side trainings printed their lines in; a
    resumed sitting is no repeat, even where its epochs overlap (a pause after different
    epochs per arm), and neither is a sitting of other trainings."""
    start = "compare: training s / real / seed 0 (9 images seen,\n9 epochs of 1) [2 at once]\n"
    resume = (
        "compare: training s / real / seed 0 (9 images seen,\n"
        "9 epochs of 1, resuming after epoch 3 of 9) [2 at once]\n"
    )
    other = "compare: training s / real / seed 1 (9 images seen,\n9 epochs of 1) [2 at once]\n"
    log = tmp_path / "run.log"
    log.write_text(
        "compare: run folder: out/run\n"
        + start
        + "  epoch 1/9: val mAP50-95 0.000\n  epoch 1/9: val mAP50-95 0.010\n"
        "  epoch 2/9: val mAP50-95 0.120\n  epoch 2/9: val mAP50-95 0.050\n"
        "  epoch 3/9: val mAP50-95 0.200\n  epoch 3/9: val mAP50-95 0.100\n"
        "compare: run folder: out/run\n"
        "compare: machine: Intel Xeon (2 logical CPUs); device cpu, threads 1\n"
        + start
        + "  epoch 1/9: val mAP50-95 0.010\n  epoch 1/9: val mAP50-95 0.000\n"
        "  epoch 2/9: val mAP50-95 0.050\n  epoch 2/9: val mAP50-95 0.120\n"
        "  epoch 3/9: val mAP50-95 0.100\n  epoch 3/9: val mAP50-95 0.210\n"
        "  epoch 4/9: val mAP50-95 0.300\n  epoch 4/9: val mAP50-95 0.150\n"
        "compare: run folder: out/run\n"
        + resume
        + "  epoch 4/9: val mAP50-95 0.900\n  epoch 5/9: val mAP50-95 0.310\n"
        "compare: run folder: out/run\n"
        + other
        + "  epoch 1/9: val mAP50-95 0.500\n  epoch 1/9: val mAP50-95 0.600\n"
    )

    # Lines that name their training: figures swapped between the arms are not a repeat.
    def named(arm: str, epoch: int, value: str) -> str:
        return f"  epoch {epoch}/9: val mAP50-95 {value}  [s / {arm} / seed 2; 1m0s an epoch]\n"

    seed2 = "compare: training s / real / seed 2 (9 images seen,\n9 epochs of 1) [2 at once]\n"
    # Since 2026-12-06 a sitting's log names its machine: the same one, or another CPU.
    for first, second, machine in (
        ("0.100", "0.200", "AMD EPYC (2 logical CPUs); device cpu, threads 1"),
        ("0.100", "0.200", "AMD EPYC (2 logical CPUs); device cpu, threads 1"),
        ("0.200", "0.100", "Intel Xeon (2 logical CPUs); device cpu, threads 1"),
    ):
        log.write_text(
            log.read_text()
            + "compare: run folder: out/run\n"
            + f"compare: machine: {machine}\n"
            + seed2
            + named("real", 1, "0.050") + named("real+checked", 1, "0.050")
            + named("real", 2, first) + named("real+checked", 2, second)
        )  # fmt: skip
    sitting_repeat = load_bench_script("sitting_repeat", monkeypatch)
    monkeypatch.setattr("sys.argv", ["sitting_repeat.py", str(log)])
    sitting_repeat.main()
    printed = capsys.readouterr().out.splitlines()
    assert printed[1:] == [
        "sitting 2 against sitting 1: 2 of 3 shared epochs printed the same figures; "
        "first different at epoch 3 (sitting 1: machine not logged; "
        "sitting 2: Intel Xeon (2 logical CPUs); device cpu, threads 1)",
        "sitting 6 against sitting 5: 2 of 2 shared epochs printed the same figures "
        "(both on AMD EPYC (2 logical CPUs); device cpu, threads 1)",
        "sitting 7 against sitting 5: 1 of 2 shared epochs printed the same figures; "
        "first different at epoch 2 (on different machines: "
        "sitting 5: AMD EPYC (2 logical CPUs); device cpu, threads 1; "
        "sitting 7: Intel Xeon (2 logical CPUs); device cpu, threads 1)",
        "sitting 7 against sitting 6: 1 of 2 shared epochs printed the same figures; "
        "first different at epoch 2 (on different machines: "
        "sitting 6: AMD EPYC (2 logical CPUs); device cpu, threads 1; "
        "sitting 7: Intel Xeon (2 logical CPUs); device cpu, threads 1)",
    ]


def test_report_shows_how_tight_each_arms_boxes_are(real_and_synth, tmp_path, fake_training):
    real, synth = real_and_synth
    out = tmp_path / "run"
    args = two_seed_args(real, synth, out)
    assert invoke(*args).exit_code == 0
    arms = json.loads((out / "results.json").read_text())["settings"][0]["arms"]
    # fake_predict: the real arm's boxes sit 3 px off (found at IoU 0.5, not at 0.75), the
    # synthetic arm's are exact
    real_fit, synthetic_fit = arms["real"]["diagnosis"], arms["real+synthetic"]["diagnosis"]
    assert real_fit["map75"]["mean"] == 0.0 and synthetic_fit["map75"]["mean"] == 1.0
    assert 0.5 < real_fit["median_iou"]["mean"] < 0.75
    assert synthetic_fit["median_iou"] == {"mean": 1.0, "std": 0.0, "n": 2}
    assert real_fit["width_ratio"]["mean"] == real_fit["height_ratio"]["mean"] == 1.0
    report = (out / "report.md").read_text()
    section = report.split("### How tight the boxes are")[1]
    assert "| real+synthetic | 1.000 ± 0.000 | 1.000 ± 0.000 | 1.000 ± 0.000 | 1.000 ± 0.000 |" in (
        section
    )


def test_verdict_says_when_real_only_was_still_climbing(real_and_synth, tmp_path, fake_training):
    real, synth = real_and_synth
    caveat = "`real` was still climbing at the end of this budget"
    climbing, flat = tmp_path / "climbing", tmp_path / "flat"
    result = invoke(*two_seed_args(real, synth, climbing), "--epochs", "5")
    assert result.exit_code == 0
    verdict = (climbing / "report.md").read_text().split("### Verdict")[1]
    assert caveat in verdict.split("| seed |")[0]  # right under the verdict sentence
    # The terminal gets the verdict and its caveat too (stderr); stdout is the report path.
    assert result.stdout.strip() == str(climbing / "report.md")
    terminal = result.stderr.splitlines()
    at = terminal.index("trainings finished: 4 of 4")
    assert terminal[at + 1].startswith(
        "real-all_ratio-all_img-32: real+synthetic is better than real by +"
    )
    assert terminal[at + 2] == "  caveat: " + caveat.replace("`", "") + (
        ": a difference measured against an unconverged baseline may not hold at convergence. "
        "Confirm it at a larger budget (--budget A,B)."
    )
    fake_training.flat = True
    result = invoke(*two_seed_args(real, synth, flat), "--epochs", "5")
    assert result.exit_code == 0
    report = (flat / "report.md").read_text()
    assert "| real | " in report and "| levelled |" in report
    assert caveat not in report
    # Levelled within one training is not convergence: one budget gets the milder caveat.
    one_budget = "`real` is not shown converged: one budget cannot show it"
    assert one_budget in report.split("### Verdict")[1].split("| seed |")[0]
    assert "  caveat: " + one_budget.replace("`", "") in result.stderr
    again = invoke("--report-only", str(flat))
    assert again.stdout.strip() == str(flat / "report.md")
    assert "real-all_ratio-all_img-32: real+synthetic is better than real" in again.stderr


def test_mosaic_off_epochs_are_judged_apart_and_shaded(real_and_synth, tmp_path, fake_training):
    """Ultralytics trains the last 10% of the epochs without mosaic; the report knows which
    ones, judges convergence on the epochs before them and shades them in the curves plot."""
    real, synth = real_and_synth
    out = tmp_path / "run"
    assert invoke(*two_seed_args(real, synth, out), "--epochs", "10").exit_code == 0
    (setting,) = json.loads((out / "results.json").read_text())["settings"]
    assert setting["mosaic_closed"] == [10]
    check = setting["arms"]["real"]["convergence"]
    assert "in the last 20% of the epochs with mosaic (epochs 8-9)" in check["note"]
    assert check["closed_gain"] == pytest.approx(0.05)  # the fake curve rises 0.05 an epoch
    assert check["note"] in (out / "report.md").read_text()
    assert (out / "plots" / f"curves_{setting['key']}.png").stat().st_size > 0


def test_verdict_says_when_a_larger_budget_beat_real_only(real_and_synth, tmp_path, fake_training):
    """A flat tail within each training does not prove convergence: when real-only's best
    val mAP rose at a larger budget of the sweep, the verdicts at both budgets say so."""
    real, synth = real_and_synth
    fake_training.flat = True  # every training looks levelled on its own
    fake_training.gain_per_image_seen = 0.001  # but 64 images seen reach higher than 32
    out = tmp_path / "run"
    args = two_seed_args(real, synth, out)
    args[args.index("32")] = "32,64"
    assert invoke(*args, "--epochs", "2").exit_code == 0
    report = (out / "report.md").read_text()
    assert "was still climbing at the end of this budget" not in report
    small, large = (
        report.split(f"## Setting `real-all_ratio-all_img-32_seen-{n}`")[1].split("\n## ")[0]
        for n in (32, 64)
    )
    under_small = small.split("### Verdict")[1].split("| seed |")[0]
    assert "`real` had not levelled off at this budget: its best val mAP50-95 rose by " in (
        under_small
    )
    assert "+0.032 at 64 images seen" in under_small
    under_large = large.split("### Verdict")[1].split("| seed |")[0]
    assert "still rose by +0.032 from 32 images seen to this budget" in under_large
    settings = json.loads((out / "results.json").read_text())["settings"]
    gains = {s["key"]: s["real_val_gain_across_budgets"] for s in settings}
    assert gains["real-all_ratio-all_img-32_seen-32"] == {"to": 64, "gain": pytest.approx(0.032)}
    assert gains["real-all_ratio-all_img-32_seen-64"] == {"from": 32, "gain": pytest.approx(0.032)}

    # Budgets that gain nothing: no caveat anywhere.
    fake_training.gain_per_image_seen = 0.0
    flat = tmp_path / "flat"
    args[args.index(str(out))] = str(flat)
    assert invoke(*args, "--epochs", "2").exit_code == 0
    report = (flat / "report.md").read_text()
    assert report.count("### Verdict") == 2
    assert "levelled off at this budget" not in report and "not shown to be" not in report


def test_train_only_real_arm_first(real_and_synth, tmp_path, fake_training):
    real, synth = real_and_synth
    out = tmp_path / "run"
    args = [str(real), "--synthetic", str(synth), "--out", str(out), "--seeds", "1",
            "--budget", "32", "--epochs", "2", "--batch", "8", "--imgsz", "32"]  # fmt: skip
    assert invoke(*args, "--arm", "real").exit_code == 0
    assert len(fake_training.calls) == 1
    assert invoke(*args).exit_code == 0
    assert len(fake_training.calls) == 2  # the real arm was kept


def test_seed_index_trains_only_those_seeds_now(real_and_synth, tmp_path, fake_training):
    """--seed-index splits a comparison seed by seed: only the chosen seeds train, the report
    names the missing ones, and a later run without it trains only the rest."""
    real, synth = real_and_synth
    out = tmp_path / "run"
    args = [str(real), "--synthetic", str(synth), "--out", str(out), "--seeds", "3",
            "--budget", "32", "--epochs", "2", "--batch", "8", "--imgsz", "32",
            "--bootstrap", "100"]  # fmt: skip
    assert invoke(*args, "--seed-index", "1,2", "--arm", "real").exit_code == 0
    seeds = sorted(p.parent.name for p in (out / "runs").rglob("result.json"))
    assert seeds == ["seed-1", "seed-2"]
    assert len(fake_training.calls) == 2
    results = json.loads((out / "results.json").read_text())
    missing = {(t["arm"], t["seed_index"]) for t in results["trainings_missing"]}
    assert missing == {("real", 0), ("real+synthetic", 0), ("real+synthetic", 1),
                       ("real+synthetic", 2)}  # fmt: skip
    assert "**incomplete run**" in (out / "report.md").read_text()
    assert invoke(*args).exit_code == 0
    assert len(fake_training.calls) == 6  # the two finished trainings were kept
    assert json.loads((out / "results.json").read_text())["trainings_missing"] == []
    for bad, shown in (("3", "3"), ("0,all", "all"), ("-1", "-1")):
        result = invoke(*args, "--seed-index", bad)
        assert result.exit_code == 1
        assert f"error: --seed-index: expected indices in 0..2 (--seeds 3), got {shown}" in (
            result.output
        )


def test_more_seeds_add_to_a_finished_run(real_and_synth, tmp_path, fake_training, monkeypatch):
    """Seed k trains the same way whatever --seeds says, so a larger --seeds extends a run
    (in its --out folder and in the default one) and trains only the new seeds; a smaller
    one is refused rather than silently dropping finished seeds."""
    monkeypatch.setenv("FACTORY_OUTPUTS", str(tmp_path / "outputs"))
    real, synth = real_and_synth
    common = [str(real), "--synthetic", str(synth), "--budget", "32", "--epochs", "2",
              "--batch", "8", "--imgsz", "32", "--bootstrap", "100"]  # fmt: skip
    out = tmp_path / "run"
    assert invoke(*common, "--out", str(out), "--seeds", "1").exit_code == 0
    assert len(fake_training.calls) == 2
    first_seed = [call["arguments"]["seed"] for call in fake_training.calls]
    result = invoke(*common, "--out", str(out), "--seeds", "2")
    assert result.exit_code == 0, result.output
    assert len(fake_training.calls) == 4
    assert [c["arguments"]["seed"] for c in fake_training.calls[2:]] != first_seed
    results = json.loads((out / "results.json").read_text())
    assert results["trainings_finished"] == results["trainings_planned"] == 4
    assert results["config"]["training"]["seeds"] == 2
    result = invoke(*common, "--out", str(out), "--seeds", "1")
    assert result.exit_code == 1
    assert f"error: {out}: holds a comparison of 2 seeds, got --seeds 1" in result.output
    assert len(list((out / "runs").rglob("result.json"))) == 4
    # the default folder does not depend on the seed count either
    assert invoke(*common, "--seeds", "1").exit_code == 0
    assert invoke(*common, "--seeds", "2").exit_code == 0
    assert len(list((tmp_path / "outputs" / "compare").iterdir())) == 1
    assert len(fake_training.calls) == 8


def test_finished_training_can_be_copied_into_another_run(real_and_synth, tmp_path, fake_training):
    """The spec digests the train list relative to its run folder, so a real arm trained in
    one run is reused by a run in another folder (here with another synthetic set), and
    result files that hashed the absolute train.txt (older runs) still count as finished."""
    real, synth = real_and_synth
    common = [str(real), "--seeds", "1", "--budget", "32", "--epochs", "2", "--batch", "8",
              "--imgsz", "32", "--bootstrap", "100"]  # fmt: skip
    first = tmp_path / "first"
    assert invoke(*common, "--arm", "real", "--out", str(first)).exit_code == 0
    assert len(fake_training.calls) == 1
    second = tmp_path / "second"
    with_synth = [*common, "--synthetic", str(synth), "--out", str(second)]
    assert invoke(*with_synth, "--arm", "real+synthetic").exit_code == 0
    assert len(fake_training.calls) == 2
    key = "real-all_ratio-all_img-32"
    shutil.copytree(first / "runs" / key / "real", second / "runs" / key / "real")
    assert invoke(*with_synth).exit_code == 0
    assert len(fake_training.calls) == 2  # the copied real arm was reused
    # An older result whose spec holds sha256(train.txt) is still finished.
    result_file = second / "runs" / key / "real" / "seed-0" / "result.json"
    record = json.loads(result_file.read_text())
    train_txt = second / "data" / key / "real" / "train.txt"
    record["spec"]["train_list_sha256"] = hashlib.sha256(train_txt.read_bytes()).hexdigest()
    result_file.write_text(json.dumps(record))
    assert invoke(*with_synth).exit_code == 0
    assert len(fake_training.calls) == 2
    # A changed train list is not finished.
    record["spec"]["train_list_sha256"] = "0" * 64
    result_file.write_text(json.dumps(record))
    assert invoke(*with_synth).exit_code == 0
    assert len(fake_training.calls) == 3


def test_budget_sweep_checks_whether_real_only_levelled_off(
    real_and_synth, tmp_path, fake_training, monkeypatch
):
    """--budget A,B trains every arm at each budget (one setting each) and the report says
    whether real-only's best validation mAP still gained from the larger budget. The test
    split plays no part in that choice of protocol."""
    from factory.compare import evaluate

    real, _ = real_and_synth
    args = [str(real), "--arm", "real", "--budget", "32,64", "--epochs", "2", "--batch", "8",
            "--imgsz", "32", "--seeds", "1", "--bootstrap", "100"]  # fmt: skip

    def better_test_with_budget(weights, records, imgsz, device):
        # exact boxes for the larger budget, boxes 3 px off for the smaller one
        detections = fake_predict(weights, records, imgsz, device)
        if Path(weights).parts[-6].endswith("_seen-64"):
            return [dataclasses.replace(d, pred_xyxy=d.gt_xyxy) for d in detections]
        return detections

    # The same validation curve at both budgets, a far better test score at the larger one:
    # levelled, since the test split does not decide the budget.
    monkeypatch.setattr(evaluate, "predict_test", better_test_with_budget)
    flat = tmp_path / "flat"
    assert invoke(*args, "--out", str(flat)).exit_code == 0
    seen = [len(c["train_list"]) * c["arguments"]["epochs"] for c in fake_training.calls]
    assert seen == [32, 64]
    results = json.loads((flat / "results.json").read_text())
    keys = {s["key"] for s in results["settings"]}
    assert keys == {"real-all_ratio-all_img-32_seen-32", "real-all_ratio-all_img-32_seen-64"}
    tests = [s["arms"]["real"]["metrics"]["map50_95"]["mean"] for s in results["settings"]]
    assert abs(tests[0] - tests[1]) > 0.1
    (check,) = results["budget_checks"]
    assert check["status"] == "levelled" and check["gain"] == 0
    assert (flat / "plots" / "map_vs_images_seen.png").is_file()
    report = (flat / "report.md").read_text()
    assert "real-only best val mAP50-95 by budget: 32 images: 0.150; 64 images: 0.150" in report
    assert "**levelled off by 32 images seen**" in report
    # ... but the reader is told the test split gained past the tolerance meanwhile.
    assert check["test_gain"] == pytest.approx(tests[1] - tests[0])
    assert f"changed by {tests[1] - tests[0]:+.3f} from 32 to 64 images seen" in report
    assert "the test split does not bear out the level" in report

    # A validation curve that reaches higher with the larger budget: still climbing.
    fake_training.gain_per_image_seen = 0.001
    climbing = tmp_path / "climbing"
    assert invoke(*args, "--out", str(climbing)).exit_code == 0
    (check,) = json.loads((climbing / "results.json").read_text())["budget_checks"]
    assert check["status"] == "climbing" and check["gain"] == pytest.approx(0.032)
    climbing_report = (climbing / "report.md").read_text()
    assert "real-only had **not levelled off** at 32" in climbing_report
    assert "bear out" not in climbing_report  # a test gain is only flagged against a level
    # one budget: no check, keys without the budget
    single = tmp_path / "single"
    assert invoke(*[a if a != "32,64" else "32" for a in args], "--out", str(single)).exit_code == 0
    results = json.loads((single / "results.json").read_text())
    assert results["budget_checks"] == []
    assert results["settings"][0]["key"] == "real-all_ratio-all_img-32"
    for bad, message in (
        ("32,32", "--budget values must differ"),
        ("0", "--budget must be positive"),
    ):
        result = invoke(*[a if a != "32,64" else bad for a in args], "--out", str(tmp_path / "x"))
        assert result.exit_code == 1 and message in result.output, result.output


def test_ratio_sweep_with_all_trains_the_real_arm_once(real_and_synth, tmp_path, fake_training):
    real, synth = real_and_synth
    out = tmp_path / "run"
    result = invoke(
        str(real), "--synthetic", str(synth), "--out", str(out), "--seeds", "1",
        "--budget", "32", "--batch", "8", "--imgsz", "32", "--synthetic-ratio", "0.5,all",
        "--bootstrap", "100",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(fake_training.calls) == 3  # real once, real+synthetic per ratio
    results = json.loads((out / "results.json").read_text())
    settings = {s["key"]: s for s in results["settings"]}
    assert set(settings) == {"real-all_ratio-0.5_img-32", "real-all_ratio-all_img-32"}
    for setting in settings.values():
        assert set(setting["arms"]) == {"real", "real+synthetic"}
        assert len(setting["comparisons"]) == 1
    assert results["trainings_missing"] == []


def test_train_list_digest_ignores_the_folder_but_not_the_content(tmp_path):
    from factory.compare.runner import train_list_digest

    def arm(folder: Path, label: str) -> Path:
        (folder / "images" / "train").mkdir(parents=True)
        (folder / "labels" / "train").mkdir(parents=True)
        (folder / "images" / "train" / "r_a.png").write_bytes(b"pixels")
        (folder / "labels" / "train" / "r_a.txt").write_text(label)
        image = folder.resolve() / "images" / "train" / "r_a.png"
        (folder / "train.txt").write_text(f"{image}\n{image}\n")
        return folder

    one = train_list_digest(arm(tmp_path / "one", "0 0.5 0.5 0.1 0.1\n"))
    assert train_list_digest(arm(tmp_path / "two", "0 0.5 0.5 0.1 0.1\n")) == one
    assert train_list_digest(arm(tmp_path / "three", "1 0.5 0.5 0.1 0.1\n")) != one


def test_refuses_training_on_a_test_image(real_and_synth, tmp_path, fake_training):
    real, synth = real_and_synth
    test_image = sorted((real / "images" / "test").iterdir())[0]
    shutil.copyfile(test_image, synth / "images" / "train" / "syn_000099.png")
    result = invoke(str(real), "--synthetic", str(synth), "--out", str(tmp_path / "run"),
                    "--seeds", "1", "--budget", "16", "--batch", "8", "--imgsz", "32")  # fmt: skip
    assert result.exit_code == 1
    assert "would train on a locked test image" in result.output


def test_cli_errors(tmp_path, real_and_synth):
    real, synth = real_and_synth
    unlocked = make_tiny_dataset(tmp_path / "unlocked", lock=False)
    result = invoke(str(unlocked), "--synthetic", str(synth))
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: {unlocked}: dataset has no test lock; run `factory split` first so the test "
        "set is frozen before comparing"
    )
    result = invoke(str(real), "--preset", "huge")
    assert (
        result.output.strip()
        == "error: --preset: unknown preset 'huge'; choose one of: quick, full"
    )
    other = make_tiny_dataset(tmp_path / "other", seed=5)
    result = invoke(str(other), "--synthetic", str(synth))
    assert result.output.strip() == (
        f"error: {synth}: synthetic set does not carry the test lock of {other} "
        "(was it made from another dataset or split?)"
    )
    result = invoke("--report-only", str(tmp_path))
    assert result.output.strip() == f"error: {tmp_path}: not a compare run folder (no config.json)"
    result = invoke(str(real), "--synthetic", str(synth), "--imgsz", "32,abc")
    assert result.output.strip() == "error: --imgsz: expected a comma list of numbers, got '32,abc'"
    result = invoke(str(real), "--synthetic", str(synth), "--hyp", "epochs=500")
    assert result.output.strip() == (
        "error: --hyp: epochs is set by compare itself (budget, offline and fairness "
        "settings); use the matching compare option"
    )
    result = invoke(str(real), "--synthetic", str(synth), "--model", "missing.pt")
    assert result.output.strip() == (
        "error: missing.pt: checkpoint not found (--model takes a local .pt)"
    )


def test_offline_font_check_is_neutralised(monkeypatch):
    train_module.prepare_ultralytics()
    import ultralytics.data.utils as data_utils
    import ultralytics.utils.downloads as downloads

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(downloads, "safe_download", no_network)
    monkeypatch.setattr(downloads, "is_url", no_network)
    assert data_utils.check_font("Arial.Unicode.ttf") is None


def test_tiny_end_to_end_with_real_training(real_and_synth, tmp_path):
    """A real (1 epoch, 32 px) YOLOv8n comparison, checked through report.md and results.json."""
    real, synth = real_and_synth
    out = tmp_path / "run"
    result = invoke(
        str(real), "--synthetic", str(synth), "--out", str(out), "--seeds", "2",
        "--budget", "16", "--epochs", "1", "--batch", "8", "--imgsz", "32",
        "--bootstrap", "100", "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["trainings_finished"] == results["trainings_planned"] == 4
    assert results["versions"]["ultralytics"]
    assert results["versions"]["logical_cpus"] == os.cpu_count()
    timed_on = f"CPU ms/img was timed on {describe_cpu(machine_module.machine())}, batch 1."
    assert timed_on in " ".join((out / "report.md").read_text().split())
    assert results["config"]["training"]["images_seen"] == 16
    setting = results["settings"][0]
    assert setting["budget"] == {"epochs": 1, "epoch_size": 16, "batch": 8, "images_seen": 16,
                                 "batches": 2}  # fmt: skip
    for arm in ("real", "real+synthetic"):
        data = setting["arms"][arm]
        assert data["seeds"] == [0, 1]
        assert data["metrics"]["map50_95"]["n"] == 2
        assert set(data["per_class"]) == {"particle", "scratch", "stain"}
        assert data["params"] > 1_000_000  # yolov8n: about 3 M
        assert data["cpu_latency_ms"]["mean"] > 0
        assert data["latency_cpus"] == [describe_cpu(machine_module.machine())]
        assert len(setting["curves"][arm]) == 2 and len(setting["curves"][arm][0]) == 1
    comparison = setting["comparisons"][0]
    assert comparison["arm"] == "real+synthetic" and len(comparison["seed_differences"]) == 2
    assert comparison["bootstrap"]["test_images"] == 4
    assert results["crosscheck"]["ultralytics"].keys() == results["crosscheck"]["factory"].keys()
    report = (out / "report.md").read_text()
    for text in ("## Protocol", "images seen", "### Verdict", "distinguishable from noise",
                 "### Per-class test AP50-95", "| real+synthetic |",
                 "Cross-check against ultralytics", "plots/curves_",
                 "### Where each arm loses", "class-blind",
                 "### How tight the boxes are"):  # fmt: skip
        assert text in report
    diagnosis = setting["arms"]["real"]["diagnosis"]
    assert diagnosis["test_boxes"] > 0
    shares = [diagnosis[k]["mean"] for k in ("found", "wrong_class", "missed")]
    assert sum(shares) == pytest.approx(1.0)
    # a 1-epoch model may match no box: its box-fit medians are left out, never an error
    assert {"map75", "median_iou", "width_ratio", "height_ratio"} <= diagnosis.keys()
    for plot in setting["plots"]:
        assert (out / plot).read_bytes()[:4] == b"\x89PNG"
    # nothing written into the input datasets
    assert not list(real.rglob("*.cache")) and not list(synth.rglob("*.cache"))


def tiny_real_training(real: Path, out: Path, budget: int = 48) -> list[str]:
    """A real ultralytics training of 3 tiny epochs: the command line."""
    return [str(real), "--arm", "real", "--seeds", "1", "--budget", str(budget), "--epochs", "3",
            "--batch", "8", "--imgsz", "32", "--bootstrap", "100", "--device", "cpu",
            "--out", str(out)]  # fmt: skip


@pytest.fixture
def pause_after_first_epoch(monkeypatch):
    """With --stop-after, the deadline "passes" at the end of the first epoch."""
    monkeypatch.setattr(
        train_module, "pause_due", lambda deadline, done, epochs, now: deadline and done == 1
    )


def test_real_training_paused_by_stop_after_resumes_from_last_pt(
    real_and_synth, tmp_path, monkeypatch, pause_after_first_epoch
):
    """With ultralytics itself: a pause leaves a resumable last.pt (optimizer kept, not
    stripped by a final validation) and no result; the same command finishes all epochs."""
    import torch

    real, _ = real_and_synth
    out = tmp_path / "run"
    args = tiny_real_training(real, out)
    result = invoke(*args, "--stop-after", "2h")
    assert result.exit_code == 0, result.output
    assert "after epoch 1 of 3 (last.pt saved)" in " ".join(result.output.split())
    training = out / "runs" / "real-all_ratio-all_img-32" / "real" / "seed-0"
    assert not (training / "result.json").exists() and not (out / "report.md").exists()
    last = training / "train/weights/last.pt"
    checkpoint = torch.load(last, weights_only=False)
    assert checkpoint["epoch"] == 0 and checkpoint["optimizer"] is not None
    assert train_module.epochs_done(training) == 1
    # as if the first sitting ran on a GPU machine: the resume here must run on the CPU,
    # not fail on device 0 and start over
    checkpoint["train_args"].update(device="0", workers=2)
    torch.save(checkpoint, last)
    # and as if paused before sittings were recorded: ultralytics' args.yaml names the device
    stage = training / "train"
    assert json.loads((stage / "sittings.json").read_text())[0]["device"] == "cpu"
    (stage / "sittings.json").unlink()
    args_yaml = (stage / "args.yaml").read_text()
    assert "device: cpu\n" in args_yaml and "workers: 0\n" in args_yaml
    (stage / "args.yaml").write_text(
        args_yaml.replace("device: cpu\n", "device: '0'\n").replace("workers: 0\n", "workers: 2\n")
    )
    monkeypatch.setenv("FACTORY_NO_PROGRESS", "0")  # to see the epoch lines
    # --threads: a count ultralytics would not choose here, set back after the test
    from ultralytics.utils import NUM_THREADS, torch_utils

    threads = NUM_THREADS + 1
    monkeypatch.setattr(torch_utils, "NUM_THREADS", NUM_THREADS)
    before = torch.get_num_threads()
    try:
        result = invoke(*args, "--threads", str(threads))
        used = torch.get_num_threads()  # ultralytics sets it at each training and prediction
    finally:
        torch.set_num_threads(before)
    assert result.exit_code == 0, result.output
    assert used == threads
    here = describe_sitting(machine_module.machine(), "cpu", threads)
    assert f"compare: machine: {here}\n" in result.output
    # each epoch line names its training and, timed on this sitting, what is left of it
    lines = re.findall(r"epoch (\d)/3: val mAP50-95 [0-9.]+  \[(.+?)\]", result.output)
    assert [epoch for epoch, _ in lines] == ["2", "3"], result.output
    assert lines[0][1].startswith("real-all_ratio-all_img-32 / real / seed 0; ")
    assert re.fullmatch(r".+; \S+ an epoch, \S+ left", lines[0][1])
    assert re.fullmatch(r".+; \S+ an epoch", lines[1][1])  # nothing left after the last
    results = json.loads((out / "results.json").read_text())
    assert results["trainings_finished"] == 1
    curve = results["trainings"][0]["train"]["curve"]
    assert [p["epoch"] for p in curve] == [1, 2, 3]
    assert results["trainings"][0]["train"]["resumed_after"] == [1]
    assert (results["trainings"][0]["device"], results["trainings"][0]["workers"]) == ("cpu", 0)
    # the first sitting is the unrecorded one (no machine); the resuming one names this machine
    last_sitting = results["trainings"][0]["train"]["sittings"][-1]
    assert last_sitting.pop("machine") == machine_module.machine()
    assert results["trainings"][0]["train"]["sittings"] == [
        {"after_epoch": 0, "device": "0", "workers": 2, "stage": "train"},
        {"after_epoch": 1, "device": "cpu", "workers": 0, "threads": threads, "stage": "train"},
    ]
    assert results["trainings"][0]["threads"] == threads
    assert "`real`: seed 0 on GPU 0 for epoch 1 then on cpu for epochs 2–3" in " ".join(
        (out / "report.md").read_text().split()
    )


def test_paused_training_kept_by_keep_run_resumes_on_a_new_machine(
    real_and_synth, tmp_path, pause_after_first_epoch
):
    """bench/keep_run.py save-paused / restore-paused, with ultralytics itself: a training
    paused in one run folder, kept, and put back into a fresh one (a new machine: outputs/
    gone) resumes there after its saved epoch and finishes, rather than starting over."""
    import torch

    keep_run = load_bench_script("keep_run")
    real, _ = real_and_synth
    out = tmp_path / "run"
    args = tiny_real_training(real, out, budget=192)  # enough batches for optimizer steps
    assert invoke(*args, "--stop-after", "2h").exit_code == 0
    kept = tmp_path / "kept"
    assert keep_run.save_paused(out, kept) == 1
    training = Path("real-all_ratio-all_img-32") / "real" / "seed-0"
    stage = kept / "paused" / training / "train"
    assert sorted(p.name for p in stage.iterdir()) == [
        "args.yaml", "results.csv", "sittings.json", "weights"
    ]  # fmt: skip
    original = torch.load(out / "runs" / training / "train/weights/last.pt", weights_only=False)
    last = torch.load(stage / "weights/last.pt", weights_only=False)
    best = torch.load(stage / "weights/best.pt", weights_only=False)
    assert best["optimizer"] is None and best["ema"] is not None
    moments = [(index, key) for index, state in original["optimizer"]["state"].items()
               for key in state if key != "step"]  # fmt: skip
    assert {key for _, key in moments} == {"exp_avg", "exp_avg_sq"}  # AdamW
    for index, key in moments:
        assert last["optimizer"]["state"][index][key].dtype == torch.bfloat16
        assert original["optimizer"]["state"][index][key].dtype == torch.float32

    saved_paused = tmp_path / "saved-paused"
    shutil.copytree(kept / "paused", saved_paused)

    # A new machine: no run folder. Restored (moments back in fp32, rounded through bf16),
    # the same command resumes after epoch 1.
    shutil.rmtree(out)
    assert keep_run.restore_paused(kept, out) == 1
    assert train_module.epochs_done(out / "runs" / training) == 1
    restored = torch.load(out / "runs" / training / "train/weights/last.pt", weights_only=False)
    for index, key in moments:
        value = original["optimizer"]["state"][index][key]
        assert torch.equal(
            restored["optimizer"]["state"][index][key], value.to(torch.bfloat16).float()
        )
    assert restored["epoch"] == original["epoch"] == 0
    assert keep_run.restore_paused(kept, out) == 0  # already there, left alone
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    (record,) = json.loads((out / "results.json").read_text())["trainings"]
    assert [p["epoch"] for p in record["train"]["curve"]] == [1, 2, 3]
    assert record["train"]["resumed_after"] == [1]
    # Finished now: a later save keeps no paused training (the old paused/ goes), and a
    # finished training is never replaced by a kept paused one.
    assert keep_run.restore_paused(kept, out) == 0
    assert (out / "runs" / training / "result.json").is_file()
    assert keep_run.save_paused(out, kept) == 0 and not (kept / "paused").exists()
    with pytest.raises(SystemExit, match="no paused training kept"):
        keep_run.restore_paused(kept, tmp_path / "elsewhere")
    # Kept state never goes into a run folder locked to another test split.
    shutil.copytree(saved_paused, kept / "paused")
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "test_lock_sha256": "other"}))
    shutil.rmtree(out / "runs")
    with pytest.raises(SystemExit, match="paused on another test split"):
        keep_run.restore_paused(kept, out)


def test_fine_tune_with_frozen_then_unfrozen_stages(real_and_synth, tmp_path, fake_training):
    real, synth = real_and_synth
    checkpoint = tmp_path / "local.pt"
    checkpoint.write_bytes(b"weights")
    args = [str(real), "--synthetic", str(synth), "--out", str(tmp_path / "run"), "--seeds", "1",
            "--budget", "80", "--epochs", "10", "--batch", "8", "--imgsz", "32",
            "--model", str(checkpoint), "--freeze", "5"]  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    calls = fake_training.calls
    assert len(calls) == 4  # 2 arms x (frozen stage, unfrozen stage)
    for frozen, unfrozen in (calls[0:2], calls[2:4]):
        assert frozen["model"] == str(checkpoint)
        assert (frozen["arguments"]["freeze"], frozen["arguments"]["epochs"]) == (5, 3)
        assert (unfrozen["arguments"]["freeze"], unfrozen["arguments"]["epochs"]) == (None, 7)
        assert unfrozen["model"] == str(
            Path(frozen["arguments"]["project"]) / "frozen/weights/last.pt"
        )
        # each stage counts its own epochs, so its lines name the stage
        assert frozen["label"].endswith(" / seed 0 / frozen stage")
        assert unfrozen["label"] == frozen["label"].replace("frozen stage", "unfrozen stage")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    curve = results["trainings"][0]["train"]["curve"]
    assert [p["epoch"] for p in curve] == list(range(1, 11))  # both stages, one curve
    assert results["trainings"][0]["spec"]["budget"]["images_seen"] == 80


def test_parallel_trainings_match_sequential_ones(real_and_synth, tmp_path):
    """--parallel runs trainings in spawned processes; each result equals the sequential one."""
    real, _ = real_and_synth
    args = [str(real), "--seeds", "2", "--arm", "real", "--budget", "16", "--epochs", "1",
            "--batch", "8", "--imgsz", "32", "--bootstrap", "100", "--device", "cpu"]  # fmt: skip
    results = {}
    for parallel in (1, 2):
        out = tmp_path / f"run-{parallel}"
        result = invoke(*args, "--out", str(out), "--parallel", str(parallel))
        assert result.exit_code == 0, result.output
        runs = sorted((out / "runs").rglob("result.json"))
        assert len(runs) == 2
        results[parallel] = [json.loads(p.read_text()) for p in runs]
        assert {r["parallel"] for r in results[parallel]} == {parallel}
        report = (out / "report.md").read_text()
        assert ("trainings ran at once" in report) == (parallel > 1)
    for one, two in zip(results[1], results[2], strict=True):
        # same seeds, budgets and train lists (digested relative to each run folder)
        assert one["spec"] == two["spec"]
        assert one["metrics"]["map50_95"] == two["metrics"]["map50_95"]
        # gradients differ with torch's CPU threads, so --parallel must not change them
        assert one["threads"] == two["threads"]
    result = invoke(*args, "--out", str(tmp_path / "bad"), "--parallel", "0")
    assert result.exit_code == 1
    assert "error: --parallel must be at least 1, got 0" in result.output
    result = invoke(*args, "--out", str(tmp_path / "bad"), "--threads", "0")
    assert result.exit_code == 1
    assert "error: --threads must be at least 1, got 0" in result.output


def test_pair_trainings_script_matches_the_report(real_and_synth, tmp_path, fake_training):
    """bench/pair_trainings.py (pairing trainings across run folders) gives the same paired
    per-seed differences and verdict as the report of the run that holds both arms."""
    real, synth = real_and_synth
    out = tmp_path / "run"
    result = invoke(str(real), "--synthetic", str(synth), "--out", str(out), "--seeds", "2",
                    "--budget", "32", "--epochs", "2", "--batch", "8", "--imgsz", "32",
                    "--bootstrap", "200")  # fmt: skip
    assert result.exit_code == 0, result.output
    module = load_bench_script("pair_trainings")
    runs = out / "runs" / "real-all_ratio-all_img-32"
    pairs = [(runs / "real" / f"seed-{k}", runs / "real+synthetic" / f"seed-{k}") for k in (0, 1)]
    paired = module.pair_statistics(pairs, 200, ("real", "real+synthetic"))
    (setting,) = json.loads((out / "results.json").read_text())["settings"]
    (comparison,) = setting["comparisons"]
    assert [p["difference"] for p in paired["pairs"]] == pytest.approx(
        comparison["seed_differences"]
    )
    assert paired["difference"]["mean"] > 0.2  # exact boxes against boxes 3 px off
    low, high = paired["ci95"]
    assert low <= paired["difference"]["mean"] <= high
    assert paired["verdict"]["distinguishable"] == comparison["verdict"]["distinguishable"]
    assert paired["verdict"]["sentence"].startswith("`real+synthetic` is better than `real`")


def test_kept_trainings_restore_into_a_fresh_run_folder(real_and_synth, tmp_path, fake_training):
    """bench/keep_run.py: a run saved with its test predictions resumes and re-reports in a
    fresh folder unchanged; one kept as results.json alone still gives metrics and per-seed
    differences, and the report says which seeds the bootstrap could not resample."""
    keep_run = load_bench_script("keep_run")
    real, synth = real_and_synth
    out = tmp_path / "run"
    args = [str(real), "--synthetic", str(synth), "--out", str(out), "--seeds", "2",
            "--budget", "32", "--epochs", "2", "--batch", "8", "--imgsz", "32",
            "--bootstrap", "100"]  # fmt: skip
    assert invoke(*args).exit_code == 0
    original = json.loads((out / "results.json").read_text())["settings"][0]["comparisons"][0]
    kept = tmp_path / "kept"
    assert keep_run.save(out, kept) == 4
    with pytest.raises(SystemExit, match=r"no config\.json"):
        keep_run.restore(kept, tmp_path / "nowhere", None, None)

    # A fresh checkout: the run folder is gone; one training is redone, the rest restored.
    shutil.rmtree(out)
    assert invoke(*args, "--arm", "real+synthetic", "--seed-index", "1").exit_code == 0
    # Kept trainings that a compare has begun to retrain, or that --skip names, stay out.
    records = json.loads((kept / "results.json").read_text())["trainings"]
    real_seed_0 = next(r for r in records if (r["arm"]["name"], r["seed_index"]) == ("real", 0))
    begun = keep_run.training_folder(out / "runs", real_seed_0)
    begun.mkdir(parents=True)
    (begun / "spec.json").write_text("{}")
    skip = [keep_run.parse_skip("real:1")]
    assert skip == [("real", {1})]
    assert keep_run.restore(kept, out, None, None, skip) == 1  # real+synthetic seed 0 only
    assert not (begun / "result.json").is_file()
    shutil.rmtree(begun)
    assert keep_run.restore(kept, out, None, None) == 2  # the retrained one is kept
    assert keep_run.parse_skip("real+synthetic:0,1") == ("real+synthetic", {0, 1})
    with pytest.raises(SystemExit, match="ARM:SEEDS"):
        keep_run.parse_skip("real")
    assert invoke(*args).exit_code == 0
    assert len(fake_training.calls) == 5  # nothing else was trained again
    again = json.loads((out / "results.json").read_text())["settings"][0]["comparisons"][0]
    assert again["bootstrap"] == original["bootstrap"]
    assert again["verdict"] == original["verdict"]

    # Only results.json kept (runs saved before keep_run.py existed): the real arm comes
    # back without predictions, so no seed can be resampled.
    json_only = tmp_path / "json-only"
    json_only.mkdir()
    shutil.copy2(kept / "results.json", json_only / "results.json")

    def fresh_run_with(restores):
        shutil.rmtree(out)
        assert invoke(*args, "--arm", "real+synthetic", "--seed-index", "1").exit_code == 0
        for saved, arms, count in restores:
            assert keep_run.restore(saved, out, arms, None) == count
        result = invoke("--report-only", str(out))
        assert result.exit_code == 0, result.output
        (setting,) = json.loads((out / "results.json").read_text())["settings"]
        (comparison,) = setting["comparisons"]
        assert comparison["seed_differences"] == pytest.approx(original["seed_differences"])
        return setting, comparison, (out / "report.md").read_text()

    setting, comparison, report = fresh_run_with([(json_only, None, 3)])
    assert comparison["bootstrap"] is None
    assert not comparison["verdict"]["distinguishable"]
    assert "no bootstrap over test images" in comparison["verdict"]["sentence"]
    assert setting["arms"]["real"]["seeds_without_predictions"] == [0, 1]
    assert "`real`: seeds 0, 1 restored without test predictions" in report
    assert "No bootstrap over test images" in report

    # The real arm with its predictions, real+synthetic seed 0 without: seed 1 only.
    setting, comparison, report = fresh_run_with(
        [(json_only, ["real+synthetic"], 1), (kept, ["real"], 2)]
    )
    assert comparison["bootstrap"]["seeds"] == [1]
    assert "95% CI over test images, seed 1 only" in comparison["verdict"]["sentence"]
    assert setting["arms"]["real+synthetic"]["seeds_without_predictions"] == [0]
    assert "seed 1 only (the others' test predictions were not kept)" in report


def test_budget_curve_script_collects_runs_of_separate_budgets(
    real_and_synth, tmp_path, fake_training
):
    """bench/budget_curve.py puts runs trained at separate budgets on one curve per real
    count, with each run's own verdict and the factory's cross-budget check on real-only."""
    budget_curve = load_bench_script("budget_curve")
    real, synth = real_and_synth
    runs = []
    for budget in (64, 32):  # out of order on purpose
        out = tmp_path / f"run-{budget}"
        result = invoke(str(real), "--synthetic", str(synth), "--out", str(out), "--seeds", "2",
                        "--budget", str(budget), "--epochs", "2", "--batch", "8",
                        "--imgsz", "32", "--bootstrap", "100")  # fmt: skip
        assert result.exit_code == 0, result.output
        runs.append(out)
    curves = budget_curve.load_points(runs, "real+synthetic")
    (real_count,) = curves
    text, checks = budget_curve.render(curves, "real+synthetic")
    settings = {p.name: json.loads((p / "results.json").read_text())["settings"][0] for p in runs}
    rows = [line for line in text.splitlines() if line.startswith("| 32 |") or "| 64 |" in line]
    assert [row.split(" | ")[0] for row in rows] == ["| 32", "| 64"]  # sorted by budget
    for row, name in zip(rows, ("run-32", "run-64"), strict=True):
        comparison = settings[name]["comparisons"][0]
        assert f"{comparison['verdict']['mean_difference']:+.3f}" in row
        assert f"`{name}`" in row
    # The cross-budget check reads validation, as factory compare does.
    vals = [settings[n]["arms"]["real"]["best_val_map50_95"]["mean"] for n in ("run-32", "run-64")]
    expected = budget_curve.budget_convergence([(32, vals[0]), (64, vals[1])])
    assert checks[real_count]["status"] == expected["status"] != "unknown"
    assert f"- Budget check: {expected['sentence']}" in text
    test_means = [
        settings[n]["arms"]["real"]["metrics"]["map50_95"]["mean"] for n in ("run-32", "run-64")
    ]
    assert (
        f"real-only test mAP50-95 changed by {test_means[1] - test_means[0]:+.3f} from 32 to 64"
        in text
    )
    # Results written before arms carried best_val_map50_95 give the same, from the trainings.
    for run in runs:
        results = json.loads((run / "results.json").read_text())
        for arm in results["settings"][0]["arms"].values():
            del arm["best_val_map50_95"]
        (run / "old.json").write_text(json.dumps(results))
    old_curves = budget_curve.load_points([run / "old.json" for run in runs], "real+synthetic")
    assert budget_curve.render(old_curves, "real+synthetic")[0] == text
    # --seed-index 1: each run's seed-1 trainings only, paired by seed, no CI or verdict.
    (seed_curve,) = budget_curve.load_points(runs, "real+synthetic", [1]).values()
    for point in seed_curve:
        trainings = json.loads((tmp_path / point["run"] / "results.json").read_text())["trainings"]
        test = {
            t["arm"]["name"]: t["metrics"]["map50_95"] for t in trainings if t["seed_index"] == 1
        }
        val = [t["train"]["best_val_map50_95"] for t in trainings
               if t["seed_index"] == 1 and t["arm"]["name"] == "real"]  # fmt: skip
        assert (point["real"]["seeds"], point["other"]["seeds"]) == (1, 1)
        assert point["real"]["mean"] == test["real"]
        assert point["seed_differences"] == [test["real+synthetic"] - test["real"]]
        assert point["real"]["best_val"] == val[0]
        assert (point["ci"], point["verdict"]) == (None, "-")
    # A run that trained only real-only at a larger budget (`--arm real`): its point shows
    # "-" for the other arm, and its best val takes part in the budget check.
    real_only = tmp_path / "run-128"
    result = invoke(str(real), "--synthetic", str(synth), "--out", str(real_only), "--seeds", "2",
                    "--budget", "128", "--epochs", "2", "--batch", "8", "--imgsz", "32",
                    "--bootstrap", "100", "--arm", "real")  # fmt: skip
    assert result.exit_code == 0, result.output
    (real_count,) = curves = budget_curve.load_points([*runs, real_only], "real+synthetic")
    text, checks = budget_curve.render(curves, "real+synthetic")
    (point,) = [p for p in curves[real_count] if p["images_seen"] == 128]
    assert point["other"] is None and point["difference"] is None
    (row,) = [line for line in text.splitlines() if line.startswith("| 128 |")]
    assert row.startswith("| 128 | 2 / 0 | ") and " | - | - | - | - | " in row
    climbing = "real" if point["real"]["within_training"] == "climbing" else "neither"
    assert row.endswith(f"{point['real']['best_val']:.3f} / - | {climbing} | `run-128` |")
    real_val = json.loads((real_only / "results.json").read_text())["settings"][0]["arms"]
    vals.append(real_val["real"]["best_val_map50_95"]["mean"])
    expected = budget_curve.budget_convergence(list(zip((32, 64, 128), vals, strict=True)))
    assert checks[real_count]["sentence"] == expected["sentence"]
    (seed_point,) = budget_curve.load_points([real_only], "x", [0])[real_count]
    assert seed_point["other"] is None and seed_point["real"]["seeds"] == 1
    # Two runs at the same budget cannot share a curve.
    with pytest.raises(SystemExit, match="two runs at the same budget"):
        budget_curve.render(budget_curve.load_points([runs[0], runs[0]], "real+synthetic"), "x")
    with pytest.raises(SystemExit, match=r"no results\.json"):
        budget_curve.load_points([tmp_path], "real+synthetic")


def test_sitting_factor_values_sort_digit_runs_as_numbers():
    """Thread count 8 comes before 10 and torch 2.9 before 2.10, in a training's values and in
    the report's line (text order would put 10 and 2.10 first)."""
    sittings = [
        {"after_epoch": 0, "threads": 10, "machine": {"cpu": "x", "torch": "2.10.0"}},
        {"after_epoch": 5, "threads": 8, "machine": {"cpu": "x", "torch": "2.9.1"}},
    ]
    factors = report_module.sitting_factors({"train": {"sittings": sittings}})
    assert factors == {"cpu": ["x"], "threads": [8, 10], "torch": ["2.9.1", "2.10.0"]}
    setting = {
        "arms": {"real": {"sitting_factors": {"0": {"threads": [10]}, "1": {"threads": [8]}}}}
    }
    assert report_module._differing_factors(setting) == [
        "threads: 8 (`real`: seed 1), 10 (`real`: seed 0)"
    ]


def test_report_says_when_sittings_differ_in_what_changes_the_arithmetic(
    real_and_synth, tmp_path, fake_training
):
    """Trainings of one setting that ran with other torch threads, CPUs or training packages
    are named per value; a seed whose two arms differ is named as an unlike pair. Sittings
    that recorded nothing (older runs) are not counted."""
    real, synth = real_and_synth
    out = tmp_path / "run"
    assert invoke(*two_seed_args(real, synth, out)).exit_code == 0
    report = " ".join((out / "report.md").read_text().split())
    assert "Sittings differ" not in report  # one machine, one thread count
    (first,) = (out / "runs").glob("*/real/seed-0/result.json")
    threads = json.loads(first.read_text())["train"]["sittings"][0]["threads"]
    assert threads  # ultralytics' own count, recorded

    def edit(arm: str, seed: int, threads, torch=None, unrecorded=False):
        (path,) = (out / "runs").glob(f"*/{arm}/seed-{seed}/result.json")
        result = json.loads(path.read_text())
        for sitting in result["train"]["sittings"]:
            sitting["threads"] = threads
            if torch:
                sitting["machine"]["torch"] = torch
        if unrecorded:  # a sitting from before machines were recorded
            result["train"]["sittings"].append({"after_epoch": 1, "device": "cpu"})
        path.write_text(json.dumps(result))

    other = threads + 1  # not 8: a 9-CPU machine's own count
    edit("real", 1, other, unrecorded=True)
    edit("real+synthetic", 1, other)
    assert invoke("--report-only", str(out)).exit_code == 0
    report = " ".join((out / "report.md").read_text().split())
    assert (
        f"Sittings differ in threads: {threads} (`real`: seed 0; `real+synthetic`: seed 0), "
        f"{other} (`real`: seed 1; `real+synthetic`: seed 1). Each can change a training's "
        "arithmetic, by about as much as another seed. Each seed's arms match" in report
    )
    results = json.loads((out / "results.json").read_text())
    (setting,) = results["settings"]
    assert setting["arms"]["real"]["sitting_factors"]["1"]["threads"] == [other]

    edit("real+synthetic", 0, threads, torch="9.9.9")
    assert invoke("--report-only", str(out)).exit_code == 0
    report = " ".join((out / "report.md").read_text().split())
    installed = machine_module.package_version("torch")
    assert (
        f"torch: {installed} (`real`: seeds 0, 1; `real+synthetic`: seed 1), "
        "9.9.9 (`real+synthetic`: seed 0)" in report
    )
    assert "The two arms of seed 0 differ here, so that difference mixes the arm with" in report
