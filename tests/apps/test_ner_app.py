"""End to end, as a user runs it: train (tiny model, learned vocabulary, slice of
CoNLL-2003) -> export -> evaluate -> predict, each a fresh `python -m apps.ner.*` process."""

import json
import os

import pytest

from bertlab.data import read_conll
from tests.apps.app_process import run_app, run_apps
from tests.conftest import REPO_ROOT

PREDICTED = ["EU rejects German call to boycott British lamb .", "Peter  Blackburn"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("ner")
    valid = read_conll(data_dir / "conll2003" / "valid.txt")
    dev = tmp / "valid_slice.txt"
    dev.write_text("\n\n".join("\n".join(f"{w} X X {t}" for w, t in zip(words, tags))
                               for words, tags in zip(valid.tokens[:80], valid.tags[:80])),
                   encoding="utf-8")
    model_dir, export_dir = tmp / "run", tmp / "export"
    out = run_app(
        "apps.ner.train", "--config=configs/ner/smoke.yaml", f"--data_dir={data_dir}",
        "--init=none", f"--model_dir={model_dir}", f"--export_dir={export_dir}",
        "--mixed_precision=float32", "--set=task.encoder.vocabulary=learn",
        "--set=task.encoder.vocabulary_size=1500", "--set=task.encoder.num_layers=1",
        "--set=task.encoder.hidden_dim=32", "--set=task.encoder.num_heads=2",
        "--set=task.encoder.intermediate_dim=64", "--set=task.encoder.max_sequence_length=256",
        "--set=task.sequence_length=256", "--set=task.data.max_train_examples=400",
        f"--set=task.data.validation={dev}", "--set=task.data.max_validation_examples=0",
        "--set=trainer.global_batch_size=16", "--set=optimizer.learning_rate=2e-3",
        "--set=schedule.epochs=8", "--set=trainer.steps_per_loop=25",
        "--set=task.casing_features=true").stdout
    report = json.loads(out.strip().splitlines()[-1])
    return dict(report=report, dev=dev, model_dir=model_dir, export_dir=export_dir)


@pytest.fixture(scope="module")
def used(trained, data_dir):
    """The outputs of `evaluate` and `predict` on the export, and the export distilled into
    a student of its layer with its attention matched (run side by side)."""
    student = trained["model_dir"].parent / "student"
    distill, evaluate, predict = run_apps([
        ("apps.ner.distill", [f"--teacher={trained['export_dir']}",
                              "--config=configs/ner/smoke.yaml", f"--data_dir={data_dir}",
                              f"--model_dir={student}/run", f"--export_dir={student}/export",
                              "--mixed_precision=float32", "--set=task.sequence_length=256",
                              "--set=task.data.max_train_examples=160",
                              f"--set=task.data.validation={trained['dev']}",
                              "--set=task.data.max_validation_examples=0",
                              "--set=task.casing_features=true",
                              "--set=trainer.global_batch_size=16",
                              "--set=optimizer.learning_rate=2e-3", "--set=schedule.epochs=1",
                              "--set=task.distillation.student_layers=1",
                              "--set=task.distillation.attention_weight=1.0"]),
        ("apps.ner.evaluate", [f"--model_dir={trained['export_dir']}",
                               f"--data={trained['dev']}"]),
        ("apps.ner.predict", [f"--model_dir={trained['export_dir']}", "--json", *PREDICTED])])
    return dict(evaluate=evaluate.stdout, predict=predict.stdout, distill=distill.stdout,
                student=student)


def test_train_exports_a_version_with_the_tag_set(trained):
    assert trained["report"]["export"]["version"] == 1
    with open(trained["model_dir"] / "summary.json") as f:
        summary = json.load(f)
    assert summary["steps"] == 200  # 8 epochs of 400 sentences, 16 per step
    with open(trained["export_dir"] / "1" / "assets.extra" / "bertlab_export.json") as f:
        metadata = json.load(f)
    assert metadata["tag_names"][:3] == ["O", "B-PER", "I-PER"]
    assert metadata["sequence_length"] == 256 and metadata["casing_features"] is True


def test_evaluate_matches_the_in_graph_entity_f1(trained, used):
    out = used["evaluate"]
    assert out.startswith("entity F1 ")
    results = json.loads(out.strip().splitlines()[-1])
    assert results["num_sentences"] == 80
    assert results["entity_f1"] > 0.05  # entities are found: the comparison below means something
    # seqeval on the export's word tags == the metric computed in the graph in training.
    assert results["entity_f1"] == pytest.approx(trained["report"]["best"]["entity_f1"],
                                                 abs=1e-6)


def test_predict_prints_words_and_entities(used):
    out = used["predict"]
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert rows[0]["tokens"] == "EU rejects German call to boycott British lamb .".split()
    assert rows[1]["tokens"] == ["Peter", "Blackburn"]
    assert all(len(r["tags"]) == len(r["tokens"]) for r in rows)
    assert all(tag in ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC",
                       "I-MISC") for r in rows for tag in r["tags"])


def test_entities_reader():
    from apps.ner.output_format import entities, format_prediction

    words = ["EU", "rejects", "New", "York", "and", "Peter"]
    tags = ["B-ORG", "O", "B-LOC", "I-LOC", "O", "I-PER"]
    assert entities(words, tags) == [("ORG", 0, 0, "EU"), ("LOC", 2, 3, "New York"),
                                     ("PER", 5, 5, "Peter")]
    assert format_prediction(words, tags).splitlines()[0] == \
        "[EU]ORG rejects [New York]LOC and [Peter]PER"


@pytest.mark.parametrize("name", ["default", "smoke", "weibo"])
def test_configs_load(name):
    from apps.ner.config import NerConfig
    from bertlab.config import load_config

    config = load_config(NerConfig, os.path.join(REPO_ROOT, "configs", "ner", f"{name}.yaml"))
    assert config.trainer.mixed_precision == "mixed_bfloat16"
    assert config.schedule.epochs > 0
    expected_init = "bertlab-zh-mini" if name == "weibo" else "minilm"
    assert config.task.encoder.init == expected_init


def test_a_distilled_tagger_exports_like_its_teacher(trained, used):
    report = json.loads(used["distill"].strip().splitlines()[-1])
    student = used["student"] / "export" / "1"
    assert report["export"]["path"] == str(student)
    assert report["best"]["entity_f1"] > 0.0
    with open(student / "assets.extra" / "bertlab_export.json") as f:
        metadata = json.load(f)
    teacher = trained["export_dir"] / "1"
    assert metadata["tag_names"] == json.loads(
        (teacher / "assets.extra" / "bertlab_export.json").read_text("utf-8"))["tag_names"]
    assert metadata["casing_features"] is True
    assert metadata["distillation"]["teacher_layers"] == [0]
    assert metadata["distillation"]["teacher"] == os.path.realpath(teacher)
    assert (student / "vocab.txt").read_text("utf-8") == (teacher / "vocab.txt").read_text(
        "utf-8")
