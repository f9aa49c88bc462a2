"""Rerunning a run: a resume with settings that change the training stops (naming them)
unless accepted; what killed saves and exports left is cleaned at start; a finished run is
not exported twice."""

import json
import os
import socket
import subprocess

import pytest

from bertlab.tasks import train_and_export
from bertlab.training import OptimizerConfig, TrainerConfig, run_experiment
from bertlab.training.run_config import (RUN_CONFIG_FILE, RunConfigMismatchError,
                                         check_resume, config_changes)
from toy_task import ToyTask


def _trainer_config(**changes):
    settings = dict(train_steps=2, global_batch_size=8, steps_per_loop=1, log_interval=1,
                    checkpoint_interval=0, eval_at_end=False)
    return TrainerConfig(**{**settings, **changes})


def test_config_changes_name_the_settings_that_change_the_training():
    saved = {"trainer": {"global_batch_size": 32, "log_interval": 100, "seed": 0},
             "optimizer": {"learning_rate": 1e-4, "weight_decay_exclude": ["bias$"]},
             "task": "TextClassificationTask",
             "task_config": {"data": {"train": "sst2/train.tsv", "report": ""},
                             "eval_batch_size": 64, "encoder": {"num_layers": 6}},
             "accepted_changes": [{"step": 5, "setting": "trainer.seed"}]}
    new = {"trainer": {"global_batch_size": 16, "log_interval": 10, "seed": 0},
           "optimizer": {"learning_rate": 1e-4, "weight_decay_exclude": ["bias$", "gamma"]},
           "task": "TextClassificationTask",
           "task_config": {"data": {"train": "sst2/other.tsv", "report": "dev.tsv"},
                           "eval_batch_size": 128, "encoder": {"num_layers": 6},
                           "pooling": "mean"}}
    changes = config_changes(saved, new)
    assert [key for key, _, _ in changes] == [
        "optimizer.weight_decay_exclude", "task_config.data.train", "task_config.pooling",
        "trainer.global_batch_size"]
    assert changes[-1] == ("trainer.global_batch_size", 32, 16)
    assert config_changes(new, new) == []


def test_a_changed_resume_stops_naming_each_setting_unless_accepted(tmp_path):
    model_dir = str(tmp_path / "run")
    run_experiment(ToyTask(global_batch_size=8), _trainer_config(),
                   OptimizerConfig(learning_rate=0.01), model_dir)
    record = tmp_path / "run" / RUN_CONFIG_FILE
    saved = record.read_bytes()

    changed = _trainer_config(train_steps=4, global_batch_size=4,
                              gradient_accumulation_steps=2, log_interval=2)
    with pytest.raises(RunConfigMismatchError) as error:
        run_experiment(ToyTask(global_batch_size=4), changed,
                       OptimizerConfig(learning_rate=0.02), model_dir)
    message = str(error.value)
    for line in ("optimizer.learning_rate: 0.01 -> 0.02", "trainer.global_batch_size: 8 -> 4",
                 "trainer.gradient_accumulation_steps: 1 -> 2", "trainer.train_steps: 2 -> 4",
                 "--allow_config_change"):
        assert line in message
    assert "log_interval" not in message
    assert record.read_bytes() == saved  # compared before anything was overwritten

    # Harmless settings may differ; a finished run has nothing to train.
    summary = run_experiment(ToyTask(global_batch_size=8),
                             _trainer_config(log_interval=2, steps_per_loop=2),
                             OptimizerConfig(learning_rate=0.01), model_dir)
    assert summary["steps_this_run"] == 0

    # Accepted: training goes on from step 2, and the change is recorded.
    summary = run_experiment(ToyTask(global_batch_size=8), _trainer_config(train_steps=3),
                             OptimizerConfig(learning_rate=0.01), model_dir,
                             allow_config_change=True)
    assert (summary["start_step"], summary["steps"]) == (2, 3)
    written = json.loads(record.read_text())
    assert written["trainer"]["train_steps"] == 3
    assert written["accepted_changes"] == [
        {"step": 2, "setting": "trainer.train_steps", "old": 2, "new": 3}]


def test_settings_are_compared_only_when_there_is_something_to_resume(tmp_path):
    (tmp_path / RUN_CONFIG_FILE).write_text(json.dumps({"trainer": {"seed": 1}}))
    assert check_resume(str(tmp_path), {"trainer": {"seed": 2}}) == []  # died before a save
    (tmp_path / "best").mkdir()
    with pytest.raises(RunConfigMismatchError, match=r"trainer.seed: 1 -> 2"):
        check_resume(str(tmp_path), {"trainer": {"seed": 2}})
    assert check_resume(str(tmp_path), {"trainer": {"seed": 2}}, allow_change=True,
                        log_fn=lambda line: None) == [("trainer.seed", 1, 2)]


class _ExportingToyTask(ToyTask):
    """A toy task whose export is a small file (no SavedModel: fast)."""

    main_metric = "accuracy"

    def export(self, model, directory):
        with open(os.path.join(directory, "weights.txt"), "w") as f:
            f.write(str(float(model.weights[0].numpy().sum())))
        return {"task": "toy"}


def _dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_finished_run_is_not_exported_again_and_leftovers_are_removed(tmp_path):
    model_dir, export_dir = tmp_path / "run", tmp_path / "exports" / "toy"
    config = _trainer_config(eval_at_end=True)
    lines = []

    def train():
        return train_and_export(_ExportingToyTask(global_batch_size=8), config,
                                OptimizerConfig(learning_rate=0.01), str(model_dir),
                                export_dir=str(export_dir), metadata={"note": "test"},
                                log_fn=lines.append)

    first = train()
    assert first["export"]["version"] == 1
    # What kills left: a best-weights save and an export of a dead process on this host,
    # and a concurrent exporter's (alive: this process).
    host = socket.gethostname()
    stale_best = model_dir / f"best.tmp-{_dead_pid()}@{host}@2"
    stale_export = export_dir / f".tmp-export-{_dead_pid()}@{host}@x1"
    live_export = export_dir / f".tmp-export-{os.getpid()}@{host}@x2"
    for path in (stale_best, stale_export, live_export):
        path.mkdir()

    second = train()
    assert second["nothing_to_train"] and second["export"] == first["export"]
    assert sorted(os.listdir(export_dir)) == sorted(["1", live_export.name])
    assert not stale_best.exists() and not stale_export.exists()
    assert any("nothing to train (step 2 of 2 is done)" in line
               and "export already exists (version 1: " in line for line in lines)
    assert json.loads((model_dir / "summary.json").read_text())["start_step"] == 2

    # The export removed: the finished run exports again.
    os.rename(export_dir / "1", tmp_path / "moved")
    third = train()
    assert not third.get("nothing_to_train") and third["export"]["version"] == 1
