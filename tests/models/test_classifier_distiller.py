"""The distillation model: layer-by-layer encoder states, a student from teacher layers,
matching losses, Keras round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bertlab.models.bert_classifier import BertClassifier
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.bert_token_classifier import BertTokenClassifier
from bertlab.models.classifier_distiller import ClassifierDistiller, uniform_layer_map
from bertlab.models.encoder_layer_states import encoder_layer_states
from bertlab.models.student_initialization import student_from_teacher_layers


def _classifier(num_layers=3, hidden_dim=32, num_heads=2, normalize_first=False,
                pooling="mean"):
    encoder = BertEncoder(vocabulary_size=50, num_layers=num_layers, hidden_dim=hidden_dim,
                          num_heads=num_heads, intermediate_dim=64, max_sequence_length=16,
                          dropout=0.0, normalize_first=normalize_first)
    return BertClassifier(encoder, num_classes=3, pooling=pooling, dropout=0.0)


def _inputs():
    return {"token_ids": np.array([[2, 5, 6, 3, 0, 0], [2, 7, 3, 0, 0, 0]], "int32"),
            "segment_ids": np.zeros((2, 6), "int32"),
            "padding_mask": np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], "int32")}


@pytest.mark.parametrize("normalize_first", [False, True])
def test_layer_states_equal_the_encoder_and_attention_rebuilds_its_output(normalize_first):
    encoder = _classifier(normalize_first=normalize_first).encoder
    inputs = _inputs()
    states = encoder_layer_states(encoder, inputs, attention_layers=[0, -1])
    outputs = encoder(inputs)
    assert len(states["hidden_states"]) == 4
    np.testing.assert_allclose(states["sequence_output"], outputs["sequence_output"], atol=1e-5)
    np.testing.assert_allclose(states["pooled_output"], outputs["pooled_output"], atol=1e-5)
    probabilities = states["attention_probabilities"][0].numpy()
    assert probabilities.shape == (2, 2, 6, 6)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    assert (probabilities[0, :, :, 4:] == 0).all() and (probabilities[1, :, :, 3:] == 0).all()
    # The first layer's attention output is its output projection of probabilities @ values.
    block = encoder.transformer_layers[0]
    x = states["hidden_states"][0]
    attention_input = block.attention_layer_norm(x) if normalize_first else x
    _, _, values = block.attention._split_heads(block.attention.qkv_dense(attention_input), 3)
    context = tf.transpose(tf.matmul(probabilities, values), [0, 2, 1, 3])
    rebuilt = block.attention.output_dense(tf.reshape(context, [2, 6, 32]))
    expected = block.attention(attention_input, padding_mask=inputs["padding_mask"])
    np.testing.assert_allclose(rebuilt, expected, atol=1e-5)


def test_a_student_of_all_teacher_layers_is_the_teacher():
    teacher = _classifier()
    full = student_from_teacher_layers(teacher, [0, 1, 2])
    np.testing.assert_allclose(full(_inputs()), teacher(_inputs()), atol=1e-5)
    student = student_from_teacher_layers(teacher, [0, 2], dropout=0.3)
    assert student.encoder.num_layers == 2 and student.encoder.dropout == 0.3
    for mine, theirs in zip(student.encoder.transformer_layers[1].get_weights(),
                            teacher.encoder.transformer_layers[2].get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    for bad in ([], [2, 1], [0, 3], [1, 1]):
        with pytest.raises(ValueError, match="teacher_layers"):
            student_from_teacher_layers(teacher, bad)


def test_uniform_layer_map_ends_at_the_last_layer():
    assert uniform_layer_map(3, 6) == [1, 3, 5]
    assert uniform_layer_map(2, 6) == [2, 5]
    assert uniform_layer_map(6, 6) == list(range(6))
    with pytest.raises(ValueError):
        uniform_layer_map(7, 6)


def test_matching_losses_vanish_for_a_copy_and_not_for_another_student():
    teacher = _classifier()
    copy = ClassifierDistiller(student_from_teacher_layers(teacher, [0, 1, 2]), teacher,
                               match_hidden_states=True, match_attention=True)
    outputs = copy(_inputs(), training=True)
    np.testing.assert_allclose(outputs["logits"], teacher(_inputs()), atol=1e-5)
    np.testing.assert_allclose(outputs["hidden_loss"], [0, 0], atol=1e-8)
    np.testing.assert_allclose(outputs["attention_loss"], [0, 0], atol=1e-5)
    assert set(copy(_inputs(), training=False)) == {"logits"}
    narrow = ClassifierDistiller(_classifier(num_layers=1, hidden_dim=16), teacher,
                                 match_hidden_states=True)
    outputs = narrow(_inputs(), training=True)
    assert narrow.layer_map == [2] and len(narrow.projections) == 1
    assert outputs["hidden_loss"].shape == (2,) and (outputs["hidden_loss"].numpy() > 0).all()
    # the projection is trained with the student; the teacher is not
    trainable = {id(v) for v in narrow.trainable_variables}
    assert all(id(v) in trainable for v in narrow.projections[0].trainable_variables)
    assert not any(id(v) in trainable for v in teacher.weights)


def test_bad_pairs_are_refused():
    teacher = _classifier()
    with pytest.raises(ValueError, match="heads"):
        ClassifierDistiller(_classifier(num_layers=1, num_heads=4), teacher,
                            match_attention=True)
    with pytest.raises(ValueError, match="need the teacher"):
        ClassifierDistiller(_classifier(num_layers=1), None, match_hidden_states=True)
    with pytest.raises(ValueError, match="layer_map"):
        ClassifierDistiller(_classifier(num_layers=2), teacher, match_hidden_states=True,
                            layer_map=[0, 3])


def test_keras_round_trip(tmp_path):
    teacher = _classifier()
    distiller = ClassifierDistiller(student_from_teacher_layers(teacher, [2]), teacher,
                                    match_hidden_states=True, match_attention=True)
    expected = distiller(_inputs(), training=True)
    distiller.save(tmp_path / "d.keras")
    restored = keras.saving.load_model(tmp_path / "d.keras")
    assert restored.layer_map == [2] and restored.match_attention
    got = restored(_inputs(), training=True)
    for name in ("logits", "hidden_loss", "attention_loss"):
        np.testing.assert_allclose(got[name], expected[name], atol=1e-5)


def _tagger(num_layers=3, num_casing_ids=4):
    encoder = BertEncoder(vocabulary_size=50, num_layers=num_layers, hidden_dim=32, num_heads=2,
                          intermediate_dim=64, max_sequence_length=16, dropout=0.0)
    tagger = BertTokenClassifier(encoder, num_tags=5, dropout=0.0, num_casing_ids=num_casing_ids)
    # A non-zero casing table, so that leaving it out would show.
    tagger.casing_embedding.embeddings.assign(
        np.random.default_rng(3).normal(size=(num_casing_ids, 32)).astype("float32"))
    return tagger


def test_a_tagger_student_with_casing_and_teacher_logits_in_the_graph():
    teacher = _tagger()
    inputs = {**_inputs(), "casing_ids": np.array([[0, 1, 2, 0, 0, 0], [0, 3, 0, 0, 0, 0]],
                                                  "int32")}
    expected = teacher(inputs)
    copy = ClassifierDistiller(student_from_teacher_layers(teacher, [0, 1, 2]), teacher,
                               match_hidden_states=True, match_attention=True,
                               teacher_logits_in_graph=True)
    outputs = copy(inputs, training=True)
    assert outputs["logits"].shape == (2, 6, 5)
    np.testing.assert_allclose(outputs["logits"], expected, atol=1e-5)
    np.testing.assert_allclose(outputs["teacher_logits"], expected, atol=1e-5)
    np.testing.assert_allclose(outputs["hidden_loss"], [0, 0], atol=1e-8)
    small = ClassifierDistiller(student_from_teacher_layers(teacher, [2]), teacher,
                                teacher_logits_in_graph=True)
    outputs = small(inputs, training=True)
    assert set(outputs) == {"logits", "teacher_logits"}
    np.testing.assert_allclose(outputs["teacher_logits"], expected, atol=1e-5)
    np.testing.assert_array_equal(small.student.casing_embedding.get_weights()[0],
                                  teacher.casing_embedding.get_weights()[0])
    with pytest.raises(ValueError, match="need the teacher"):
        ClassifierDistiller(student_from_teacher_layers(teacher, [2]), _classifier(),
                            teacher_logits_in_graph=True)
