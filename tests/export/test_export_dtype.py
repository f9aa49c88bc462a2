"""What an export of a mixed_bfloat16 classifier stores: bfloat16 weights (the head in
float32), each weight once (as constants of the graph, no variables), and the same
predictions as the trained model."""

import numpy as np
import pytest
import tensorflow as tf

from bertlab.export import export_text_classifier, export_token_classifier
from bertlab.models import BertClassifier, BertEncoder, BertTokenClassifier
from bertlab.text import BertPreprocessor

SENTENCES = ["a charming and affecting journey", "dull , lifeless and boring", ""]


def _saved_weights(path):
    """The dtype of each weight stored in a SavedModel: its floating-point constants of
    rank >= 1 in every graph function (the exports freeze the weights), after checking
    that it stores no variables."""
    from tensorflow.core.protobuf import saved_model_pb2

    reader = tf.train.load_checkpoint(f"{path}/variables/variables")
    assert not [k for k in reader.get_variable_to_dtype_map() if k.endswith("VARIABLE_VALUE")]
    saved_model = saved_model_pb2.SavedModel()
    with open(f"{path}/saved_model.pb", "rb") as f:
        saved_model.ParseFromString(f.read())
    graph = saved_model.meta_graphs[0].graph_def
    nodes = [*graph.node, *(n for f in graph.library.function for n in f.node_def)]
    return [tf.as_dtype(n.attr["dtype"].type) for n in nodes
            if n.op == "Const" and tf.as_dtype(n.attr["dtype"].type).is_floating
            and len(n.attr["value"].tensor.tensor_shape.dim) >= 1]


@pytest.fixture(scope="module")
def preprocessor(minilm_dir):
    return BertPreprocessor.from_pretrained(minilm_dir, sequence_length=32, pad_to_longest=True)


def _classifier(vocabulary_size, dtype):
    encoder = BertEncoder(vocabulary_size=vocabulary_size, num_layers=1, hidden_dim=32,
                          num_heads=2, intermediate_dim=64, max_sequence_length=64,
                          dropout=0.0, dtype=dtype)
    return BertClassifier(encoder, 2, pooling="mean", dropout=0.0)


@pytest.mark.parametrize("dtype_policy, stored", [("auto", tf.bfloat16), (None, tf.float32)])
def test_mixed_bfloat16_classifier_export(tmp_path, preprocessor, dtype_policy, stored):
    model = _classifier(preprocessor.tokenizer.vocabulary_size, "mixed_bfloat16")
    path = str(tmp_path / "model")
    policies = export_text_classifier(model, preprocessor, ["negative", "positive"], path,
                                      dtype_policy=dtype_policy)
    assert policies == (["bfloat16", "float32"] if dtype_policy else
                        ["float32", "mixed_bfloat16"])
    weights = _saved_weights(path)
    # Each weight stored once (the Keras model is not tracked beside the endpoints).
    assert len(weights) == len(model.weights)
    head = len(model.classifier.weights)  # kernel and bias, float32 by construction
    expected = ({tf.bfloat16: len(model.weights) - head, tf.float32: head}
                if stored == tf.bfloat16 else {tf.float32: len(model.weights)})
    assert {d: weights.count(d) for d in set(weights)} == expected

    served = tf.saved_model.load(path).signatures["serving_default"]
    probabilities = served(text=tf.constant(SENTENCES))["probabilities"].numpy()
    expected = tf.nn.softmax(model(preprocessor(tf.constant(SENTENCES)))).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=0.02)


def test_float32_tagger_export_keeps_float32(tmp_path, preprocessor):
    encoder = BertEncoder(vocabulary_size=preprocessor.tokenizer.vocabulary_size, num_layers=1,
                          hidden_dim=32, num_heads=2, intermediate_dim=64,
                          max_sequence_length=64, dropout=0.0)
    tagger = BertTokenClassifier(encoder, 3, dropout=0.0)
    path = str(tmp_path / "tagger")
    policies = export_token_classifier(tagger, preprocessor.tokenizer, ["O", "B-X", "I-X"], 16,
                                       path)
    assert policies == ["float32"]
    assert set(_saved_weights(path)) == {tf.float32}


@pytest.mark.parametrize("setting, policies", [("auto", ["bfloat16", "float32"]),
                                               ("as_trained", ["float32", "mixed_bfloat16"])])
def test_task_config_chooses_the_export_policy(tmp_path, tiny_sentence_task, setting, policies):
    import keras

    task = tiny_sentence_task(export_dtype_policy=setting)
    keras.config.set_dtype_policy("mixed_bfloat16")  # as the Trainer builds it
    model = task.build_model()
    (tmp_path / "m").mkdir()
    assert task.export(model, str(tmp_path / "m"))["dtype_policies"] == policies
