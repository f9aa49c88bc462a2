"""The language-model app's config: the YAML files in `configs/lm/` read into this."""

import dataclasses
import pathlib
import typing

from bertlab.decoding import DecodingConfig
from bertlab.tasks.language_modeling import LanguageModelingConfig
from bertlab.text.sentencepiece_tokenizer import SubwordConfig
from bertlab.training import OptimizerConfig, TrainerConfig

APP_NAME = "lm"
OUTPUT_KEY = "completion"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


@dataclasses.dataclass
class LanguageModelDataConfig:
    """Fields: `corpus` (a folder of plain text files under the data directory, one
    document per file: "gutenberg", "zh_classics"), `validation_files` (file
    names in it held out whole for validation), `train_files` (file names to
    train on; None: every other `.txt` file of the folder)."""

    corpus: str = "gutenberg"
    validation_files: typing.List[str] = dataclasses.field(
        default_factory=lambda: ["chesterton-thursday.txt", "shakespeare-caesar.txt"])
    train_files: typing.Optional[typing.List[str]] = None

    def __post_init__(self):
        if not self.validation_files:
            raise ValueError("`data.validation_files` must name at least one file to hold out.")
        overlap = set(self.validation_files) & set(self.train_files or [])
        if overlap:
            raise ValueError(f"`data.train_files` and `data.validation_files` share "
                             f"{sorted(overlap)}: validation must be held out.")


@dataclasses.dataclass
class LanguageModelAppConfig:
    """Sections: `data`; `subword` (the lossless BPE SentencePiece model learned from
    the training files; with `--init` the model's own is used); `task`
    (`LanguageModelingConfig`: model size, sequence length, scoring stride);
    `trainer`, `optimizer`; `decoding` (the export's `serving_default`;
    `max_length` is also the most new tokens its `generate` signature
    allows); `export_dir` (relative to the repository)."""

    data: LanguageModelDataConfig = dataclasses.field(default_factory=LanguageModelDataConfig)
    subword: SubwordConfig = dataclasses.field(default_factory=lambda: SubwordConfig(
        vocabulary_size=8000, model_type="bpe", lossless=True))
    task: LanguageModelingConfig = dataclasses.field(default_factory=LanguageModelingConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    decoding: DecodingConfig = dataclasses.field(default_factory=lambda: DecodingConfig(
        method="sample", max_length=128, top_p=0.95, temperature=0.8))
    export_dir: str = "saved_models/lm"

    def __post_init__(self):
        if not (self.subword.lossless and self.subword.model_type == "bpe"):
            raise ValueError("A language model needs `subword.lossless: true` and "
                             "`subword.model_type: bpe` (text must round-trip, and files "
                             "tokenize line by line to the ids of the whole text).")
        if self.trainer.eval_steps is not None:
            raise ValueError("`trainer.eval_steps` must be unset: bits per character are "
                             "measured on the whole validation text.")
