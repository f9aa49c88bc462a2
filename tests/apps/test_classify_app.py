"""End to end, as a user runs it: `python -m apps.classify.train|evaluate|predict` on slices of
the real data (a tiny encoder): a scored-pair (STS-B) regression with its report split, and a
spam classifier whose decision threshold is chosen on validation."""

import json
import os

import pytest

from tests.apps.app_process import run_apps
from tests.conftest import REPO_ROOT

TINY = ["--set=task.encoder.init=none", "--set=task.encoder.num_layers=1",
        "--set=task.encoder.hidden_dim=32", "--set=task.encoder.num_heads=2",
        "--set=task.encoder.intermediate_dim=64", "--set=task.encoder.max_sequence_length=64",
        "--set=task.sequence_length=48", "--mixed_precision=float32",
        "--set=optimizer.learning_rate=1e-3", "--set=schedule.epochs=1"]


def train_call(tmp, name, minilm_dir, data_dir, *extra):
    """The `apps.classify.train` command of a tiny model on config `name`, into `tmp`."""
    return ("apps.classify.train",
            [f"--config=configs/classify/{name}.yaml", f"--data_dir={data_dir}",
             f"--model_dir={tmp}/run", f"--export_dir={tmp}/export", *TINY,
             f"--set=task.encoder.vocabulary={minilm_dir}/vocab.txt", *extra])


def trained(tmp, result):
    """`(report printed by train, summary.json)` of a finished training run in `tmp`."""
    assert result.returncode == 0, result.stderr[-4000:]
    with open(tmp / "run" / "summary.json") as f:
        return json.loads(result.stdout.strip().splitlines()[-1]), json.load(f)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, minilm_dir, data_dir):
    """Side by side: an STS-B pair regression with a report split, a spam classifier,
    and a run with bad input."""
    stsb, spam, bad = (tmp_path_factory.mktemp(name) for name in ("stsb", "spam", "bad"))
    dev = stsb / "dev.csv"
    dev.write_text("".join((data_dir / "stsbenchmark" / "sts-dev.csv").read_text(
        "utf-8").splitlines(keepends=True)[:120]), encoding="utf-8")
    results = run_apps([
        train_call(stsb, "stsb", minilm_dir, data_dir, "--set=task.data.max_train_examples=320",
                   "--set=task.data.max_validation_examples=64", f"--set=task.data.report={dev}"),
        train_call(spam, "sms_spam", minilm_dir, data_dir,
                   "--set=task.data.max_train_examples=480"),
        # A column beyond the rows'. The readers' and configs' own errors are unit-tested
        # in tests/data and tests/tasks.
        ("apps.classify.train", ["--config=configs/classify/smoke.yaml",
                                 f"--data_dir={data_dir}", f"--model_dir={bad}/run",
                                 f"--export_dir={bad}/export", "--set=task.data.text_column=9"]),
    ], expect_ok=False)
    return dict(stsb=dict(tmp=stsb, dev=dev, result=results[0]),
                spam=dict(tmp=spam, result=results[1]), bad=dict(tmp=bad, result=results[2]))


@pytest.fixture(scope="module")
def stsb(runs):
    report, summary = trained(runs["stsb"]["tmp"], runs["stsb"]["result"])
    return dict(runs["stsb"], report=report, summary=summary)


@pytest.fixture(scope="module")
def spam(runs, data_dir):
    report, summary = trained(runs["spam"]["tmp"], runs["spam"]["result"])
    # The raw validation messages: every 5th line of the training file.
    lines = (data_dir / "sms_spam" / "train.tsv").read_text("utf-8").splitlines()
    validation = runs["spam"]["tmp"] / "validation.tsv"
    validation.write_text("\n".join(lines[4::5]) + "\n", encoding="utf-8")
    return dict(runs["spam"], report=report, summary=summary, validation=validation)


@pytest.fixture(scope="module")
def used(stsb, spam, data_dir):
    """Side by side: evaluate and predict of the STS-B export, evaluate of the spam one, and
    the spam classifier distilled into a student of its layer, its hidden states and
    attention matched (the teacher's Keras model in the graph)."""
    student = spam["tmp"] / "student"
    results = run_apps([
        ("apps.classify.distill", [f"--teacher={spam['tmp']}/export",
                                   "--config=configs/classify/sms_spam.yaml",
                                   f"--data_dir={data_dir}", f"--model_dir={student}/run",
                                   f"--export_dir={student}/export", *TINY,
                                   "--set=task.data.max_train_examples=480",
                                   "--set=task.distillation.student_layers=1",
                                   "--set=task.distillation.hidden_weight=1.0",
                                   "--set=task.distillation.attention_weight=1.0"]),
        ("apps.classify.evaluate", [f"--model_dir={stsb['tmp']}/export",
                                    "--config=configs/classify/stsb.yaml",
                                    f"--data={stsb['dev']}"]),
        ("apps.classify.predict", [f"--model_dir={stsb['tmp']}/export", "--json",
                                   "A man plays a flute. ||| A man is playing a flute."]),
        ("apps.classify.evaluate", [f"--model_dir={spam['tmp']}/export",
                                    "--config=configs/classify/sms_spam.yaml",
                                    f"--data={spam['validation']}"]),
    ])
    return dict(zip(("distill", "stsb_evaluate", "stsb_predict", "spam_evaluate"),
                    (r.stdout for r in results)), student=student)


def test_stsb_trains_reports_once_and_exports_a_pair_model(stsb):
    summary, report = stsb["summary"], stsb["report"]
    assert summary["steps"] == 20  # 320 pairs / 16, one epoch
    assert set(summary["best"]["results"]) >= {"spearman", "pearson", "mse", "loss"}
    assert set(summary["report"]) == {"spearman", "pearson", "mse", "loss"}
    assert report["export"]["path"] == str(stsb["tmp"] / "export" / "1")
    with open(stsb["tmp"] / "export" / "1" / "assets.extra" / "bertlab_export.json") as f:
        metadata = json.load(f)
    assert metadata["head"] == "regression" and metadata["text_pair"] is True
    assert metadata["report"]["split"] == "report"


def test_stsb_evaluate_and_predict(stsb, used):
    out = used["stsb_evaluate"]
    assert out.startswith("Spearman ")
    results = json.loads(out.strip().splitlines()[-1])
    # The SavedModel on the raw pairs scores what training's report evaluation scored.
    assert results["spearman"] == pytest.approx(stsb["summary"]["report"]["spearman"], abs=0.02)
    assert results["num_examples"] == 120
    row = json.loads(used["stsb_predict"].strip())
    assert row["text_pair"] == "A man is playing a flute." and isinstance(row["score"], float)


def test_predict_reads_pairs_and_refuses_a_single_text():
    from absl import app

    from apps.classify.predict import split_pairs

    assert split_pairs(["A man. ||| A woman.", "tab\tseparated"]) == (
        ["A man.", "tab"], ["A woman.", "separated"])
    with pytest.raises(app.UsageError, match="Input 2 is not a pair"):
        split_pairs(["a ||| b", "no separator here"])


def test_spam_threshold_is_chosen_on_validation_and_exported(spam, used):
    best = spam["summary"]["best"]["results"]
    assert spam["summary"]["best"]["metric"] == "f1"
    assert {"precision", "recall", "f1", "threshold", "accuracy"} <= set(best)
    with open(spam["tmp"] / "export" / "1" / "assets.extra" / "bertlab_export.json") as f:
        metadata = json.load(f)
    assert metadata["positive_class"] == "spam"
    assert metadata["decision_threshold"] == pytest.approx(best["threshold"])
    # The export on the raw validation messages reproduces the best F1.
    results = json.loads(used["spam_evaluate"].strip().splitlines()[-1])
    assert results["f1"] == pytest.approx(best["f1"], abs=0.02)


def test_a_distilled_student_exports_like_its_teacher(spam, used):
    import numpy as np
    import tensorflow as tf

    from bertlab.export.keras_model_file import load_exported_keras_model
    from bertlab.models.bert_classifier import BertClassifier

    student, teacher = used["student"] / "export" / "1", spam["tmp"] / "export" / "1"
    report = json.loads(used["distill"].strip().splitlines()[-1])
    assert report["export"]["path"] == str(student)
    with open(student / "assets.extra" / "bertlab_export.json") as f:
        metadata = json.load(f)
    assert metadata["class_names"] == ["ham", "spam"] and metadata["positive_class"] == "spam"
    distillation = metadata["distillation"]
    assert distillation["teacher"] == os.path.realpath(teacher)
    assert distillation["teacher_layers"] == [0] and distillation["attention_weight"] == 1.0
    # The teacher ran once over the training texts; its logits are cached in the run.
    assert len(list((used["student"] / "run").glob("teacher_logits-*.npy"))) == 1
    # The student's Keras model and its SavedModel agree (float32 export).
    model = load_exported_keras_model(str(student), BertClassifier)
    assert model.encoder.num_layers == 1
    assert (student / "vocab.txt").read_text("utf-8") == (teacher / "vocab.txt").read_text(
        "utf-8")
    signature = tf.saved_model.load(str(student)).signatures["serve_token_ids"]
    ids = np.array([[2, 1000, 2000, 3]], "int32")
    inputs = {"token_ids": ids, "segment_ids": np.zeros_like(ids),
              "padding_mask": np.ones_like(ids)}
    np.testing.assert_allclose(signature(**{k: tf.constant(v) for k, v in inputs.items()})[
        "logits"], model(inputs), atol=1e-4)


def test_distillation_refuses_a_teacher_that_is_not_a_classifier(stsb):
    from bertlab.tasks.distillation import (ClassificationDistillationConfig,
                                            ClassificationDistillationTask, DistillationConfig)

    config = ClassificationDistillationConfig(
        distillation=DistillationConfig(teacher=str(stsb["tmp"] / "export")))
    with pytest.raises(ValueError, match="not a text_classification export .*head 'regression'"):
        ClassificationDistillationTask(config)
    with pytest.raises(FileNotFoundError):
        ClassificationDistillationTask(ClassificationDistillationConfig(
            distillation=DistillationConfig(teacher=str(stsb["tmp"] / "missing"))))


@pytest.mark.parametrize("name", ["ag_news", "sms_spam", "stsb", "thucnews_titles", "smoke"])
def test_configs_load(name):
    from apps.classify.config import ClassifyConfig
    from bertlab.config import load_config

    config = load_config(ClassifyConfig, os.path.join(REPO_ROOT, "configs", "classify",
                                                      f"{name}.yaml"))
    assert config.export_dir.startswith("saved_models/")
    assert config.task.data.holdout_every >= 5 and config.task.data.validation == ""


def test_bad_input_is_one_error_line(runs):
    result, tmp = runs["bad"]["result"], runs["bad"]["tmp"]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "expected at least 10" in result.stderr
    assert not (tmp / "export").exists()


@pytest.mark.parametrize("module, name, config_class", [
    ("apps.classify", "classify/distill_sst2", "DistillConfig"),
    ("apps.classify", "classify/distill_smoke", "DistillConfig"),
    ("apps.ner", "ner/distill_conll", "NerDistillConfig")])
def test_distillation_configs_load(module, name, config_class):
    import importlib

    from bertlab.config import load_config

    config_cls = getattr(importlib.import_module(f"{module}.config"), config_class)
    config = load_config(config_cls, os.path.join(REPO_ROOT, "configs", f"{name}.yaml"))
    assert config.task.distillation.teacher.startswith("saved_models/")
    assert config.export_dir.startswith("saved_models/")
    assert config.task.distillation.student_layers == 3


def test_distill_scripts_default_to_their_configs():
    """`--config` of each distill script defaults to a config file that exists (the path
    `define_app_flags` gives `--config`, on flags of their own)."""
    import importlib

    from absl import flags

    from bertlab.training.flags import define_app_flags

    for module, name in (("apps.classify.distill", "classify/distill_sst2.yaml"),
                         ("apps.ner.distill", "ner/distill_conll.yaml")):
        config_dir, repo_root, default_config = importlib.import_module(module).DEFAULT_CONFIG
        flag_values = flags.FlagValues()
        define_app_flags(config_dir, repo_root, "data", flag_values=flag_values,
                         default_config=default_config)
        default = flag_values["config"].default
        assert default == os.path.join(REPO_ROOT, "configs", name) and os.path.isfile(default)
