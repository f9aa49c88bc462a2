import numpy as np
import pytest

from bertlab.models import BertEncoder, Seq2SeqTransformer, copy_with_dtype_policy
from bertlab.models.dtype_policy_copy import layer_policies


def _inputs():
    rng = np.random.default_rng(0)
    ids = rng.integers(4, 50, size=(2, 6)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, 4:] = 0
    return {"encoder_token_ids": ids, "encoder_padding_mask": mask,
            "decoder_token_ids": ids[:, :5], "decoder_padding_mask": mask[:, :5]}


def test_bfloat16_model_copied_to_float32():
    model = Seq2SeqTransformer(50, num_encoder_layers=1, num_decoder_layers=1, hidden_dim=16,
                               num_heads=2, intermediate_dim=32, dropout=0.0,
                               dtype="mixed_bfloat16")
    copy = copy_with_dtype_policy(model, "float32")
    assert copy is not model and layer_policies(copy) == {"float32"}
    assert layer_policies(model) == {"mixed_bfloat16"}
    assert all(w.dtype == "float32" for w in copy.weights)
    for a, b in zip(model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Same function, computed in float32 instead of bfloat16.
    bf16 = np.asarray(model(_inputs()), np.float32)
    fp32 = np.asarray(copy(_inputs()))
    assert fp32.dtype == np.float32
    np.testing.assert_allclose(bf16, fp32, atol=0.05 * np.abs(fp32).max())
    # And back: the copy of the copy computes in bfloat16 again.
    assert layer_policies(copy_with_dtype_policy(copy, "mixed_bfloat16")) == {"mixed_bfloat16"}


def test_same_policy_is_the_model_itself():
    model = BertEncoder(vocabulary_size=40, num_layers=1, hidden_dim=16, num_heads=2,
                        intermediate_dim=32, max_sequence_length=16, dtype="float32")
    assert copy_with_dtype_policy(model, "float32") is model


def test_unknown_policy_is_an_error():
    model = BertEncoder(vocabulary_size=40, num_layers=1, hidden_dim=16, num_heads=2,
                        intermediate_dim=32, max_sequence_length=16)
    with pytest.raises(ValueError):
        copy_with_dtype_policy(model, "float13")


def test_nested_encoder_is_switched_and_float32_head_kept():
    from bertlab.models import BertClassifier

    encoder = BertEncoder(vocabulary_size=40, num_layers=1, hidden_dim=16, num_heads=2,
                          intermediate_dim=32, max_sequence_length=16, dropout=0.0,
                          dtype="mixed_bfloat16")
    model = BertClassifier(encoder, num_classes=3, pooling="mean", dropout=0.0)
    copy = copy_with_dtype_policy(model, "bfloat16")
    # The encoder inside the classifier's config is rebuilt under the new policy too;
    # the head, float32 by construction, stays float32.
    assert layer_policies(copy) == {"bfloat16", "float32"}
    assert all(w.dtype == "bfloat16" for w in copy.encoder.weights)
    assert all(w.dtype == "float32" for w in copy.classifier.weights)
    for a, b in zip(model.encoder.get_weights(), copy.encoder.get_weights()):
        np.testing.assert_allclose(a, b.astype(np.float32), rtol=1e-2, atol=1e-6)
    ids = np.array([[2, 5, 7, 9, 3, 0], [2, 8, 3, 0, 0, 0]], "int32")
    inputs = {"token_ids": ids, "segment_ids": np.zeros_like(ids),
              "padding_mask": (ids > 0).astype("int32")}
    mixed = np.asarray(model(inputs))
    stored = np.asarray(copy(inputs))
    assert stored.dtype == np.float32
    np.testing.assert_allclose(mixed, stored, atol=0.05 * np.abs(mixed).max() + 1e-3)
