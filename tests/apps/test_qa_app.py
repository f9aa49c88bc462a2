"""End to end, as a user runs it: `python -m apps.qa.train|evaluate|predict` on a slice of
SQuAD (a tiny encoder): training on windows, EM/F1 of the answer text, the export on raw
questions and contexts, bad input."""

import json
import os

import pytest

from tests.apps.app_process import run_app, run_apps
from tests.conftest import REPO_ROOT

TINY = ["--set=task.encoder.init=none", "--set=task.encoder.num_layers=1",
        "--set=task.encoder.hidden_dim=32", "--set=task.encoder.num_heads=2",
        "--set=task.encoder.intermediate_dim=64", "--set=task.encoder.max_sequence_length=128",
        "--set=task.sequence_length=128", "--set=task.max_query_length=32",
        "--set=task.doc_stride=64", "--mixed_precision=float32",
        "--set=optimizer.learning_rate=1e-3"]
CONTEXT = ("The Eiffel Tower was completed in 1889. It was designed by the engineering firm of "
           "Gustave Eiffel.")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir, minilm_dir):
    tmp = tmp_path_factory.mktemp("qa")
    validation = json.loads((data_dir / "squad_v1.1" / "validation.json").read_text("utf-8"))
    validation["data"] = validation["data"][:1]
    validation["data"][0]["paragraphs"] = validation["data"][0]["paragraphs"][:6]
    report = tmp / "report.json"
    report.write_text(json.dumps(validation), encoding="utf-8")
    out = run_app("apps.qa.train", "--config=configs/qa/smoke.yaml", f"--data_dir={data_dir}",
                  f"--model_dir={tmp}/run", f"--export_dir={tmp}/export", *TINY,
                  f"--set=task.encoder.vocabulary={minilm_dir}/vocab.txt",
                  "--set=task.data.max_train_examples=160",
                  "--set=task.data.max_validation_examples=40",
                  f"--set=task.data.report={report}").stdout
    with open(tmp / "run" / "summary.json") as f:
        summary = json.load(f)
    return dict(tmp=tmp, report=report, printed=json.loads(out.strip().splitlines()[-1]),
                summary=summary)


@pytest.fixture(scope="module")
def used(trained):
    """`evaluate` on the report file, `predict` on a context and on a missing file, side by side."""
    export = f"--model_dir={trained['tmp']}/export"
    return run_apps([
        ("apps.qa.evaluate", [export, f"--data={trained['report']}"]),
        ("apps.qa.predict", [export, "--json", "When was the tower completed?", CONTEXT]),
        ("apps.qa.predict", [export, "--context_file=/no/such/file.txt", "Why?"]),
    ], expect_ok=False)


def test_train_scores_answers_and_exports(trained):
    summary = trained["summary"]
    assert summary["best"]["metric"] == "f1"
    assert {"exact_match", "f1"} <= set(summary["best"]["results"])
    assert 0.0 <= summary["best"]["results"]["f1"] <= 100.0
    assert {"exact_match", "f1"} <= set(summary["report"])
    version = trained["tmp"] / "export" / "1"
    with open(version / "assets.extra" / "bertlab_export.json") as f:
        metadata = json.load(f)
    assert metadata["task"] == "question_answering" and metadata["doc_stride"] == 64
    assert trained["printed"]["export"]["version"] == 1


def test_evaluate_scores_the_export_like_training_did(trained, used):
    evaluate = used[0]
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    results = json.loads(evaluate.stdout.strip().splitlines()[-1])
    assert results["metric"] == "squad" and results["count"] > 0
    # The SavedModel on raw strings answers as training's in-graph evaluation did.
    assert results["f1"] == pytest.approx(trained["summary"]["report"]["f1"], abs=0.5)
    assert results["exact_match"] == pytest.approx(trained["summary"]["report"]["exact_match"],
                                                   abs=0.5)


def test_predict_answers_with_offsets_and_refuses_a_missing_file(used):
    predict, missing = used[1], used[2]
    assert predict.returncode == 0, predict.stderr[-3000:]
    row = json.loads(predict.stdout.strip())
    assert CONTEXT[row["start"]:row["end"]] == row["answer"]
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "context_file" in missing.stderr


@pytest.mark.parametrize("name", ["default", "smoke", "cmrc2018", "drcd"])
def test_configs_load(name):
    from apps.qa.config import QaConfig
    from bertlab.config import load_config

    config = load_config(QaConfig, os.path.join(REPO_ROOT, "configs", "qa", f"{name}.yaml"))
    assert config.task.data.holdout_every == 8 and config.task.data.validation == ""
    assert config.task.data.metric == ("cmrc" if name in ("cmrc2018", "drcd") else "squad")
