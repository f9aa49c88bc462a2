"""BERT pretraining (masked LM + next sentence prediction) as a runner `Task`.

Loss normalization (what `compute_loss` returns, and why it is global):

    loss_sum   = sum_i w_i * CE_mlm_i  +  (W / N) * sum_j CE_nsp_j
    weight_sum = W = sum_i w_i

over the local batch, where `i` runs over masked positions (`w_i` =
`masked_lm_weights`, 0 at padding), `j` over the N examples. The runner
divides the all-reduced `sum(loss_sum)` by the all-reduced `sum(weight_sum)`
(over replicas and accumulated micro-batches), which gives

    loss = (sum over all masked positions of w * CE_mlm) / (total mask weight)
         + sum_r (W_r / W_total) * NSP_mean_r

The masked-LM term is exactly the global weighted mean (each masked token
counts once, wherever it is). The NSP term is the mean of each replica's (or
micro-batch's) NSP mean weighted by its share of the mask weight: exactly the
NSP mean over the global batch on one device without accumulation, and also
whenever the local batches hold the same number of masked tokens per example
(about `masked_lm_prob * seq_length` for packed data, so in practice within a
fraction of a percent of it). google-research/bert's own TPU loss instead
normalizes each shard separately and averages the shards.

With `use_next_sentence_label=False` only the masked-LM term is used.

Example:
>>> config = PretrainingTaskConfig(train_files="data/train-*.tfrecord", vocab_file="vocab.txt")
>>> task = PretrainingTask(config)
>>> model = task.build_model()
>>> features, labels = next(iter(task.build_dataset("train")))
>>> loss_sum, weight_sum = task.compute_loss(labels, model(features))
"""

import dataclasses

import tensorflow as tf

from bertlab.export.pretrained_encoder_export import export_pretrained_encoder
from bertlab.models import pretraining_losses as losses
from bertlab.models import pretraining_metrics as metrics_lib
from bertlab.models.bert_encoder import BERT_PRESETS, BertEncoder
from bertlab.models.bert_pretrainer import BertPretrainer
from bertlab.pretraining import dataset as dataset_lib
from bertlab.text.vocabulary import load_vocabulary
from bertlab.training.task import Task

SPLITS = ("train", "validation")


@dataclasses.dataclass
class PretrainingTaskConfig:
    """Settings of `PretrainingTask`.

    Attributes:
      train_files, validation_files: comma-separated TFRecord globs
        (google-research/bert features, e.g. from `apps.pretrain.create_data`).
      global_batch_size: examples per training batch over all replicas (must
        equal the runner's `global_batch_size`).
      eval_batch_size: examples per validation batch (0: `global_batch_size`).
      seq_length, max_predictions_per_seq: feature lengths (0: read from the
        first record).
      vocab_file: the vocabulary of the data; its size sets the encoder's
        `vocabulary_size` when starting from scratch.
      lowercase: recorded with the vocabulary by `export`.
      init_checkpoint: a Hugging Face-layout directory to start from
        (`BertEncoder.from_pretrained`); empty: a fresh encoder.
      encoder_preset: size of a fresh encoder (`BERT_PRESETS`).
      encoder: `BertEncoder` arguments overriding the preset (`num_layers`,
        `hidden_dim`, `dropout`, `max_sequence_length`, ...); with an
        `init_checkpoint`, only shape-preserving ones (dropout).
      vocabulary_size: the encoder's vocabulary size when there is no
        `vocab_file` (0: unset).
      use_next_sentence_label: train the NSP head (BERT); False: MLM only.
      shuffle_buffer_size: records in the training shuffle buffer.
      seed: seeds the input pipeline.
    """
    train_files: str = ""
    validation_files: str = ""
    global_batch_size: int = 32
    eval_batch_size: int = 0
    seq_length: int = 0
    max_predictions_per_seq: int = 0
    vocab_file: str = ""
    lowercase: bool = True
    init_checkpoint: str = ""
    encoder_preset: str = "tiny"
    encoder: dict = dataclasses.field(default_factory=dict)
    vocabulary_size: int = 0
    use_next_sentence_label: bool = True
    shuffle_buffer_size: int = 10_000
    seed: int = 0

    def __post_init__(self):
        if self.global_batch_size < 1:
            raise ValueError(f"`global_batch_size` must be positive, got {self.global_batch_size}.")
        for name in ("eval_batch_size", "seq_length", "max_predictions_per_seq",
                     "vocabulary_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)}.")
        if self.shuffle_buffer_size < 1:
            raise ValueError(
                f"`shuffle_buffer_size` must be positive, got {self.shuffle_buffer_size}.")
        if not self.init_checkpoint and self.encoder_preset not in BERT_PRESETS:
            raise ValueError(f"`encoder_preset` must be one of {sorted(BERT_PRESETS)}, "
                             f"got {self.encoder_preset!r}.")


class PretrainingTask(Task):
    """Masked LM + next sentence prediction on a `BertPretrainer`.

    Args:
      config: a `PretrainingTaskConfig`.
    """

    def __init__(self, config):
        if not isinstance(config, PretrainingTaskConfig):
            raise ValueError(
                f"`config` must be a PretrainingTaskConfig, got {type(config).__name__}.")
        self.config = config
        self.global_batch_size = config.global_batch_size
        self._vocabulary = None

    @property
    def vocabulary(self):
        """The tokens of `vocab_file` (None without one)."""
        if self._vocabulary is None and self.config.vocab_file:
            self._vocabulary = load_vocabulary(self.config.vocab_file)
        return self._vocabulary

    def build_encoder(self):
        """A `BertEncoder`: from `init_checkpoint`, else fresh from the preset."""
        config = self.config
        if config.init_checkpoint:
            encoder = BertEncoder.from_pretrained(config.init_checkpoint, **config.encoder)
        else:
            vocabulary_size = config.vocabulary_size
            if self.vocabulary is not None:
                if vocabulary_size and vocabulary_size != len(self.vocabulary):
                    raise ValueError(
                        f"`vocabulary_size`={vocabulary_size} but `vocab_file` "
                        f"{config.vocab_file} has {len(self.vocabulary)} tokens.")
                vocabulary_size = len(self.vocabulary)
            if not vocabulary_size:
                raise ValueError("Set `vocab_file` or `vocabulary_size` to build a fresh encoder.")
            encoder = BertEncoder.from_preset(config.encoder_preset,
                                              vocabulary_size=vocabulary_size, **config.encoder)
        if self.vocabulary is not None and len(self.vocabulary) != encoder.vocabulary_size:
            raise ValueError(
                f"`vocab_file` {config.vocab_file} has {len(self.vocabulary)} tokens but the "
                f"encoder has {encoder.vocabulary_size}.")
        return encoder

    def build_model(self):
        return BertPretrainer(self.build_encoder(),
                              use_next_sentence_prediction=self.config.use_next_sentence_label)

    def build_dataset(self, split, input_context=None):
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
        config = self.config
        training = split == "train"
        files = config.train_files if training else config.validation_files
        if not files:
            raise ValueError(f"No files for the {split!r} split: set `{split}_files`.")
        batch_size = config.global_batch_size
        if not training and config.eval_batch_size:
            batch_size = config.eval_batch_size
        return dataset_lib.build_pretraining_dataset(
            files, batch_size, is_training=training,
            seq_length=config.seq_length or None,
            max_predictions_per_seq=config.max_predictions_per_seq or None,
            seed=config.seed, input_context=input_context,
            shuffle_buffer_size=config.shuffle_buffer_size)

    def compute_loss(self, labels, outputs):
        """`(loss_sum, weight_sum)` (see the module docstring for the normalization)."""
        mlm_sum, mlm_weight = losses.masked_lm_loss_sum(
            labels["masked_lm_ids"], outputs["mlm_logits"], labels["masked_lm_weights"])
        if not self.config.use_next_sentence_label:
            return mlm_sum, mlm_weight
        nsp_sum, count = losses.next_sentence_loss_sum(
            labels["next_sentence_labels"], outputs["nsp_logits"])
        return mlm_sum + tf.math.divide_no_nan(mlm_weight, count) * nsp_sum, mlm_weight

    def build_metrics(self):
        return metrics_lib.pretraining_metrics(self.config.use_next_sentence_label)

    def update_metrics(self, metrics, labels, outputs):
        for metric in metrics:
            metric.update_state(labels, outputs)

    def export(self, model, directory):
        """Writes the pretrained encoder (and `vocab_file`'s vocabulary) into
        `directory` in the Hugging Face layout that `BertEncoder.from_pretrained`
        and `BertPreprocessor.from_pretrained` read; returns its metadata."""
        return export_pretrained_encoder(model.encoder, directory, vocabulary=self.vocabulary,
                                         lowercase=self.config.lowercase)
