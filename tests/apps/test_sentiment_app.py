"""End to end, as a user runs it: train (tiny model, slice of SST-2) -> export -> evaluate
-> predict, each a fresh `python -m apps.sentiment.*` process."""

import json
import os

import pytest

from tests.apps.app_process import run_app, run_apps
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir, minilm_dir):
    tmp = tmp_path_factory.mktemp("sentiment")
    dev_lines = (data_dir / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()
    dev = tmp / "dev_slice.tsv"
    dev.write_text("\n".join(dev_lines[:101]) + "\n", encoding="utf-8")  # header + 100
    model_dir, export_dir = tmp / "run", tmp / "export"
    out = run_app(
        "apps.sentiment.train", "--config=configs/sentiment/smoke.yaml",
        f"--data_dir={data_dir}", "--init=none", f"--model_dir={model_dir}",
        f"--export_dir={export_dir}", "--mixed_precision=float32",
        f"--set=task.encoder.vocabulary={minilm_dir}/vocab.txt",
        "--set=task.encoder.num_layers=1", "--set=task.encoder.hidden_dim=32",
        "--set=task.encoder.num_heads=2", "--set=task.encoder.intermediate_dim=64",
        "--set=task.encoder.max_sequence_length=64", "--set=task.sequence_length=64",
        "--set=task.data.max_train_examples=320", f"--set=task.data.validation={dev}",
        "--set=task.data.max_validation_examples=0", "--set=optimizer.learning_rate=1e-3",
        "--set=schedule.evals_per_epoch=2").stdout
    report = json.loads(out.strip().splitlines()[-1])
    return dict(report=report, dev=dev, model_dir=model_dir, export_dir=export_dir)


@pytest.fixture(scope="module")
def used(trained):
    """The outputs of `evaluate` and `predict` (lines on stdin) on the export, side by side."""
    evaluate, predict = run_apps([
        ("apps.sentiment.evaluate", [f"--model_dir={trained['export_dir']}/1",
                                     f"--data={trained['dev']}"]),
        ("apps.sentiment.predict", [f"--model_dir={trained['export_dir']}", "--json"],
         b"good\n\n bad \xff bytes \n")])
    return dict(evaluate=evaluate.stdout, predict=predict.stdout)


def test_train_keeps_the_best_and_exports_a_version(trained):
    report = trained["report"]
    assert report["export"]["version"] == 1
    assert report["export"]["path"] == str(trained["export_dir"] / "1")
    with open(trained["model_dir"] / "summary.json") as f:
        summary = json.load(f)
    assert summary["steps"] == 10  # 320 sentences / 32 per step, 1 epoch
    assert summary["best"]["step"] in (5, 10)
    assert summary["mixed_precision"] is None
    assert os.path.isdir(trained["model_dir"] / "train")  # TensorBoard logs
    assert os.path.isfile(trained["export_dir"] / "1" / "saved_model.pb")


def test_evaluate_scores_the_export_like_training_did(trained, used):
    out = used["evaluate"]
    assert out.startswith("accuracy ")
    results = json.loads(out.strip().splitlines()[-1])
    assert results["num_examples"] == 100
    # The exported model on the raw text agrees with the in-graph validation of training.
    assert results["accuracy"] == pytest.approx(trained["report"]["best"]["accuracy"], abs=0.011)


def test_predict_reads_stdin(used):
    out = used["predict"]
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["text"] for r in rows] == ["good", " bad \ufffd bytes "]  # blank line skipped
    assert all(r["label"] in ("negative", "positive") for r in rows)
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in rows)


def test_predict_text_format():
    from apps.classify.output_format import format_predictions

    lines = format_predictions(["fine", "bad"], {"label": [b"positive", b"negative"],
                                                 "probabilities": [[0.1, 0.9], [0.8, 0.2]]},
                               {"class_names": ["negative", "positive"]})
    assert lines == ["positive   0.900  fine", "negative   0.800  bad"]


@pytest.mark.parametrize("name", ["default", "smoke", "chnsenticorp"])
def test_configs_load(name):
    from apps.sentiment.config import SentimentConfig
    from bertlab.config import load_config

    config = load_config(SentimentConfig, os.path.join(REPO_ROOT, "configs", "sentiment",
                                                       f"{name}.yaml"))
    assert config.trainer.mixed_precision == "mixed_bfloat16"
    assert config.schedule.epochs > 0
    assert config.task.class_names == ["negative", "positive"]
    if name == "chnsenticorp":
        assert config.task.encoder.init == "bertlab-zh-mini" and config.task.data.holdout_every == 10
    else:
        assert config.task.encoder.init == "minilm"
