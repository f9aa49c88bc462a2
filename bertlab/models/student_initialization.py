"""A smaller classifier (or tagger) initialised from a subset of a trained one's layers.

DistilBERT (Sanh et al., 2019) starts its student from every other layer of the
teacher: the student keeps the teacher's embeddings, the chosen Transformer
layers, the pooler and the classification head, and begins distillation close
to the teacher instead of from random weights.

Example:
>>> student = student_from_teacher_layers(teacher, [1, 3, 5])   # 3 of 6 layers
>>> student.encoder.num_layers
3
"""

from bertlab.models.bert_classifier import BertClassifier
from bertlab.models.bert_encoder import BertEncoder
from bertlab.models.bert_token_classifier import BertTokenClassifier


def student_from_teacher_layers(teacher, teacher_layers, dropout=None, head_dropout=None):
    """A model of the teacher's kind with `len(teacher_layers)` layers and its weights.

    Args:
      teacher: a trained `BertClassifier` or `BertTokenClassifier` (its casing
        embedding is copied too).
      teacher_layers: the teacher's Transformer layers (0-based, increasing) the
        student's layers copy, in order.
      dropout: the student encoder's dropout (None: the teacher's).
      head_dropout: dropout before the head (None: the teacher's).

    The student computes in Keras' global dtype policy (the runner's mixed
    precision), whatever policy the teacher was saved with.

    Raises:
      ValueError: `teacher_layers` is empty, not increasing, or out of range.
    """
    encoder = teacher.encoder
    layers = [int(i) for i in teacher_layers]
    if not layers or layers != sorted(set(layers)) or not all(
            0 <= i < encoder.num_layers for i in layers):
        raise ValueError(f"`teacher_layers` must be increasing indices in "
                         f"0..{encoder.num_layers - 1}, got {list(teacher_layers)}.")
    config = {**encoder.get_config(), "num_layers": len(layers), "dtype": None,
              "name": "student_encoder"}
    if dropout is not None:
        config.update(dropout=float(dropout), attention_dropout=float(dropout))
    student_encoder = BertEncoder.from_config(config)
    head_dropout = teacher.dropout if head_dropout is None else head_dropout
    if isinstance(teacher, BertTokenClassifier):
        student = BertTokenClassifier(student_encoder, num_tags=teacher.num_tags,
                                      dropout=head_dropout,
                                      initializer_range=teacher.initializer_range,
                                      num_casing_ids=teacher.num_casing_ids)
        pairs = [(student.tagger, teacher.tagger)]
        if teacher.casing_embedding is not None:
            pairs.append((student.casing_embedding, teacher.casing_embedding))
    else:
        student = BertClassifier(student_encoder, num_classes=teacher.num_classes,
                                 pooling=teacher.pooling, dropout=head_dropout,
                                 initializer_range=teacher.initializer_range)
        pairs = [(student.classifier, teacher.classifier)]
    pairs += [(student_encoder.embeddings, encoder.embeddings),
              (student_encoder.pooler_dense, encoder.pooler_dense)]
    pairs += [(student_encoder.transformer_layers[j], encoder.transformer_layers[i])
              for j, i in enumerate(layers)]
    if encoder.final_layer_norm is not None:
        pairs.append((student_encoder.final_layer_norm, encoder.final_layer_norm))
    for target, source in pairs:
        target.set_weights(source.get_weights())
    return student
