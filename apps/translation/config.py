"""The translation app's config: the YAML files in `configs/translation/` read into this."""

import dataclasses
import pathlib
import typing

from bertlab.decoding import DecodingConfig
from bertlab.tasks.seq2seq import Seq2SeqTaskConfig
from bertlab.text.sentencepiece_tokenizer import SubwordConfig
from bertlab.training.checkpoint_selection import CheckpointSelectionConfig
from bertlab.training import OptimizerConfig, TrainerConfig

APP_NAME = "translation"
OUTPUT_KEY = "translation"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


@dataclasses.dataclass
class TranslationDataConfig:
    """Fields: `dataset` ("multi30k", "tatoeba_zh_en", "tfds:<name>"), `direction`
    ("en-de", "de-en", "en-zh", "zh-en"), `train_limit` / `validation_limit`
    (first N pairs only, for smoke runs; None = all)."""

    dataset: str = "multi30k"
    direction: str = "en-de"
    train_limit: typing.Optional[int] = None
    validation_limit: typing.Optional[int] = None


@dataclasses.dataclass
class TranslationConfig:
    """Sections: `data`, `subword` (the SentencePiece model trained on the training
    split, shared by both languages), `task` (model, lengths, label smoothing),
    `trainer` and `optimizer` (the runner), `decoding` (beam search used for
    checkpoint selection and, unless flags override it, in the export),
    `selection` (which checkpoints compete on validation BLEU), `export_dir`
    (relative paths are relative to the repository)."""

    data: TranslationDataConfig = dataclasses.field(default_factory=TranslationDataConfig)
    subword: SubwordConfig = dataclasses.field(default_factory=SubwordConfig)
    task: Seq2SeqTaskConfig = dataclasses.field(default_factory=Seq2SeqTaskConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    decoding: DecodingConfig = dataclasses.field(default_factory=DecodingConfig)
    selection: CheckpointSelectionConfig = dataclasses.field(
        default_factory=CheckpointSelectionConfig)
    export_dir: str = "saved_models/translation"
