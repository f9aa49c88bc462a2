"""The translation app end to end on a slice of Multi30k (train -> export -> evaluate ->
predict), its data readers and metrics."""

import json
import os

import pytest

from apps.translation.config import TranslationConfig
from apps.translation.data import load_pairs, parse_direction, read_tsv_pairs
from apps.translation.metrics import translation_metrics
from bertlab.config import ConfigError, load_config
from bertlab.data.readers import DataError
from tests.apps.app_process import run_app, run_apps
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("translation")
    model_dir, export_dir = root / "run", root / "exports"
    result = run_app("apps.translation.train", *["--config=configs/translation/smoke.yaml",
                   f"--data_dir={data_dir}", f"--model_dir={model_dir}",
                   f"--export_dir={export_dir}", "--export_beam_width=3",
                   "--export_jit_compile",  # trained in bfloat16, exported float32 + XLA
                   "--set", "data.train_limit=600", "--set", "data.validation_limit=12",
                   "--set", "subword.vocabulary_size=500",
                   "--set", "task.model.hidden_dim=32", "--set", "task.model.intermediate_dim=64",
                   "--set", "trainer.train_steps=12", "--set", "optimizer.warmup_steps=3",
                   "--set", "trainer.steps_per_loop=6",
                   "--set", "trainer.log_interval=6", "--set", "trainer.checkpoint_interval=6",
                   "--set", "trainer.eval_at_end=false", "--set", "decoding.max_length=10",
                   "--set", "selection.average_last=0"])
    return model_dir, export_dir, json.loads(result.stdout.strip().splitlines()[-1])


def test_training_writes_summary_checkpoints_and_export(trained):
    model_dir, export_dir, printed = trained
    summary = json.loads((model_dir / "summary.json").read_text())
    selection = summary["checkpoint_selection"]
    assert set(selection["candidates"]) == {"ckpt-6", "ckpt-12"}
    assert selection["best"] == printed["checkpoint"]
    best = selection["candidates"][selection["best"]]
    assert best["bleu"] == max(c["bleu"] for c in selection["candidates"].values())
    assert "tok:13a" in best["bleu_signature"] and "case:mixed" in best["bleu_signature"]
    assert summary["export"]["version"] == 1 and summary["export"]["decoding"]["beam_width"] == 3
    assert (model_dir / "sentencepiece.model").is_file()
    assert any(name.startswith("events") for name in os.listdir(model_dir / "validation"))
    version = export_dir / "1"
    assert (version / "saved_model.pb").is_file()
    metadata = json.loads((version / "assets.extra" / "bertlab_export.json").read_text())
    assert metadata["direction"] == "en-de" and metadata["output_key"] == "translation"
    assert metadata["jit_compile"] is True and metadata["dtype_policy"] == "float32"
    assert summary["export"]["jit_compile"] is True
    assert not [n for n in os.listdir(export_dir) if n.startswith(".tmp")]
    # TF Serving files: warm-up requests in the version, models.config beside the base dir.
    assert (version / "assets.extra" / "tf_serving_warmup_requests").is_file()
    assert export_dir.name in (export_dir.parent / "models.config").read_text()


def test_evaluate_and_predict_use_the_export(trained, tmp_path, data_dir):
    _, export_dir, _ = trained
    output = tmp_path / "hypotheses.txt"
    evaluate, predict = run_apps([
        ("apps.translation.evaluate", [f"--model_dir={export_dir}", f"--data_dir={data_dir}",
                                       "--limit=6", f"--output={output}"]),
        ("apps.translation.predict", [f"--model_dir={export_dir / '1'}", "--json",
                                      "A dog runs.", "", "Zwei"])])
    report = json.loads(evaluate.stdout.strip().splitlines()[-1])
    assert report["sentences"] == 6 and report["model"].endswith("1")
    assert 0.0 <= report["bleu"] <= 100.0 and "chrf_signature" in report
    assert len(output.read_text(encoding="utf-8").splitlines()) == 6
    lines = [json.loads(line) for line in predict.stdout.strip().splitlines()]
    assert [line["text"] for line in lines] == ["A dog runs.", "", "Zwei"]
    assert all(isinstance(line["translation"], str) for line in lines)


def test_configs_load_and_bad_ones_fail_clearly(tmp_path):
    for name in ("default", "smoke", "tatoeba_zh_en"):
        config = load_config(TranslationConfig, str(REPO_ROOT / "configs" / "translation" /
                                                    f"{name}.yaml"))
        assert config.trainer.keep_checkpoints >= config.selection.num_checkpoints
        assert config.trainer.keep_checkpoints >= config.selection.average_last
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  train_stepz: 3\n")
    with pytest.raises(ConfigError, match="train_stepz"):
        load_config(TranslationConfig, str(bad))
    bad.write_text("decoding:\n  method: viterbi\n")
    with pytest.raises(ConfigError, match="method"):
        load_config(TranslationConfig, str(bad))


def test_readers(data_dir, tmp_path):
    sources, targets = load_pairs("multi30k", "validation", "de-en", str(data_dir), limit=3)
    assert len(sources) == 3 and sources[0].startswith("Eine")
    zh, en = load_pairs("tatoeba_zh_en", "train", "zh-en", str(data_dir), limit=2)
    assert en[0] == "Hi." and zh[0] == "嗨。"
    with pytest.raises(DataError, match="supports directions"):
        load_pairs("multi30k", "train", "en-zh", str(data_dir))
    with pytest.raises(DataError, match="Unknown dataset"):
        load_pairs("wmt99", "train", "en-de", str(data_dir))
    with pytest.raises(DataError, match="direction"):
        parse_direction("english")
    bad = tmp_path / "pairs.tsv"
    bad.write_bytes(b"ok\tgut\nbroken line\n")
    with pytest.raises(DataError, match="pairs.tsv:2"):
        read_tsv_pairs(str(bad))
    bad.write_bytes(b"a\t\xff\n")
    with pytest.raises(DataError, match="UTF-8"):
        read_tsv_pairs(str(bad))


def test_metrics_match_sacrebleu_and_reject_mismatches():
    import sacrebleu

    hypotheses = ["Ein Hund rennt am Strand.", "Zwei Männer spielen Fußball"]
    references = ["Ein Hund läuft am Strand.", "Zwei Männer spielen Fußball."]
    scores = translation_metrics(hypotheses, references, "de")
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [references]).score)
    assert "tok:zh" in translation_metrics(["你好"], ["你好"], "zh")["bleu_signature"]
    with pytest.raises(ValueError, match="references"):
        translation_metrics(["a"], ["a", "b"])
