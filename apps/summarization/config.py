"""The summarization app's config: the YAML files in `configs/summarization/` read into this."""

import dataclasses
import pathlib
import typing

from bertlab.decoding import DecodingConfig
from bertlab.tasks.seq2seq import Seq2SeqTaskConfig
from bertlab.text.sentencepiece_tokenizer import SubwordConfig
from bertlab.training.checkpoint_selection import CheckpointSelectionConfig
from bertlab.training import OptimizerConfig, TrainerConfig

APP_NAME = "summarization"
OUTPUT_KEY = "summary"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


@dataclasses.dataclass
class SummarizationDataConfig:
    """Fields: `dataset` ("scitldr", "csl_ts", "tfds:<name>"), `language` ("en",
    "zh": how ROUGE tokenizes), `train_limit` / `validation_limit` (first N
    examples; None = all), `csl_validation_size` (CSL rows held out for
    validation), `source_feature` / `target_feature` (TFDS datasets)."""

    dataset: str = "scitldr"
    language: str = "en"
    train_limit: typing.Optional[int] = None
    validation_limit: typing.Optional[int] = None
    csl_validation_size: int = 200
    source_feature: str = "document"
    target_feature: str = "summary"

    def __post_init__(self):
        if self.language not in ("en", "zh"):
            raise ValueError(f"`data.language` must be 'en' or 'zh', got {self.language!r}.")


@dataclasses.dataclass
class SummarizationConfig:
    """Sections: `data`; `subword` (the SentencePiece model trained on the training
    split when the model starts from scratch; with `task.model.init_from_bert`
    ("minilm" or a BERT checkpoint directory) the checkpoint's WordPiece
    vocabulary is used instead); `task`, `trainer`, `optimizer`; `decoding`
    (beam search for checkpoint selection and, unless flags override it, the
    export); `selection` (which checkpoints compete on validation ROUGE);
    `export_dir` (relative to the repository)."""

    data: SummarizationDataConfig = dataclasses.field(default_factory=SummarizationDataConfig)
    subword: SubwordConfig = dataclasses.field(default_factory=SubwordConfig)
    task: Seq2SeqTaskConfig = dataclasses.field(default_factory=Seq2SeqTaskConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    decoding: DecodingConfig = dataclasses.field(default_factory=DecodingConfig)
    selection: CheckpointSelectionConfig = dataclasses.field(
        default_factory=lambda: CheckpointSelectionConfig(metric="rougeL"))
    export_dir: str = "saved_models/summarization"
