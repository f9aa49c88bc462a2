"""The pretraining app's config: the YAML files in `configs/pretrain/` read into this."""

import dataclasses
import pathlib

from bertlab.pretraining.task import PretrainingTaskConfig
from bertlab.training import OptimizerConfig, TrainerConfig

APP_NAME = "pretrain"
REPO_ROOT = str(pathlib.Path(__file__).resolve().parents[2])


@dataclasses.dataclass
class PretrainConfig:
    """Sections: `task` (data files, vocabulary, encoder size), `trainer` and
    `optimizer` (the runner), `export_dir` (where the encoder is exported in the
    Hugging Face layout that `--init` reads; "" = `MODEL_DIR/export`; relative
    paths are relative to the working directory)."""

    task: PretrainingTaskConfig = dataclasses.field(default_factory=PretrainingTaskConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    export_dir: str = ""
