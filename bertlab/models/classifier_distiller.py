"""A classifier (sentence or token) student trained beside its frozen teacher: the model a
distillation task trains (`bertlab.tasks.distillation`); what it exports is its `student`
alone."""

import keras
import tensorflow as tf

from bertlab.layers.dense_2d import Dense2D
from bertlab.models.bert_classifier import BertClassifier
from bertlab.models.bert_token_classifier import BertTokenClassifier
from bertlab.models.distillation_losses import attention_distribution_loss, hidden_state_loss
from bertlab.models.encoder_layer_states import encoder_layer_states

CLASSIFIERS = (BertClassifier, BertTokenClassifier)


def uniform_layer_map(student_layers, teacher_layers):
    """The teacher layer (0-based) each student layer learns from: evenly spaced, the
    last student layer from the last teacher layer (3 of 6 -> `[1, 3, 5]`)."""
    if not 1 <= student_layers <= teacher_layers:
        raise ValueError(f"A student of {student_layers} layers cannot be mapped onto a "
                         f"teacher of {teacher_layers}.")
    return [round((i + 1) * teacher_layers / student_layers) - 1 for i in range(student_layers)]


@keras.saving.register_keras_serializable(package="bertlab")
class ClassifierDistiller(keras.Model):
    """A `BertClassifier` (or `BertTokenClassifier`) student with its frozen teacher of the
    same kind.

    Called with the student's inputs (dict of int32 `[batch, seq]` `token_ids`,
    `segment_ids`, `padding_mask`, and a tagger's `casing_ids`), it returns a dict:
    `logits` float32 (the student's: `[batch, classes]`, or `[batch, seq, tags]`),
    and while training: `teacher_logits` (the teacher's, alike) with
    `teacher_logits_in_graph`, and per-example float32 `[batch]` matching losses:
    `hidden_loss` (`hidden_state_loss` of each student layer against its teacher
    layer in `layer_map`, averaged over the layers; through a learned projection
    when the widths differ) and `attention_loss` (`attention_distribution_loss` of
    the last layers' self-attention), each only when asked for. With none of
    these the teacher is not run at all (a sentence classifier's soft targets come
    from its logits computed once, see the task). At inference only `logits`.

    Args:
      student: a `BertClassifier` or `BertTokenClassifier`, trained.
      teacher: a model of the student's kind with the same classes and
        vocabulary, frozen (needed for the options below; else None).
      teacher_logits_in_graph: output the teacher's logits while training.
      match_hidden_states: add `hidden_loss`.
      match_attention: add `attention_loss` (student and teacher need the same
        number of heads).
      layer_map: teacher layer index (0-based) per student layer; None: even
        spacing (`uniform_layer_map`).

    Example:
    >>> distiller = ClassifierDistiller(student, teacher, match_hidden_states=True)
    >>> outputs = distiller(batch, training=True)   # logits, hidden_loss
    """

    def __init__(self, student, teacher=None, match_hidden_states=False, match_attention=False,
                 layer_map=None, teacher_logits_in_graph=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(student, CLASSIFIERS):
            raise TypeError("`student` must be a BertClassifier or BertTokenClassifier, got "
                            f"{type(student).__name__}.")
        needs_teacher = match_hidden_states or match_attention or teacher_logits_in_graph
        if needs_teacher and not isinstance(teacher, type(student)):
            raise ValueError("Teacher logits in the graph and matching hidden states or "
                             f"attention need the teacher (a {type(student).__name__}).")
        self.student = student
        self.teacher = teacher
        self.teacher_logits_in_graph = bool(teacher_logits_in_graph)
        self.match_hidden_states = bool(match_hidden_states)
        self.match_attention = bool(match_attention)
        self.layer_map = None
        self.projections = []
        if teacher is not None:
            teacher.trainable = False
            if _num_classes(student) != _num_classes(teacher):
                raise ValueError(f"The student has {_num_classes(student)} classes, the "
                                 f"teacher {_num_classes(teacher)}.")
            s_encoder, t_encoder = student.encoder, teacher.encoder
            if s_encoder.vocabulary_size != t_encoder.vocabulary_size:
                raise ValueError(f"The student's vocabulary ({s_encoder.vocabulary_size} ids) "
                                 f"is not the teacher's ({t_encoder.vocabulary_size}).")
            self.layer_map = [int(i) for i in (layer_map if layer_map is not None else
                              uniform_layer_map(s_encoder.num_layers, t_encoder.num_layers))]
            if len(self.layer_map) != s_encoder.num_layers or not all(
                    0 <= i < t_encoder.num_layers for i in self.layer_map):
                raise ValueError(f"`layer_map` {self.layer_map} must give one teacher layer "
                                 f"(0..{t_encoder.num_layers - 1}) per student layer "
                                 f"({s_encoder.num_layers}).")
            if self.match_attention and s_encoder.num_heads != t_encoder.num_heads:
                raise ValueError(f"Attention matching needs as many heads in the student "
                                 f"({s_encoder.num_heads}) as in the teacher "
                                 f"({t_encoder.num_heads}).")
            if self.match_hidden_states and s_encoder.hidden_dim != t_encoder.hidden_dim:
                self.projections = [
                    Dense2D(t_encoder.hidden_dim, dtype="float32", name=f"hidden_projection_{i}")
                    for i in range(s_encoder.num_layers)]

    def call(self, inputs, training=None):
        padding_mask = inputs["padding_mask"]
        if not training:
            return {"logits": self.student(inputs, training=training)}
        if not (self.match_hidden_states or self.match_attention):
            outputs = {"logits": self.student(inputs, training=True)}
            if self.teacher_logits_in_graph:
                outputs["teacher_logits"] = tf.stop_gradient(self.teacher(inputs,
                                                                          training=False))
            return outputs
        attention_layers = [-1] if self.match_attention else []
        student = encoder_layer_states(
            self.student.encoder, inputs, training=True, attention_layers=attention_layers,
            added_embeddings=self.student.encoder_added_embeddings(inputs))
        teacher = encoder_layer_states(
            self.teacher.encoder, inputs, training=False, attention_layers=attention_layers,
            added_embeddings=self.teacher.encoder_added_embeddings(inputs))
        outputs = {"logits": self.student.logits_from_encoder_outputs(student, padding_mask,
                                                                      training=True)}
        if self.teacher_logits_in_graph:
            outputs["teacher_logits"] = tf.stop_gradient(
                self.teacher.logits_from_encoder_outputs(teacher, padding_mask, training=False))
        if self.match_hidden_states:
            losses = []
            for i, teacher_layer in enumerate(self.layer_map):
                states = tf.cast(student["hidden_states"][i + 1], tf.float32)
                if self.projections:
                    states = self.projections[i](states)
                target = tf.stop_gradient(teacher["hidden_states"][teacher_layer + 1])
                losses.append(hidden_state_loss(states, target, padding_mask))
            outputs["hidden_loss"] = tf.add_n(losses) / float(len(losses))
        if self.match_attention:
            outputs["attention_loss"] = attention_distribution_loss(
                student["attention_probabilities"][-1],
                tf.stop_gradient(teacher["attention_probabilities"][-1]), padding_mask)
        return outputs

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": (keras.saving.serialize_keras_object(self.teacher)
                        if self.teacher is not None else None),
            "match_hidden_states": self.match_hidden_states,
            "match_attention": self.match_attention, "layer_map": self.layer_map,
            "teacher_logits_in_graph": self.teacher_logits_in_graph,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        if config.get("teacher") is not None:
            config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        return cls(**config)


def _num_classes(model):
    return model.num_tags if isinstance(model, BertTokenClassifier) else model.num_classes
