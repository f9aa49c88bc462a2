import json
import os

import keras
import numpy as np
import pytest

from bertlab.models import BERT_PRESETS, BertEncoder, CheckpointError


def _inputs(batch=2, seq=6, vocab=50, pad_from=None, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (batch, seq)).astype("int32")
    mask = np.ones((batch, seq), "int32")
    if pad_from is not None:
        mask[:, pad_from:] = 0
        ids[:, pad_from:] = 0
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}


def _tiny(**kwargs):
    args = dict(vocabulary_size=50, num_layers=2, hidden_dim=16, num_heads=2,
                intermediate_dim=32, max_sequence_length=32, dropout=0.0)
    args.update(kwargs)
    return BertEncoder(**args)


def test_output_shapes_and_presets():
    out = _tiny()(_inputs())
    assert out["sequence_output"].shape == (2, 6, 16)
    assert out["pooled_output"].shape == (2, 16)
    tiny = BertEncoder.from_preset("tiny", vocabulary_size=100)
    assert tiny.hidden_dim == BERT_PRESETS["tiny"]["hidden_dim"]
    with pytest.raises(ValueError, match="Unknown preset"):
        BertEncoder.from_preset("gigantic")
    with pytest.raises(ValueError, match="divisible"):
        _tiny(num_heads=3)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_padding_does_not_change_real_positions(normalize_first):
    model = _tiny(normalize_first=normalize_first)
    short = _inputs(seq=4)
    padded = {k: np.concatenate([v, np.zeros((2, 3), "int32")], axis=1) for k, v in short.items()}
    padded["token_ids"][:, 4:] = 7  # garbage behind the mask
    a = model(short)
    b = model(padded)
    np.testing.assert_allclose(b["sequence_output"].numpy()[:, :4],
                               a["sequence_output"].numpy(), atol=1e-5)
    np.testing.assert_allclose(b["pooled_output"].numpy(), a["pooled_output"].numpy(), atol=1e-5)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_output_positions_equal_gathering_the_sequence_output(normalize_first):
    model = _tiny(normalize_first=normalize_first)
    x = _inputs(seq=8, pad_from=6)
    positions = np.array([[1, 7, 3], [0, 0, 5]], "int32")
    full = model(x)
    at = model({**x, "output_positions": positions})
    assert at["sequence_output"].shape == (2, 3, 16)
    np.testing.assert_allclose(
        at["sequence_output"].numpy(),
        np.take_along_axis(full["sequence_output"].numpy(), positions[..., None], 1), atol=1e-5)
    np.testing.assert_allclose(at["pooled_output"].numpy(), full["pooled_output"].numpy(),
                               atol=1e-5)
    symbolic = model({**{k: keras.Input((None,), dtype="int32") for k in x},
                      "output_positions": keras.Input((3,), dtype="int32")})
    assert tuple(symbolic["sequence_output"].shape) == (None, 3, 16)


def test_config_and_keras_file_round_trip(tmp_path):
    model = _tiny(position_type="sinusoidal", activation="gelu_approximate")
    x = _inputs()
    expected = model(x)["sequence_output"].numpy()
    clone = BertEncoder.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x)["sequence_output"].numpy(), expected, atol=1e-6)
    path = str(tmp_path / "encoder.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, BertEncoder)
    np.testing.assert_allclose(restored(x)["sequence_output"].numpy(), expected, atol=1e-6)


def test_fit_predict_evaluate():
    encoder = _tiny()
    inputs = encoder.input
    logits = keras.layers.Dense(2)(encoder(inputs)["pooled_output"])
    model = keras.Model(inputs, logits)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = _inputs(batch=16, seed=3)
    y = (x["token_ids"][:, 0] > 25).astype("int32")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=15, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    assert model.predict(x, verbose=0).shape == (16, 2)


def test_save_pretrained_round_trip(tmp_path):
    model = _tiny(normalize_first=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(45)]
    target = tmp_path / "export"
    model.save_pretrained(target, vocabulary=vocab, lowercase=False)
    assert sorted(os.listdir(target)) == ["config.json", "model.safetensors",
                                         "tokenizer_config.json", "vocab.txt"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temp dirs left
    loaded = BertEncoder.from_pretrained(target)
    assert loaded.normalize_first
    x = _inputs()
    np.testing.assert_allclose(loaded(x)["sequence_output"].numpy(),
                               model(x)["sequence_output"].numpy(), atol=1e-6)
    # Saving again over an existing export replaces it whole.
    model.save_pretrained(target, vocabulary=vocab)
    assert json.loads((target / "tokenizer_config.json").read_text())["do_lower_case"] is True


def test_from_pretrained_errors(tmp_path, minilm_dir):
    with pytest.raises(CheckpointError, match="not found"):
        BertEncoder.from_pretrained(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        BertEncoder.from_pretrained(bad)
    # A vocabulary that does not match the checkpoint.
    mismatch = tmp_path / "mismatch"
    mismatch.mkdir()
    for name in ("config.json", "model.safetensors"):
        os.symlink(os.path.join(minilm_dir, name), mismatch / name)
    (mismatch / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")
    with pytest.raises(CheckpointError, match="does not match the checkpoint"):
        BertEncoder.from_pretrained(mismatch)
    with pytest.raises(ValueError, match="fixed by the checkpoint"):
        BertEncoder.from_pretrained(minilm_dir, num_layers=2)


def test_extra_inputs_are_ignored_and_missing_ones_named():
    model = _tiny()
    x = _inputs(pad_from=4)
    expected = model(x)["sequence_output"].numpy()
    extra = dict(x, masked_positions=np.zeros((2, 3), "int32"), another=np.ones((2, 1), "int32"))
    np.testing.assert_allclose(model(extra)["sequence_output"].numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="padding_mask"):
        model({"token_ids": x["token_ids"], "segment_ids": x["segment_ids"]})


def test_mixed_precision_policy_survives_config_and_keras_file(tmp_path):
    model = _tiny(dtype="mixed_bfloat16")
    assert model.get_config()["dtype"] == "mixed_bfloat16"
    clone = BertEncoder.from_config(model.get_config())
    assert clone(_inputs())["sequence_output"].dtype == "bfloat16"
    path = str(tmp_path / "bf16.keras")
    model.save(path)
    assert keras.saving.load_model(path)(_inputs())["sequence_output"].dtype == "bfloat16"
