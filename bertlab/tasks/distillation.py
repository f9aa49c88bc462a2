"""Knowledge distillation of a text classifier: a smaller student learns from a trained
teacher export, on the one training pipeline, and exports like any classifier.

The loss per example is
`(1 - a) * CE(label) + a * T^2 * KL(teacher_T || student_T)
 + hidden_weight * hidden-state MSE + attention_weight * attention KL`
(see `bertlab.models.distillation_losses`), with `a = soft_target_weight` and
`T = temperature`. The teacher's logits are computed once from its export's
`serving_default` (raw text in: any vocabulary) and cached in the run's
`model_dir` (`bertlab.tasks.teacher_logits`); hidden-state and attention
matching run the teacher's Keras model (`model.keras` of the export) beside the
student and need the teacher's vocabulary.

The student (`distillation.student_init`):
- "teacher_layers": the teacher's embeddings, pooler, head and the Transformer
  layers `teacher_layers` (default: `student_layers` evenly spaced ending at
  the last, e.g. 3 of 6 -> [1, 3, 5]), with the teacher's vocabulary
  (DistilBERT's initialisation);
- "encoder": the task's `encoder` config as in fine-tuning (a pretrained
  checkpoint, MiniLM, or a fresh `init: none` encoder of any size).

Example:
>>> config = ClassificationDistillationConfig(
...     distillation=DistillationConfig(teacher="saved_models/sentiment", student_layers=3))
>>> task = ClassificationDistillationTask(config, global_batch_size=32)
>>> train_and_export(task, trainer_config, optimizer_config, "runs/student",
...                  export_dir="saved_models/sentiment_student")
"""

import dataclasses
import os
import typing

import tensorflow as tf

from bertlab.export.keras_model_file import (VOCABULARY_FILE, load_exported_keras_model)
from bertlab.export.saved_model_client import resolve_version_dir
from bertlab.export.versioned_export import read_metadata
from bertlab.models.bert_classifier import BertClassifier
from bertlab.models.classifier_distiller import ClassifierDistiller, uniform_layer_map
from bertlab.models.distillation_losses import soft_target_loss
from bertlab.models.student_initialization import student_from_teacher_layers
from bertlab.tasks.teacher_logits import teacher_logits
from bertlab.tasks.text_classification import TextClassificationConfig, TextClassificationTask
from bertlab.text.bert_tokenizer import BertTokenizer

STUDENT_INITS = ("teacher_layers", "encoder")


@dataclasses.dataclass
class DistillationConfig:
    """What the student learns from and how.

    Attributes:
      teacher: a classifier export: a version directory, or a base directory
        (its latest version); relative to the repository in a config file.
      student_init: "teacher_layers" or "encoder" (see the module doc).
      student_layers: the student's number of layers with "teacher_layers".
      teacher_layers: which teacher layers (0-based) it copies; [] = evenly
        spaced.
      temperature: softmax temperature of the soft targets (> 0).
      soft_target_weight: `a` in [0, 1]: the weight of the soft-target loss
        (`1 - a` is the hard labels').
      hidden_weight: weight of the hidden-state loss (0: off).
      attention_weight: weight of the last layers' attention-distribution loss
        (0: off; the student needs the teacher's number of heads).
      teacher_batch_size: texts per teacher call when computing its logits.
    """

    teacher: str = ""
    student_init: str = "teacher_layers"
    student_layers: int = 3
    teacher_layers: typing.List[int] = dataclasses.field(default_factory=list)
    temperature: float = 2.0
    soft_target_weight: float = 0.5
    hidden_weight: float = 0.0
    attention_weight: float = 0.0
    teacher_batch_size: int = 128

    def __post_init__(self):
        if not self.teacher:
            raise ValueError("`distillation.teacher` must name a classifier export "
                             "(e.g. saved_models/sentiment), or pass --teacher.")
        if self.student_init not in STUDENT_INITS:
            raise ValueError(f"`student_init` must be one of {STUDENT_INITS}, got "
                             f"{self.student_init!r}.")
        if self.student_layers < 1:
            raise ValueError(f"`student_layers` must be positive, got {self.student_layers}.")
        if self.teacher_layers and len(self.teacher_layers) != self.student_layers:
            raise ValueError(f"`teacher_layers` {self.teacher_layers} must name "
                             f"`student_layers` = {self.student_layers} layers.")
        if self.temperature <= 0:
            raise ValueError(f"`temperature` must be positive, got {self.temperature}.")
        if not 0.0 <= self.soft_target_weight <= 1.0:
            raise ValueError(f"`soft_target_weight` must be in [0, 1], got "
                             f"{self.soft_target_weight}.")
        if self.hidden_weight < 0 or self.attention_weight < 0:
            raise ValueError("`hidden_weight` and `attention_weight` must be >= 0.")
        if self.teacher_batch_size < 1:
            raise ValueError(f"`teacher_batch_size` must be positive, got "
                             f"{self.teacher_batch_size}.")


@dataclasses.dataclass
class ClassificationDistillationConfig(TextClassificationConfig):
    """A `TextClassificationConfig` (data, classes, sequence length, batching; its
    `encoder` is the student's with `student_init: encoder`) and `distillation`."""

    distillation: DistillationConfig = dataclasses.field(
        default_factory=lambda: DistillationConfig(teacher="saved_models/sentiment"))

    def __post_init__(self):
        super().__post_init__()
        if self.head != "classification":
            raise ValueError("Distillation is for the classification head (soft targets over "
                             f"classes), got head {self.head!r}.")


class ClassificationDistillationTask(TextClassificationTask):
    """Trains a `ClassifierDistiller` (student + frozen teacher) on labelled texts; exports
    the student as a text classifier (the same contract as `TextClassificationTask`).

    Args:
      config: a `ClassificationDistillationConfig`.
      global_batch_size: training examples per step over all replicas.

    Raises:
      FileNotFoundError: the teacher export (or its `model.keras`/`vocab.txt`,
        when needed) is missing.
      ValueError: the teacher is not a classifier of the config's classes.
    """

    def __init__(self, config, global_batch_size=32):
        self.distillation = config.distillation
        self.teacher_dir = resolve_version_dir(config.distillation.teacher)
        self.teacher_metadata = read_metadata(self.teacher_dir)
        if self.teacher_metadata.get("task") != "text_classification":
            raise ValueError(f"{self.teacher_dir} is a {self.teacher_metadata.get('task')!r} "
                             "export, not a text classifier.")
        super().__init__(config, global_batch_size)
        teacher_classes = self.teacher_metadata.get("class_names")
        if teacher_classes != list(self.class_names):
            raise ValueError(f"The teacher {self.teacher_dir} has the classes {teacher_classes},"
                             f" the task {list(self.class_names)}: they must be the same, in "
                             "the same order.")
        self._teacher_logits = {}
        # The teacher layers the student was initialised from (None: `student_init: encoder`).
        self.copied_teacher_layers = None

    @property
    def matches_internals(self):
        """Whether the teacher's Keras model runs beside the student (hidden states or
        attention matched)."""
        return self.distillation.hidden_weight > 0 or self.distillation.attention_weight > 0

    def _teacher_file(self, name):
        path = os.path.join(self.teacher_dir, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"The teacher {self.teacher_dir} has no {name}, needed to "
                                    "initialise the student from its layers or to match its "
                                    "hidden states (re-export it with this bertlab version).")
        return path

    def build_tokenizer(self):
        if self.distillation.student_init == "teacher_layers":
            return BertTokenizer(self._teacher_file(VOCABULARY_FILE),
                                 lowercase=bool(self.teacher_metadata.get("lowercase", True)))
        return super().build_tokenizer()

    # ------------------------------------------------------------------ data

    def teacher_logits(self, split):
        """float32 `[examples, classes]`: the teacher's logits on `split`'s texts."""
        if split not in self._teacher_logits:
            examples = self.examples(split)
            self._teacher_logits[split] = teacher_logits(
                self.teacher_dir, examples.texts, examples.pairs,
                cache_dir=self.work_dir, batch_size=self.distillation.teacher_batch_size)
        return self._teacher_logits[split]

    def extra_labels(self, split, labels, padding):
        """Training examples carry the teacher's logits (`teacher_logits`)."""
        if split != "train":
            return labels, padding
        logits = tf.constant(self.teacher_logits(split))
        return {"label": labels, "teacher_logits": logits}, {"label": padding,
                                                              "teacher_logits": 0.0}

    # ----------------------------------------------------------------- model

    def build_model(self):
        settings = self.distillation
        teacher = None
        if settings.student_init == "teacher_layers" or self.matches_internals:
            self._teacher_file("model.keras")
            teacher = load_exported_keras_model(self.teacher_dir, BertClassifier)
        if settings.student_init == "teacher_layers":
            layers = settings.teacher_layers or uniform_layer_map(
                settings.student_layers, teacher.encoder.num_layers)
            student = student_from_teacher_layers(teacher, layers,
                                                  dropout=self.config.encoder.dropout,
                                                  head_dropout=self.config.head_dropout)
            layer_map = self.copied_teacher_layers = [int(i) for i in layers]
        else:
            student = super().build_model()
            layer_map = None
            if self.matches_internals:
                with open(self._teacher_file(VOCABULARY_FILE), encoding="utf-8") as f:
                    teacher_vocabulary = f.read().splitlines()
                if teacher_vocabulary != list(self.tokenizer.vocabulary):
                    raise ValueError("Matching hidden states or attention needs the teacher's "
                                     f"vocabulary ({self.teacher_dir}/{VOCABULARY_FILE}); the "
                                     "student's encoder has another one.")
        return ClassifierDistiller(student, teacher if self.matches_internals else None,
                                   match_hidden_states=settings.hidden_weight > 0,
                                   match_attention=settings.attention_weight > 0,
                                   layer_map=layer_map)

    def compute_loss(self, labels, outputs):
        outputs = outputs if isinstance(outputs, dict) else {"logits": outputs}
        label = labels["label"] if isinstance(labels, dict) else labels
        logits = tf.cast(outputs["logits"], tf.float32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(label, tf.int32), logits=logits)
        settings = self.distillation
        if isinstance(labels, dict) and "teacher_logits" in labels:
            weight = settings.soft_target_weight
            soft = soft_target_loss(logits, labels["teacher_logits"], settings.temperature)
            losses = (1.0 - weight) * losses + weight * soft
        if "hidden_loss" in outputs:
            losses += settings.hidden_weight * outputs["hidden_loss"]
        if "attention_loss" in outputs:
            losses += settings.attention_weight * outputs["attention_loss"]
        return tf.reduce_sum(losses), tf.cast(tf.size(label), tf.float32)

    def update_metrics(self, metrics, labels, outputs):
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs
        super().update_metrics(metrics, labels, logits)

    # ---------------------------------------------------------------- export

    def export(self, model, path):
        """The student's export (`TextClassificationTask.export`), with where it came from
        in the metadata (`distillation`)."""
        student = model.student if isinstance(model, ClassifierDistiller) else model
        metadata = super().export(student, path)
        settings = self.distillation
        metadata["distillation"] = {
            "teacher": os.path.realpath(self.teacher_dir),
            "teacher_report": self.teacher_metadata.get("report"),
            "student_init": settings.student_init,
            "student_layers": int(student.encoder.num_layers),
            "teacher_layers": self.copied_teacher_layers,
            "temperature": settings.temperature,
            "soft_target_weight": settings.soft_target_weight,
            "hidden_weight": settings.hidden_weight,
            "attention_weight": settings.attention_weight,
            "parameters": int(student.count_params()),
        }
        return metadata
