"""The MiniLM checkpoint through bertlab against independent implementations."""

import numpy as np
import pytest
import tensorflow as tf

from bertlab.models import BertEncoder
from bertlab.text import BertPreprocessor


@pytest.fixture(scope="module")
def batch(minilm_dir, sst2_dev_sentences):
    pre = BertPreprocessor.from_pretrained(minilm_dir, sequence_length=64)
    return {k: v.numpy() for k, v in pre(tf.constant(sst2_dev_sentences[:96])).items()}


def _max_diff(a, b, mask):
    return float(np.abs(np.asarray(a) - np.asarray(b))[mask.astype(bool)].max())


def test_matches_hugging_face_pytorch(minilm_dir, batch):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    reference = transformers.BertModel.from_pretrained(minilm_dir).eval()
    with torch.no_grad():
        expected = reference(
            input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
            attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long))
    ours = BertEncoder.from_pretrained(minilm_dir)(batch)
    diff = _max_diff(ours["sequence_output"], expected.last_hidden_state.numpy(),
                     batch["padding_mask"])
    print(f"max abs difference vs transformers (sequence_output): {diff:.2e}")
    assert diff < 1e-4
    np.testing.assert_allclose(ours["pooled_output"].numpy(), expected.pooler_output.numpy(),
                               atol=1e-4)


def test_matches_keras_hub_with_its_gelu(minilm_dir, batch):
    """keras-hub's BertBackbone uses the tanh-approximated GELU; with the same
    activation our encoder must agree with it on the same checkpoint."""
    keras_hub = pytest.importorskip("keras_hub")
    reference = keras_hub.models.BertBackbone.from_preset(minilm_dir)
    expected = reference(batch)
    ours = BertEncoder.from_pretrained(minilm_dir, activation="gelu_approximate")(batch)
    diff = _max_diff(ours["sequence_output"], expected["sequence_output"], batch["padding_mask"])
    print(f"max abs difference vs keras-hub (sequence_output): {diff:.2e}")
    assert diff < 1e-4


def test_mixed_bfloat16_close_to_float32(minilm_dir, batch):
    f32 = BertEncoder.from_pretrained(minilm_dir)(batch)["pooled_output"].numpy()
    bf16 = BertEncoder.from_pretrained(minilm_dir, dtype="mixed_bfloat16")(batch)
    assert bf16["pooled_output"].dtype == tf.bfloat16
    out = bf16["pooled_output"].numpy().astype("float32")
    cosine = np.sum(out * f32, -1) / (np.linalg.norm(out, axis=-1) * np.linalg.norm(f32, axis=-1))
    assert cosine.min() > 0.99
    assert np.abs(out - f32).max() < 0.1
