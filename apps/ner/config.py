"""The NER app's config: the YAML files in `configs/ner/` read into this."""

import dataclasses
import pathlib

from bertlab.training.schedule import ScheduleConfig
from bertlab.tasks.distillation import TokenClassificationDistillationConfig
from bertlab.tasks.token_classification import TokenClassificationConfig
from bertlab.training import OptimizerConfig, TrainerConfig

APP_NAME = "ner"
REPO_ROOT = str(pathlib.Path(__file__).resolve().parents[2])


@dataclasses.dataclass
class NerConfig:
    """Sections: `task` (model and data), `trainer` and `optimizer` (the runner),
    `schedule` (epochs, warm-up), `export_dir` (versioned SavedModels; relative
    paths are relative to the repository)."""

    task: TokenClassificationConfig = dataclasses.field(default_factory=TokenClassificationConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    export_dir: str = "saved_models/ner"


@dataclasses.dataclass
class NerDistillConfig(NerConfig):
    """`apps.ner.distill`'s config (`configs/ner/distill_*.yaml`): the sections of
    `NerConfig`, with `task.distillation` (the teacher export, the student, the loss
    weights; see `bertlab.tasks.distillation`)."""

    task: TokenClassificationDistillationConfig = dataclasses.field(
        default_factory=TokenClassificationDistillationConfig)
    export_dir: str = "saved_models/ner_student"
