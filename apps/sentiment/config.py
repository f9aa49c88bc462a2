"""The sentiment app's config: the YAML files in `configs/sentiment/` read into this."""

import dataclasses
import pathlib

from bertlab.training.schedule import ScheduleConfig
from bertlab.tasks.text_classification import TextClassificationConfig
from bertlab.training import OptimizerConfig, TrainerConfig

APP_NAME = "sentiment"
REPO_ROOT = str(pathlib.Path(__file__).resolve().parents[2])


@dataclasses.dataclass
class SentimentConfig:
    """Sections: `task` (model and data), `trainer` and `optimizer` (the runner),
    `schedule` (epochs, warm-up), `export_dir` (versioned SavedModels; relative
    paths are relative to the repository)."""

    task: TextClassificationConfig = dataclasses.field(
        default_factory=TextClassificationConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    export_dir: str = "saved_models/sentiment"
