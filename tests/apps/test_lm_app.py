"""The language-model app end to end on short Gutenberg books (train -> export -> evaluate ->
generate -> continue with --init), its configs and its bad inputs."""

import json

import pytest

from apps.lm.config import LanguageModelAppConfig
from bertlab.config import ConfigError, load_config
from tests.apps.app_process import run_app, run_apps
from tests.conftest import REPO_ROOT

TINY = ["--config=configs/lm/smoke.yaml", "--set", "trainer.train_steps=6",
        "--set", "trainer.steps_per_loop=3", "--set", "trainer.log_interval=3",
        "--set", "trainer.checkpoint_interval=6", "--set", "optimizer.warmup_steps=1",
        "--set", "subword.vocabulary_size=400", "--set", "decoding.max_length=8"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("lm")
    model_dir, export_dir = root / "run", root / "exports"
    result = run_app("apps.lm.train", *TINY, f"--data_dir={data_dir}",
                     f"--model_dir={model_dir}", f"--export_dir={export_dir}")
    return root, model_dir, export_dir, json.loads(result.stdout.strip().splitlines()[-1])


def _metadata(version_dir):
    return json.loads((version_dir / "assets.extra" / "bertlab_export.json").read_text())


def test_training_validates_on_the_held_out_book_and_exports(trained):
    _, model_dir, export_dir, printed = trained
    validation = printed["validation"]
    # An almost untrained model: near-uniform over its 400 pieces, a few bits per character.
    assert 50 < validation["perplexity"] < 500 and 1.0 < validation["bits_per_character"] < 6
    assert validation["tokens"] > 10000  # the whole of Julius Caesar
    assert (model_dir / "sentencepiece.model").is_file()
    version = export_dir / "1"
    for name in ("saved_model.pb", "language_model.keras", "sentencepiece.model"):
        assert (version / name).is_file()
    metadata = _metadata(version)
    assert metadata["app"] == "lm" and metadata["corpus"] == "gutenberg"
    assert metadata["validation_files"] == ["shakespeare-caesar.txt"]
    assert metadata["context_window"] == 64 and metadata["max_new_tokens"] == 8
    assert metadata["max_prompt_tokens"] == 56 and metadata["score_stride"] == 32
    assert (version / "assets.extra" / "tf_serving_warmup_requests").is_file()


def test_evaluate_and_generate_use_the_export(trained):
    _, _, export_dir, printed = trained
    evaluate, greedy, piped = run_apps([
        ("apps.lm.evaluate", [f"--model_dir={export_dir}"]),
        ("apps.lm.generate", [f"--model_dir={export_dir}", "--method=greedy", "--json",
                              "It was a dark", "", "It was a dark"]),
        ("apps.lm.generate", [f"--model_dir={export_dir}", "--seed=3", "--top_k=5",
                              "--max_new_tokens=4"], "First line\nSecond line\n"),
    ])
    report = json.loads(evaluate.stdout.strip().splitlines()[-1])
    # The export's score_text reproduces the training run's validation (same windows).
    assert report["total"]["tokens"] == printed["validation"]["tokens"]
    assert report["total"]["bits_per_character"] == pytest.approx(
        printed["validation"]["bits_per_character"], rel=1e-3)
    lines = [json.loads(line) for line in greedy.stdout.strip().splitlines()]
    assert [line["prompt"] for line in lines] == ["It was a dark", "", "It was a dark"]
    assert lines[0] == lines[2]   # greedy: the same prompt, the same completion in any row
    assert piped.returncode == 0 and piped.stdout.count("\n") >= 2


def test_init_continues_from_the_export(trained, data_dir):
    root, _, export_dir, printed = trained
    # One step at a tiny learning rate: the validation stays the trained model's.
    result = run_app("apps.lm.train", *TINY, f"--data_dir={data_dir}",
                     f"--model_dir={root / 'adapted'}", f"--export_dir={export_dir}",
                     f"--init={export_dir}", "--set", "trainer.train_steps=1",
                     "--set", "trainer.checkpoint_interval=1",
                     "--set", "optimizer.learning_rate=1e-7",
                     "--set", "data.train_files=[austen-persuasion.txt]")
    adapted = json.loads(result.stdout.strip().splitlines()[-1])
    assert adapted["validation"]["bits_per_character"] == pytest.approx(
        printed["validation"]["bits_per_character"], rel=0.01)
    assert adapted["export"]["version"] == 2
    assert _metadata(export_dir / "2")["init"] == str(export_dir)
    # The export's own SentencePiece model was used, none learned.
    assert not (root / "adapted" / "sentencepiece.model").exists()


def test_bad_inputs_are_one_line_errors(trained, data_dir, tmp_path):
    _, model_dir, export_dir, _ = trained
    not_lm = tmp_path / "not_lm"
    not_lm.mkdir()
    (not_lm / "saved_model.pb").write_bytes(b"")
    results = run_apps([
        ("apps.lm.train", [*TINY, f"--data_dir={data_dir}", f"--model_dir={tmp_path / 'a'}",
                           "--set", "data.validation_files=[no-such-book.txt]"]),
        ("apps.lm.train", [*TINY, f"--data_dir={data_dir}", f"--model_dir={tmp_path / 'b'}",
                           f"--init={not_lm}"]),
        ("apps.lm.train", [*TINY, f"--data_dir={data_dir}", f"--model_dir={tmp_path / 'c'}",
                           "--set", "subword.lossless=false"]),
        ("apps.lm.generate", [f"--model_dir={export_dir}", "--max_new_tokens=64", "x"]),
        ("apps.lm.generate", [f"--model_dir={tmp_path / 'missing'}", "x"]),
        ("apps.lm.evaluate", [f"--model_dir={export_dir}", "--files=/no/such/file.txt"]),
    ], expect_ok=False)
    expected = ["no-such-book.txt", "not a language-model export", "lossless",
                "no room for a prompt", "not found", "not found"]
    for result, message in zip(results, expected):
        assert result.returncode == 1, result.stderr[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in last, last
        assert "Traceback" not in result.stderr


def test_configs_load():
    for name in ("default", "smoke", "zh_classics"):
        config = load_config(LanguageModelAppConfig,
                             str(REPO_ROOT / "configs" / "lm" / f"{name}.yaml"))
        assert config.task.sequence_length <= config.task.model.max_sequence_length
        assert config.decoding.max_length < config.task.model.max_sequence_length
        assert config.subword.lossless and config.subword.model_type == "bpe"
    with pytest.raises(ConfigError, match="held out"):
        load_config(LanguageModelAppConfig, None, {"data.train_files": ["a.txt"],
                                                   "data.validation_files": ["a.txt"]})
    with pytest.raises(ConfigError, match="eval_steps"):
        load_config(LanguageModelAppConfig, None, {"trainer.eval_steps": 3})
