"""apps.pretrain.release_checkpoint: bf16 release of a pretraining export, with reference outputs."""

import json
import os

import numpy as np
import pytest
from safetensors import safe_open

from apps.pretrain.release_checkpoint import REFERENCE_FILE, RELEASE_FILE, release
from bertlab.models import BertEncoder, CheckpointError

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "北", "京", "是", "首", "都", "the", "##s",
         "这"]


@pytest.fixture
def export_dir(tmp_path):
    encoder = BertEncoder(vocabulary_size=len(VOCAB), num_layers=2, hidden_dim=16, num_heads=2,
                          intermediate_dim=32, max_sequence_length=32)
    path = tmp_path / "run" / "export"
    encoder.save_pretrained(path, vocabulary=VOCAB, lowercase=True)
    (tmp_path / "run" / "summary.json").write_text(json.dumps(
        {"steps": 7, "validation": {"mlm_accuracy": 0.5}, "export": {"path": str(path)}}))
    return path


def test_release_writes_bf16_weights_and_reference_outputs_that_reload(export_dir, tmp_path):
    out = release(export_dir, tmp_path / "release", summary_path=export_dir.parent / "summary.json",
                  texts=["北京是首都", "the"], sequence_length=8)
    with safe_open(os.path.join(out, "model.safetensors"), framework="numpy") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"bfloat16"}
    assert (os.path.getsize(os.path.join(out, "model.safetensors"))
            < 0.6 * os.path.getsize(export_dir / "model.safetensors"))
    with np.load(os.path.join(out, REFERENCE_FILE)) as ref:
        assert list(ref["texts"]) == ["北京是首都", "the"]
        np.testing.assert_array_equal(ref["token_ids"][0, :7], [2, 5, 6, 7, 8, 9, 3])
        outputs = BertEncoder.from_pretrained(out)({
            "token_ids": ref["token_ids"], "segment_ids": np.zeros_like(ref["token_ids"]),
            "padding_mask": (ref["token_ids"] != 0).astype("int32")})
        np.testing.assert_allclose(outputs["sequence_output"], ref["sequence_output"], atol=1e-6)
        # bf16 rounding moved the outputs, but only a little.
        original = BertEncoder.from_pretrained(export_dir)({
            "token_ids": ref["token_ids"], "segment_ids": np.zeros_like(ref["token_ids"]),
            "padding_mask": (ref["token_ids"] != 0).astype("int32")})
        diff = np.abs(np.asarray(original["pooled_output"]) - ref["pooled_output"]).max()
        assert 0 < diff < 0.05
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o777 & ~umask
    assert os.stat(os.path.join(out, "model.safetensors")).st_mode & 0o777 == 0o666 & ~umask
    facts = json.loads(open(os.path.join(out, RELEASE_FILE), encoding="utf-8").read())
    assert facts["steps"] == 7 and facts["weights_dtype"] == "bfloat16" and "export" not in facts


def test_release_replaces_a_previous_release_and_leaves_nothing_aside(export_dir, tmp_path):
    target = tmp_path / "release"
    release(export_dir, target, texts=["the"], sequence_length=4)
    (target / "stale.txt").write_text("old")
    release(export_dir, target, texts=["the"], sequence_length=4)
    assert not (target / "stale.txt").exists() and (target / "vocab.txt").exists()
    assert sorted(os.listdir(tmp_path)) == ["release", "run"]


def test_a_directory_that_is_not_a_release_is_not_replaced(export_dir, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("kept")
    with pytest.raises(FileExistsError, match="not an earlier output"):
        release(export_dir, target, texts=["the"], sequence_length=4)
    assert os.listdir(target) == ["notes.txt"]


def test_a_missing_export_is_an_error_and_keeps_the_previous_release(tmp_path):
    target = tmp_path / "release"
    target.mkdir()
    (target / "vocab.txt").write_text("kept")
    with pytest.raises(CheckpointError, match="not found"):
        release(tmp_path / "nothing", target)
    assert (target / "vocab.txt").read_text() == "kept"


def test_traditional_aliases_read_as_their_simplified_tokens(export_dir, tmp_path):
    pytest.importorskip("opencc")
    out = release(export_dir, tmp_path / "release", texts=["這是北京", "这是北京"],
                  sequence_length=8, add_traditional_aliases=True)
    vocab = (tmp_path / "release" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert vocab[:len(VOCAB)] == VOCAB and "這" in vocab[len(VOCAB):]
    facts = json.loads(open(os.path.join(out, RELEASE_FILE), encoding="utf-8").read())
    assert facts["traditional_aliases"] == len([t for t in vocab[len(VOCAB):] if t])
    with np.load(os.path.join(out, REFERENCE_FILE)) as ref:
        np.testing.assert_allclose(ref["sequence_output"][0], ref["sequence_output"][1],
                                   atol=1e-6)
