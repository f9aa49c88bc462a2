"""The summarization app end to end on a slice of SciTLDR with BERT2BERT from MiniLM
(train -> export -> evaluate -> predict), its readers and ROUGE."""

import json

import pytest
import tensorflow as tf
from rouge_score import rouge_scorer

from apps.summarization.config import SummarizationConfig
from apps.summarization.data import first_sentence, load_examples, read_scitldr
from apps.summarization.metrics import rouge_scores
from bertlab.config import ConfigError, load_config
from bertlab.data.readers import DataError
from tests.apps.app_process import run_app, run_apps
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir, minilm_dir):
    root = tmp_path_factory.mktemp("summarization")
    model_dir, export_dir = root / "run", root / "exports"
    result = run_app("apps.summarization.train", *["--config=configs/summarization/smoke.yaml",
                   f"--data_dir={data_dir}", f"--model_dir={model_dir}",
                   f"--export_dir={export_dir}", "--export_max_length=6",
                   "--set", "data.train_limit=8", "--set", "data.validation_limit=3",
                   "--set", "task.max_source_length=32", "--set", "task.max_target_length=12",
                   "--set", "task.model.bert_decoder_layers=1",
                   "--set", "trainer.train_steps=2", "--set", "trainer.global_batch_size=4",
                   "--set", "trainer.steps_per_loop=2", "--set", "trainer.log_interval=2",
                   "--set", "trainer.checkpoint_interval=2", "--set", "optimizer.warmup_steps=1",
                   "--set", "decoding.max_length=4", "--set", "decoding.beam_width=1",
                   "--set", "decoding.method=greedy"])
    return model_dir, export_dir, json.loads(result.stdout.strip().splitlines()[-1])


def test_training_writes_summary_with_baseline_and_export(trained):
    model_dir, export_dir, printed = trained
    summary = json.loads((model_dir / "summary.json").read_text())
    assert summary["checkpoint_selection"]["best"] == "ckpt-2"
    assert set(summary["validation_generation"]) == {"rouge1", "rouge2", "rougeL"}
    baseline = summary["first_sentence_baseline"]
    assert baseline == printed["first_sentence_baseline"] and 0 < baseline["rouge1"] < 100
    metadata = json.loads((export_dir / "1" / "assets.extra" / "bertlab_export.json").read_text())
    assert metadata["output_key"] == "summary" and metadata["source_start_token"] is True
    assert metadata["decoding"]["max_length"] == 6
    assert not (model_dir / "sentencepiece.model").exists()  # MiniLM's WordPiece instead


def test_evaluate_and_predict_use_the_export(trained, data_dir):
    _, export_dir, _ = trained
    evaluate, predict = run_apps([
        ("apps.summarization.evaluate", [f"--model_dir={export_dir}", f"--data_dir={data_dir}",
                                         "--limit=2"]),
        ("apps.summarization.predict", [f"--model_dir={export_dir}",
                                        "We propose a method. It works.",
                                        b"\xff\xfe".decode("latin-1"), ""])])
    report = json.loads(evaluate.stdout.strip().splitlines()[-1])
    assert report["examples"] == 2 and set(report["rouge"]) == {"rouge1", "rouge2", "rougeL"}
    assert len(predict.stdout.split("\n")) == 4  # three summaries (maybe empty), one per line


def test_export_accepts_any_bytes(trained):
    _, export_dir, _ = trained
    serve = tf.saved_model.load(str(export_dir / "1")).signatures["serving_default"]
    out = serve(text=tf.constant([b"\xff\xfe\x80", b"", b"long " * 3000, "摘要".encode()]))
    assert out["summary"].shape == (4,)
    assert serve(text=tf.constant([], tf.string))["summary"].shape == (0,)


def test_configs_load():
    for name in ("default", "smoke", "csl_ts"):
        config = load_config(SummarizationConfig, str(REPO_ROOT / "configs" / "summarization" /
                                                      f"{name}.yaml"))
        assert config.trainer.keep_checkpoints >= config.selection.num_checkpoints
        assert config.selection.metric in ("rouge1", "rouge2", "rougeL")
        assert config.decoding.max_length <= config.task.max_target_length
    with pytest.raises(ConfigError, match="language"):
        load_config(SummarizationConfig, None, {"data.language": "fr"})


def test_readers(data_dir, tmp_path):
    validation = load_examples("scitldr", "validation", str(data_dir), limit=5)
    assert len(validation) == 5 and all(1 <= len(r) <= 4 for r in validation.references)
    assert validation.sources[0].startswith(validation.first_sentences[0])
    train = load_examples("csl_ts", "train", str(data_dir), csl_validation_size=200)
    held_out = load_examples("csl_ts", "validation", str(data_dir), csl_validation_size=200)
    assert (len(train), len(held_out)) == (800, 200)
    assert not set(train.sources) & set(held_out.sources)
    assert first_sentence("目的 观察疗效.方法 随机分组。结果 有效") == "目的 观察疗效."
    assert first_sentence("We use v2.0 of it. Then more.") == "We use v2.0 of it."
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": ["a."], "target": ["b"]}\n{"source": [], "target": ["x"]}\n')
    with pytest.raises(DataError, match="bad.jsonl:2"):
        read_scitldr(str(bad))
    bad.write_text('{"source": ["a."], "target": ["b"]\n')
    with pytest.raises(DataError, match="not valid JSON"):
        read_scitldr(str(bad))
    with pytest.raises(DataError, match="Unknown dataset"):
        load_examples("xsum", "train", str(data_dir))


def test_rouge_takes_the_best_reference():
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    hypotheses = ["we propose a new training method", "a model for text"]
    references = [["a new method for training is proposed", "we propose a new training method"],
                  ["models of text"]]
    scores = rouge_scores(hypotheses, references)
    expected = (1.0 + scorer.score("models of text", "a model for text")["rouge1"].fmeasure) / 2
    assert scores["rouge1"] == pytest.approx(100 * expected)
    chinese = rouge_scores(["补肾活血汤的疗效"], [["补肾活血汤对高血压的疗效"]], language="zh")
    assert chinese["rouge1"] == pytest.approx(100 * 2 * 8 / (8 + 12))
