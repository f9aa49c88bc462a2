"""WikiText-2 end to end through the pretraining apps: prepare_text -> build_vocab ->
create_data -> train -> an exported encoder the other apps can load."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.apps.app_process import run_app as _run
from tests.apps.app_process import run_apps


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, data_dir):
    work = tmp_path_factory.mktemp("pretrain")
    # A slice of WikiText-2: its first 2,000 lines (about 10 articles).
    lines = (data_dir / "wikitext2" / "valid.txt").read_text("utf-8").splitlines()[:2000]
    (work / "wiki.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _run("apps.pretrain.prepare_text", f"--input={work}/wiki.txt", "--input_format=wikitext",
         f"--output_dir={work}", "--validation_documents=2")
    _run("apps.pretrain.build_vocab", f"--input={work}/train.txt", f"--output={work}/vocab.txt",
         "--vocab_size=3000")
    run_apps([("apps.pretrain.create_data",
               [f"--input={work}/{split}.txt", f"--vocab_file={work}/vocab.txt",
                f"--output={work}/{split}", "--max_seq_length=64",
                "--max_predictions_per_seq=10", f"--dupe_factor={dupe}", "--noprogress"])
              for split, dupe in (("train", 3), ("validation", 1))])
    train_args = [
        "--config=configs/pretrain/tiny.yaml", f"--model_dir={work}/run",
        f"--train_files={work}/train-*.tfrecord",
        f"--validation_files={work}/validation-*.tfrecord", f"--vocab_file={work}/vocab.txt",
        "--set", "trainer.train_steps=400", "--set", "optimizer.warmup_steps=20",
        "--set", "optimizer.learning_rate=2e-3", "--set", "trainer.steps_per_loop=40",
        "--set", "trainer.log_interval=80", "--set", "trainer.checkpoint_interval=120",
        "--set", "task.encoder.max_sequence_length=64"]
    _run("apps.pretrain.train", *train_args)
    return work, train_args


def test_training_beats_the_majority_baseline(pipeline):
    work, _ = pipeline
    summary = json.loads((work / "run" / "summary.json").read_text())
    assert summary["steps"] == 400
    baseline = summary["mlm_majority_baseline"]["accuracy"]
    accuracy = summary["final_eval"]["mlm_accuracy"]
    assert accuracy > baseline + 0.02, (accuracy, baseline)
    assert summary["final_eval"]["mlm_perplexity"] < 3000  # vocabulary size: a uniform guess
    assert summary["examples_per_second"] > 0
    assert os.listdir(work / "run" / "train")  # TensorBoard events


def test_export_is_loadable_by_the_library(pipeline):
    from bertlab.models import BertEncoder
    from bertlab.text import BertPreprocessor

    work, _ = pipeline
    export = work / "run" / "export"
    encoder = BertEncoder.from_pretrained(export)
    preprocessor = BertPreprocessor.from_pretrained(export, sequence_length=16)
    out = encoder(preprocessor(tf.constant(["the game was released in japan ."])))
    assert out["sequence_output"].shape == (1, 16, encoder.hidden_dim)
    assert np.all(np.isfinite(out["pooled_output"].numpy()))


def _bad_input_cases(work, train_args, tmp):
    """`((module, args), expected message)` of each bad-input case."""
    base = [a for a in train_args if not a.startswith("--model_dir")]
    no_mask = tmp / "vocab.txt"
    no_mask.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n")
    empty = tmp / "empty.txt"
    empty.write_text("\n\n")
    return [
        (("apps.pretrain.train", [*base, f"--model_dir={tmp}/a", "--set",
                                  "trainer.no_such_key=1"]), "no_such_key"),
        (("apps.pretrain.train", [*base, f"--model_dir={tmp}/b",
                                  f"--train_files={tmp}/missing-*.tfrecord"]),
         "No pretraining data files match"),
        (("apps.pretrain.create_data", [f"--input={work}/train.txt", f"--vocab_file={no_mask}",
                                        f"--output={tmp}/x"]), "[MASK]"),
        (("apps.pretrain.build_vocab", [f"--input={empty}", f"--output={tmp}/v.txt"]),
         "empty"),
    ]


@pytest.fixture(scope="module")
def reruns(pipeline, tmp_path_factory):
    """Side by side, on the trained pipeline: the same command again (it resumes) and the
    bad-input cases. (`--xla_fusion`'s restart: tests/layers/test_xla_fusion.py; a fused
    training run: tests/training/test_trainer.py.)"""
    work, train_args = pipeline
    tmp = tmp_path_factory.mktemp("reruns")
    bad = _bad_input_cases(work, train_args, tmp)
    results = run_apps([("apps.pretrain.train", train_args)] + [c for c, _ in bad],
                       expect_ok=False)
    return dict(tmp=tmp, rerun=results[0],
                bad=[(call, message, result) for (call, message), result
                     in zip(bad, results[1:])])


def test_rerun_resumes_instead_of_restarting(pipeline, reruns):
    work, _ = pipeline
    proc = reruns["rerun"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "nothing to train" in (proc.stdout + proc.stderr)
    assert json.loads((work / "run" / "summary.json").read_text())["start_step"] == 400


def test_bad_input_gives_clear_errors(reruns):
    for call, message, result in reruns["bad"]:
        assert result.returncode != 0, call
        assert message.lower() in result.stderr.lower(), (call, result.stderr[-2000:])
        assert "Traceback" not in result.stderr, (call, result.stderr[-2000:])
    assert not (reruns["tmp"] / "v.txt").exists()
