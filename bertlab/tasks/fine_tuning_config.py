"""The settings every fine-tuning task of a BERT encoder shares.

`TextClassificationConfig` and `TokenClassificationConfig` extend
`FineTuningConfig` with their data and head settings.
"""

import dataclasses
import typing

from bertlab.data import DEFAULT_BOUNDARIES
from bertlab.models.dtype_policy_copy import resolve_export_policy
from bertlab.tasks.encoder_config import EncoderConfig


@dataclasses.dataclass
class FineTuningConfig:
    """Encoder, lengths, batching and export settings of a fine-tuning task.

    Attributes:
      encoder: see `EncoderConfig`.
      sequence_length: longest token sequence in training (`[CLS]`/`[SEP]`
        included); what lies beyond it is truncated.
      head_dropout: dropout before the task's output layer.
      eval_batch_size: global batch size of the evaluated splits.
      bucket_boundaries: length buckets of `bucket_by_length`.
      seed: data order and subset seed.
      export_dtype_policy: what the export computes in: "auto" (a
        `mixed_bfloat16` model is exported with bfloat16 weights), "as_trained",
        "float32", "bfloat16" or "mixed_bfloat16".
    """

    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    sequence_length: int = 128
    head_dropout: float = 0.1
    eval_batch_size: int = 64
    bucket_boundaries: typing.List[int] = dataclasses.field(
        default_factory=lambda: list(DEFAULT_BOUNDARIES))
    seed: int = 0
    export_dtype_policy: str = "auto"

    def __post_init__(self):
        resolve_export_policy(self.export_dtype_policy)
        if self.sequence_length < 3:
            raise ValueError(f"`sequence_length` must be at least 3, got {self.sequence_length}.")
        if self.eval_batch_size < 1:
            raise ValueError(f"`eval_batch_size` must be positive, got {self.eval_batch_size}.")
