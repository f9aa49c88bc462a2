"""The one driver: the best validation weights kept, restored, reported once and exported."""

import json
import os

import numpy as np
import pytest

from bertlab.export import read_metadata
from bertlab.tasks import train_and_export
from bertlab.training import BestModelTrainer, OptimizerConfig, TrainerConfig


@pytest.fixture
def task(tiny_sentence_task):
    return tiny_sentence_task()


@pytest.mark.parametrize("weight_average_decay", [0.0, 0.9])
def test_best_checkpoint_is_kept_restored_and_exported(tmp_path, task, monkeypatch,
                                                        weight_average_decay):
    # With a weight average, the average is what is evaluated, kept and exported.
    evaluations = []
    original = BestModelTrainer.evaluate

    def recording(self, split="validation", steps=None):
        results = original(self, split, steps)
        evaluations.append((int(self.global_step.numpy()), results["accuracy"], results["loss"]))
        return results

    monkeypatch.setattr(BestModelTrainer, "evaluate", recording)
    trainer_config = TrainerConfig(train_steps=9, global_batch_size=16, eval_interval=3,
                                   log_interval=3, steps_per_loop=3, checkpoint_interval=0,
                                   weight_average_decay=weight_average_decay)
    model_dir, export_dir = str(tmp_path / "run"), str(tmp_path / "export")
    summary = train_and_export(task, trainer_config, OptimizerConfig(learning_rate=3e-3),
                               model_dir, export_dir=export_dir, metadata={"note": "test"})

    assert [step for step, _, _ in evaluations] == [3, 6, 9]
    best_step, best_value, best_loss = max(evaluations, key=lambda e: (e[1], -e[0]))
    assert summary["best"]["step"] == best_step
    assert summary["best"]["value"] == pytest.approx(best_value)
    with open(os.path.join(model_dir, "summary.json")) as f:
        assert json.load(f)["export"] == {"version": 1, "path": os.path.join(export_dir, "1"),
                                          "models_config": str(tmp_path / "models.config")}
    assert "export" in (tmp_path / "models.config").read_text()  # the model's name
    assert os.path.isfile(os.path.join(export_dir, "1", "assets.extra",
                                       "tf_serving_warmup_requests"))
    metadata = read_metadata(os.path.join(export_dir, "1"))
    assert metadata["step"] == best_step and metadata["note"] == "test"
    assert metadata["class_names"] == ["negative", "positive"]
    assert sorted(os.listdir(model_dir + "/best")) == ["best.json", "model.data-00000-of-00001",
                                                       "model.index"]

    # A new trainer on the same directory (a resumed run) knows the best so far and
    # restores exactly the weights that scored it.
    trainer = BestModelTrainer(task, trainer_config, OptimizerConfig(), model_dir,
                               metric="accuracy")
    assert trainer.best["step"] == best_step
    trainer.restore_best()
    results = trainer.evaluate()
    assert results["accuracy"] == pytest.approx(best_value)
    assert results["loss"] == pytest.approx(best_loss, rel=1e-5)
    trainer.close()
    assert np.isfinite(summary["final_eval"]["loss"])


MIRRORED_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from bertlab.tasks import (EncoderConfig, TaggedDataConfig, TokenClassificationConfig,
                           TokenClassificationTask, train_and_export)
from bertlab.training import OptimizerConfig, TrainerConfig
out, data_dir, vocab = sys.argv[1:4]
config = TokenClassificationConfig(
    encoder=EncoderConfig(init="none", num_layers=1, hidden_dim=32, num_heads=2,
                          intermediate_dim=64, max_sequence_length=64, vocabulary=vocab),
    data=TaggedDataConfig(data_dir=data_dir, max_train_examples=64, max_validation_examples=32),
    sequence_length=64)
task = TokenClassificationTask(config, global_batch_size=8)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
summary = train_and_export(
    task, TrainerConfig(train_steps=4, global_batch_size=8, eval_interval=2,
                        weight_average_decay=0.9, log_interval=2, steps_per_loop=2,
                        checkpoint_interval=0),
    OptimizerConfig(learning_rate=1e-3), out + "/run", export_dir=out + "/export",
    strategy=strategy)
served = tf.saved_model.load(summary["export"]["path"]).signatures["serving_default"]
tags = served(text=tf.constant(["EU rejects German call"]))["tags"].numpy().tolist()
print(json.dumps({"replicas": summary["num_replicas"], "best_step": summary["best"]["step"],
                  "tags": [[t.decode() for t in row] for row in tags]}))
"""


def test_train_and_export_under_mirrored_strategy(tmp_path, data_dir, minilm_dir):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path), str(data_dir),
         f"{minilm_dir}/vocab.txt"], capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2 and out["best_step"] in (2, 4)
    assert len(out["tags"][0]) == 4


def test_report_split_is_scored_once_with_the_chosen_weights(tmp_path, tiny_sentence_task):
    # Checkpoints are chosen on every 10th training sentence; the official dev set is
    # the report split, evaluated once after the choice and recorded in the export.
    task = tiny_sentence_task(data={"train": "sst2/train.tsv", "validation": "",
                                    "holdout_every": 10, "report": "sst2/dev.tsv",
                                    "max_train_examples": 160, "max_validation_examples": 48})
    assert task.num_examples("validation") == 48 and task.num_examples("report") == 872
    reported = []
    original = BestModelTrainer.evaluate

    def recording(self, split="validation", steps=None):
        results = original(self, split, steps)
        reported.append(split)
        return results

    BestModelTrainer.evaluate = recording
    try:
        model_dir, export_dir = str(tmp_path / "run"), str(tmp_path / "export")
        summary = train_and_export(
            task, TrainerConfig(train_steps=6, global_batch_size=16, eval_interval=3,
                                log_interval=3, steps_per_loop=3, checkpoint_interval=0),
            OptimizerConfig(learning_rate=3e-3), model_dir, export_dir=export_dir,
            report_split="report")
    finally:
        BestModelTrainer.evaluate = original
    assert reported.count("report") == 1 and reported[-1] == "report"
    assert set(summary["report"]) == {"loss", "accuracy"}
    metadata = read_metadata(os.path.join(export_dir, "1"))
    assert metadata["report"] == {"split": "report", **summary["report"]}
    assert metadata["validation"] == summary["best"]["results"]

    # The report is the best weights' score on dev, not the last weights'.
    trainer = BestModelTrainer(task, TrainerConfig(train_steps=6, global_batch_size=16),
                               OptimizerConfig(), model_dir, metric="accuracy")
    trainer.restore_best()
    assert trainer.evaluate("report")["accuracy"] == pytest.approx(summary["report"]["accuracy"])
    trainer.close()


def test_report_split_must_exist(tiny_sentence_task):
    with pytest.raises(ValueError, match="no `data.report`"):
        tiny_sentence_task().examples("report")
