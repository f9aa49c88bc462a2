"""`constant_weights`: a model's inference call with its weights frozen into the graph gives
the model's outputs (tensor and dict outputs, masks and padding included), reads no
variable, and refuses inputs it was not traced for."""

import numpy as np
import pytest
import tensorflow as tf

from bertlab.export.constant_weights import constant_weights
from bertlab.models import BertClassifier, BertEncoder
from bertlab.models.bert_question_answerer import BertQuestionAnswerer

NAMES = ("token_ids", "segment_ids", "padding_mask")


def _encoder(dtype="float32"):
    return BertEncoder(vocabulary_size=50, num_layers=2, hidden_dim=16, num_heads=2,
                       intermediate_dim=32, max_sequence_length=32, dropout=0.1, dtype=dtype)


def _features(batch, seq, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, seq + 1, batch)
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype("int32")
    return {"token_ids": rng.integers(1, 50, (batch, seq)).astype("int32") * mask,
            "segment_ids": (rng.random((batch, seq)) < 0.5).astype("int32") * mask,
            "padding_mask": mask}


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_classifier_outputs_match_the_model(dtype):
    model = BertClassifier(_encoder(dtype), 3, dropout=0.1)
    forward = constant_weights(model, NAMES)
    for batch, seq in ((3, 7), (1, 20)):  # any batch and length, after one trace
        features = _features(batch, seq)
        np.testing.assert_allclose(
            np.asarray(forward(features), "float32"),
            np.asarray(model(features, training=False), "float32"), atol=1e-5)


def test_dict_outputs_and_no_variables():
    model = BertQuestionAnswerer(_encoder())
    forward = constant_weights(model, NAMES)
    features = _features(2, 9, seed=1)
    outputs = forward(features)
    expected = model(features, training=False)
    assert set(outputs) == set(expected) == {"start_logits", "end_logits"}
    for key in outputs:
        np.testing.assert_allclose(outputs[key], expected[key], atol=1e-5)
    # Changing the model's weights afterwards does not change the frozen function.
    model.set_weights([w * 0 for w in model.get_weights()])
    np.testing.assert_allclose(forward(features)["start_logits"], outputs["start_logits"])

    graph = tf.function(forward).get_concrete_function(
        {n: tf.TensorSpec([None, None], tf.int32) for n in NAMES}).graph
    assert not graph.variables
    ops = {op.type for f in graph._functions.values() for op in f.graph.get_operations()}
    assert "Const" in ops and not ops & {"ReadVariableOp", "VarHandleOp"}


def test_unknown_or_missing_inputs_are_refused():
    forward = constant_weights(BertClassifier(_encoder(), 2), NAMES)
    features = _features(1, 4)
    with pytest.raises(ValueError, match="Expected the inputs"):
        forward({**features, "casing_ids": features["token_ids"]})
    with pytest.raises(ValueError, match="Expected the inputs"):
        forward({"token_ids": features["token_ids"]})
