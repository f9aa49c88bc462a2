"""End to end, as a user runs it: `python -m apps.classify.train|evaluate|predict` on slices of
the real data (a tiny encoder): a scored-pair (STS-B) regression with its report split, and a
spam classifier whose decision threshold is chosen on validation."""

import json
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--set=task.encoder.init=none", "--set=task.encoder.num_layers=1",
        "--set=task.encoder.hidden_dim=32", "--set=task.encoder.num_heads=2",
        "--set=task.encoder.intermediate_dim=64", "--set=task.encoder.max_sequence_length=64",
        "--set=task.sequence_length=48", "--mixed_precision=float32",
        "--set=optimizer.learning_rate=1e-3", "--set=schedule.epochs=1"]


def run_app(module, *args, stdin=None, expect_ok=True):
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO_ROOT, input=stdin,
                            capture_output=True, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if expect_ok:
        assert result.returncode == 0, result.stderr.decode("utf-8", "replace")[-4000:]
    return result


def train(tmp, name, minilm_dir, data_dir, *extra):
    run = run_app("apps.classify.train", f"--config=configs/classify/{name}.yaml",
                  f"--data_dir={data_dir}", f"--model_dir={tmp}/run",
                  f"--export_dir={tmp}/export", *TINY,
                  f"--set=task.encoder.vocabulary={minilm_dir}/vocab.txt", *extra)
    report = json.loads(run.stdout.decode().strip().splitlines()[-1])
    with open(tmp / "run" / "summary.json") as f:
        return report, json.load(f)


@pytest.fixture(scope="module")
def stsb(tmp_path_factory, minilm_dir, data_dir):
    tmp = tmp_path_factory.mktemp("stsb")
    dev = tmp / "dev.csv"
    dev.write_text("".join((data_dir / "stsbenchmark" / "sts-dev.csv").read_text(
        "utf-8").splitlines(keepends=True)[:120]), encoding="utf-8")
    report, summary = train(tmp, "stsb", minilm_dir, data_dir,
                            "--set=task.data.max_train_examples=320",
                            "--set=task.data.max_validation_examples=64",
                            f"--set=task.data.report={dev}")
    return dict(tmp=tmp, dev=dev, report=report, summary=summary)


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


def test_stsb_evaluate_and_predict(stsb):
    out = run_app("apps.classify.evaluate", f"--model_dir={stsb['tmp']}/export",
                  "--config=configs/classify/stsb.yaml", f"--data={stsb['dev']}").stdout.decode()
    assert out.startswith("Spearman ")
    results = json.loads(out.strip().splitlines()[-1])
    # The SavedModel on the raw pairs scores what training's report evaluation scored.
    assert results["spearman"] == pytest.approx(stsb["summary"]["report"]["spearman"], abs=0.02)
    assert results["num_examples"] == 120
    out = run_app("apps.classify.predict", f"--model_dir={stsb['tmp']}/export", "--json",
                  "A man plays a flute. ||| A man is playing a flute.").stdout.decode()
    row = json.loads(out.strip())
    assert row["text_pair"] == "A man is playing a flute." and isinstance(row["score"], float)


def test_predict_reads_pairs_and_refuses_a_single_text():
    from absl import app

    from apps.classify.predict import split_pairs

    assert split_pairs(["A man. ||| A woman.", "tab\tseparated"]) == (
        ["A man.", "tab"], ["A woman.", "separated"])
    with pytest.raises(app.UsageError, match="Input 2 is not a pair"):
        split_pairs(["a ||| b", "no separator here"])


def test_spam_threshold_is_chosen_on_validation_and_exported(tmp_path, minilm_dir, data_dir):
    report, summary = train(tmp_path, "sms_spam", minilm_dir, data_dir,
                            "--set=task.data.max_train_examples=480")
    best = summary["best"]["results"]
    assert summary["best"]["metric"] == "f1"
    assert {"precision", "recall", "f1", "threshold", "accuracy"} <= set(best)
    with open(tmp_path / "export" / "1" / "assets.extra" / "bertlab_export.json") as f:
        metadata = json.load(f)
    assert metadata["positive_class"] == "spam"
    assert metadata["decision_threshold"] == pytest.approx(best["threshold"])
    # The export on the raw validation messages (every 5th line) reproduces the best F1.
    lines = (data_dir / "sms_spam" / "train.tsv").read_text("utf-8").splitlines()
    validation = tmp_path / "validation.tsv"
    validation.write_text("\n".join(lines[4::5]) + "\n", encoding="utf-8")
    out = run_app("apps.classify.evaluate", f"--model_dir={tmp_path}/export",
                  "--config=configs/classify/sms_spam.yaml", f"--data={validation}").stdout
    results = json.loads(out.decode().strip().splitlines()[-1])
    assert results["f1"] == pytest.approx(best["f1"], abs=0.02)


@pytest.mark.parametrize("name", ["ag_news", "sms_spam", "stsb", "thucnews_titles", "smoke"])
def test_configs_load(name):
    from apps.classify.config import ClassifyConfig
    from bertlab.config import load_config

    config = load_config(ClassifyConfig, os.path.join(REPO_ROOT, "configs", "classify",
                                                      f"{name}.yaml"))
    assert config.export_dir.startswith("saved_models/")
    assert config.task.data.holdout_every >= 5 and config.task.data.validation == ""


def test_bad_input_is_one_error_line(tmp_path, data_dir):
    # One process (each costs a TensorFlow start): a column beyond the rows'. The readers'
    # and configs' own errors are unit-tested in tests/data and tests/tasks.
    override, message = "--set=task.data.text_column=9", "expected at least 10"
    result = run_app("apps.classify.train", "--config=configs/classify/smoke.yaml",
                     f"--data_dir={data_dir}", f"--model_dir={tmp_path}/run",
                     f"--export_dir={tmp_path}/export", override, expect_ok=False)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 1 and "Traceback" not in stderr, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("error: ") and message in stderr
    assert not (tmp_path / "export").exists()
