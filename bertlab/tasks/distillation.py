"""Knowledge distillation of a text classifier or a tagger: a smaller student learns from a
trained teacher export, on the one training pipeline, and exports like the teacher's app.

The loss per example (per tagged word for a tagger) is
`(1 - a) * CE(label) + a * T^2 * KL(teacher_T || student_T)
 + hidden_weight * hidden-state MSE + attention_weight * attention KL`
(see `bertlab.models.distillation_losses`), with `a = soft_target_weight` and
`T = temperature`.

The teacher's logits:
- a sentence classifier's are computed once from the teacher export's
  `serving_default` (raw text in: a student with any vocabulary can learn from
  it) and cached in the run's `model_dir` (`bertlab.tasks.teacher_logits`);
- a tagger's come from the teacher's Keras model (`model.keras` of the export)
  run beside the student at each step (one per subword, on the student's own
  inputs: the teacher's vocabulary and casing features).
Hidden-state and attention matching run the teacher's Keras model beside the
student too, and need the teacher's vocabulary.

The student (`distillation.student_init`):
- "teacher_layers": the teacher's embeddings, pooler, head (and casing
  embedding) and the Transformer layers `teacher_layers` (default:
  `student_layers` evenly spaced ending at the last, e.g. 3 of 6 -> [1, 3, 5]),
  with the teacher's vocabulary (DistilBERT's initialisation);
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

from bertlab.export.keras_model_file import (KERAS_MODEL_FILE, VOCABULARY_FILE,
                                             load_exported_keras_model)
from bertlab.export.saved_model_client import resolve_version_dir
from bertlab.export.versioned_export import read_metadata
from bertlab.models.bert_classifier import BertClassifier
from bertlab.models.bert_token_classifier import BertTokenClassifier
from bertlab.models.classifier_distiller import ClassifierDistiller, uniform_layer_map
from bertlab.models.distillation_losses import soft_target_loss
from bertlab.models.student_initialization import student_from_teacher_layers
from bertlab.tasks.teacher_logits import teacher_logits
from bertlab.tasks.text_classification import TextClassificationConfig, TextClassificationTask
from bertlab.tasks.token_classification import (IGNORE_LABEL, TokenClassificationConfig,
                                                TokenClassificationTask)
from bertlab.text.bert_tokenizer import BertTokenizer

STUDENT_INITS = ("teacher_layers", "encoder")


@dataclasses.dataclass
class DistillationConfig:
    """What the student learns from and how.

    Attributes:
      teacher: an export of the task's kind: a version directory, or a base
        directory (its latest version); relative to the repository in a config
        file.
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
      teacher_batch_size: texts per teacher call when computing a sentence
        classifier's logits.
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
            raise ValueError("`distillation.teacher` must name an export (e.g. "
                             "saved_models/sentiment), or pass --teacher.")
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


@dataclasses.dataclass
class TokenClassificationDistillationConfig(TokenClassificationConfig):
    """A `TokenClassificationConfig` (data, tags, casing features; its `encoder` is the
    student's with `student_init: encoder`) and `distillation`."""

    distillation: DistillationConfig = dataclasses.field(
        default_factory=lambda: DistillationConfig(teacher="saved_models/ner"))


class DistillationTaskMixin:
    """What the two distillation tasks share: the teacher export, the student's
    vocabulary and initialisation, the `ClassifierDistiller`, the export's
    `distillation` metadata. Set `TEACHER_KIND` (the export metadata's `task` and
    `head`), `TEACHER_CLASS` and `TEACHER_LOGITS_IN_GRAPH` in the task class."""

    TEACHER_KIND = None
    TEACHER_CLASS = None
    TEACHER_LOGITS_IN_GRAPH = False

    def _load_teacher_metadata(self, config):
        self.distillation = config.distillation
        self.teacher_dir = resolve_version_dir(config.distillation.teacher)
        self.teacher_metadata = read_metadata(self.teacher_dir)
        kind = (self.teacher_metadata.get("task"), self.teacher_metadata.get("head"))
        if kind[0] != self.TEACHER_KIND[0] or (self.TEACHER_KIND[1] and
                                               kind[1] != self.TEACHER_KIND[1]):
            raise ValueError(f"The teacher {self.teacher_dir} is not a {self.TEACHER_KIND[0]} "
                             f"export with a {self.TEACHER_KIND[1] or 'tagging'} head (task "
                             f"{kind[0]!r}, head {kind[1]!r}).")
        # The teacher layers the student was initialised from (None: `student_init: encoder`).
        self.copied_teacher_layers = None

    def _check_teacher_names(self, key, names):
        teacher_names = self.teacher_metadata.get(key)
        if teacher_names != list(names):
            raise ValueError(f"The teacher {self.teacher_dir} has the {key} {teacher_names}, "
                             f"the task {list(names)}: they must be the same, in the same "
                             "order.")

    @property
    def runs_teacher_model(self):
        """Whether the teacher's Keras model runs beside the student."""
        settings = self.distillation
        return (self.TEACHER_LOGITS_IN_GRAPH or settings.hidden_weight > 0 or
                settings.attention_weight > 0)

    def _teacher_file(self, name):
        path = os.path.join(self.teacher_dir, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"The teacher {self.teacher_dir} has no {name}, needed to "
                                    "run it beside the student or to initialise the student "
                                    "from its layers (re-export it with this bertlab version).")
        return path

    def build_tokenizer(self):
        if self.distillation.student_init == "teacher_layers":
            return BertTokenizer(self._teacher_file(VOCABULARY_FILE),
                                 lowercase=bool(self.teacher_metadata.get("lowercase", True)))
        return super().build_tokenizer()

    def build_model(self):
        settings = self.distillation
        teacher = None
        if settings.student_init == "teacher_layers" or self.runs_teacher_model:
            self._teacher_file(KERAS_MODEL_FILE)
            teacher = load_exported_keras_model(self.teacher_dir, self.TEACHER_CLASS)
        layer_map = None
        if settings.student_init == "teacher_layers":
            layers = settings.teacher_layers or uniform_layer_map(
                settings.student_layers, teacher.encoder.num_layers)
            student = student_from_teacher_layers(teacher, layers,
                                                  dropout=self.config.encoder.dropout,
                                                  head_dropout=self.config.head_dropout)
            layer_map = self.copied_teacher_layers = [int(i) for i in layers]
        else:
            student = super().build_model()
            if self.runs_teacher_model:
                with open(self._teacher_file(VOCABULARY_FILE), encoding="utf-8") as f:
                    teacher_vocabulary = f.read().splitlines()
                if teacher_vocabulary != list(self.tokenizer.vocabulary):
                    raise ValueError("Running the teacher beside the student needs the "
                                     f"teacher's vocabulary ({self.teacher_dir}/"
                                     f"{VOCABULARY_FILE}); the student's encoder has another.")
        return ClassifierDistiller(student, teacher if self.runs_teacher_model else None,
                                   match_hidden_states=settings.hidden_weight > 0,
                                   match_attention=settings.attention_weight > 0,
                                   layer_map=layer_map,
                                   teacher_logits_in_graph=self.TEACHER_LOGITS_IN_GRAPH)

    def _distillation_losses(self, losses, logits, teacher, outputs):
        """`losses` (the hard-label CE, `[batch]` or `[batch, seq]`) mixed with the soft
        targets of `teacher` logits (None: hard labels only) and the matching losses."""
        settings = self.distillation
        if teacher is not None:
            weight = settings.soft_target_weight
            soft = soft_target_loss(logits, teacher, settings.temperature)
            losses = (1.0 - weight) * losses + weight * soft
        extra = 0.0
        if "hidden_loss" in outputs:
            extra += settings.hidden_weight * outputs["hidden_loss"]
        if "attention_loss" in outputs:
            extra += settings.attention_weight * outputs["attention_loss"]
        return losses, extra

    def update_metrics(self, metrics, labels, outputs):
        """The task's metrics of the student's logits."""
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs
        super().update_metrics(metrics, labels, logits)

    def export(self, model, path):
        """The student's export (the task's own: a classifier's or a tagger's), with where it
        came from in the metadata (`distillation`)."""
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


class ClassificationDistillationTask(DistillationTaskMixin, TextClassificationTask):
    """Trains a `ClassifierDistiller` (a `BertClassifier` student, the frozen teacher when
    it runs beside it) on labelled texts; exports the student as a text classifier (the
    contract of `TextClassificationTask`).

    Args:
      config: a `ClassificationDistillationConfig`.
      global_batch_size: training examples per step over all replicas.

    Raises:
      FileNotFoundError: the teacher export (or its `model.keras`/`vocab.txt`,
        when needed) is missing.
      ValueError: the teacher is not a classifier of the config's classes.
    """

    TEACHER_KIND = ("text_classification", "classification")
    TEACHER_CLASS = BertClassifier

    def __init__(self, config, global_batch_size=32):
        self._load_teacher_metadata(config)
        super().__init__(config, global_batch_size)
        self._check_teacher_names("class_names", self.class_names)
        self._teacher_logits = {}

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

    def compute_loss(self, labels, outputs):
        outputs = outputs if isinstance(outputs, dict) else {"logits": outputs}
        label = labels["label"] if isinstance(labels, dict) else labels
        logits = tf.cast(outputs["logits"], tf.float32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(label, tf.int32), logits=logits)
        teacher = labels.get("teacher_logits") if isinstance(labels, dict) else None
        losses, extra = self._distillation_losses(losses, logits, teacher, outputs)
        return tf.reduce_sum(losses + extra), tf.cast(tf.size(label), tf.float32)



class TokenClassificationDistillationTask(DistillationTaskMixin, TokenClassificationTask):
    """Trains a `ClassifierDistiller` (a `BertTokenClassifier` student beside its frozen
    teacher, whose logits are soft targets at each tagged word's first subword) on
    tagged sentences; exports the student as a tagger (the contract of
    `TokenClassificationTask`).

    Args:
      config: a `TokenClassificationDistillationConfig`.
      global_batch_size: training sentences per step over all replicas.

    Raises:
      FileNotFoundError: the teacher export or its `model.keras`/`vocab.txt` is
        missing.
      ValueError: the teacher is not a tagger of the config's tags and casing.
    """

    TEACHER_KIND = ("token_classification", None)
    TEACHER_CLASS = BertTokenClassifier
    TEACHER_LOGITS_IN_GRAPH = True

    def __init__(self, config, global_batch_size=32):
        self._load_teacher_metadata(config)
        if bool(self.teacher_metadata.get("casing_features")) != bool(config.casing_features):
            raise ValueError(f"The teacher {self.teacher_dir} was trained with casing_features="
                             f"{self.teacher_metadata.get('casing_features')}; the task has "
                             f"{config.casing_features}: they must agree.")
        super().__init__(config, global_batch_size)
        self._check_teacher_names("tag_names", self.tag_names)

    def compute_loss(self, labels, outputs):
        outputs = outputs if isinstance(outputs, dict) else {"logits": outputs}
        labels = tf.cast(labels, tf.int32)
        weights = tf.cast(labels != IGNORE_LABEL, tf.float32)
        logits = tf.cast(outputs["logits"], tf.float32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0),
                                                                logits=logits)
        losses, extra = self._distillation_losses(losses, logits,
                                                  outputs.get("teacher_logits"), outputs)
        # The matching losses are per sentence: weighted by its tagged words, they keep
        # their scale in the per-word mean.
        extra = extra * tf.reduce_sum(weights, axis=1) if not isinstance(extra, float) else 0.0
        return (tf.reduce_sum(losses * weights) + tf.reduce_sum(extra),
                tf.reduce_sum(weights))

