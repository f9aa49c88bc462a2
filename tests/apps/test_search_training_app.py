"""End to end, as a user runs it: `python -m apps.search.train` with configs/search/smoke.yaml (a
1-layer, 32-wide encoder, 48 STS-B pairs) -> an export whose `embed` signature takes raw strings ->
`python -m apps.search.evaluate` on it scores what training reported; the configs load. (Bad data
lines are tested in tests/data/test_sentence_pairs.py: one TensorFlow process less here.)"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the export's tokenizer ops)

from tests.apps.app_process import run_app
from tests.conftest import REPO_ROOT

REPORT_PAIRS = 40


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("search")
    lines = (data_dir / "stsbenchmark" / "sts-dev.csv").read_text("utf-8").splitlines()
    report = tmp / "report.csv"
    report.write_text("\n".join(lines[:REPORT_PAIRS]) + "\n", encoding="utf-8")
    out = run_app("apps.search.train", "--config=configs/search/smoke.yaml",
                  f"--data_dir={data_dir}", f"--model_dir={tmp}/run",
                  f"--export_dir={tmp}/export", f"--set=task.data.report={report}").stdout
    with open(tmp / "run" / "summary.json") as f:
        summary = json.load(f)
    return dict(tmp=tmp, report=report, printed=json.loads(out.strip().splitlines()[-1]),
                summary=summary)


def test_train_chooses_by_spearman_and_exports_an_embedder(trained):
    summary = trained["summary"]
    assert summary["best"]["metric"] == "spearman"
    assert {"spearman", "pearson"} <= set(summary["best"]["results"])
    assert -100.0 <= summary["report"]["spearman"] <= 100.0
    version = trained["tmp"] / "export" / "1"
    assert trained["printed"]["export"]["path"] == str(version)
    with open(version / "assets.extra" / "bertlab_export.json") as f:
        metadata = json.load(f)
    assert metadata["task"] == "sentence_embedding" and metadata["loss"] == "cosent"
    assert metadata["embedding_dim"] == 32 and metadata["app"] == "search"
    embed = tf.saved_model.load(str(version)).signatures["embed"]
    vectors = embed(text=tf.constant(["A plane is taking off.", "", "a dog"]))["embedding"]
    assert vectors.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors.numpy(), axis=1), 1.0, rtol=1e-5)


def test_evaluate_scores_the_export_as_training_did(trained):
    export = f"--model_dir={trained['tmp']}/export"
    evaluate = run_app("apps.search.evaluate", export, f"--data={trained['report']}")
    results = json.loads(evaluate.stdout.strip().splitlines()[-1])
    assert results["pairs"] == REPORT_PAIRS and results["format"] == "stsb"
    # The SavedModel on raw strings embeds as training's in-graph evaluation did.
    assert results["spearman"] == pytest.approx(trained["summary"]["report"]["spearman"],
                                                abs=0.5)


@pytest.mark.parametrize("name, data_format, loss", [
    ("default", "stsb", "cosent"), ("smoke", "stsb", "cosent"),
    ("chinese_stsb", "cnsd", "cosent"), ("scitldr", "scitldr", "multiple_negatives_ranking")])
def test_configs_load(name, data_format, loss):
    from apps.search.training_config import SearchTrainingConfig
    from bertlab.config import load_config

    config = load_config(SearchTrainingConfig,
                         os.path.join(REPO_ROOT, "configs", "search", f"{name}.yaml"))
    data = config.task.data
    assert data.holdout_every == 10 and data.validation == "" and data.report
    assert (data.format, config.task.loss) == (data_format, loss)
    assert config.export_dir.startswith("saved_models/search_embedder")
