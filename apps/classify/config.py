"""The classification app's config: the YAML files in `configs/classify/` (and
`configs/sentiment/`, its sentiment preset) read into this."""

import dataclasses
import pathlib

from bertlab.tasks.distillation import ClassificationDistillationConfig
from bertlab.tasks.text_classification import TextClassificationConfig
from bertlab.training import OptimizerConfig, ScheduleConfig, TrainerConfig

APP_NAME = "classify"
DEFAULT_CONFIG = "ag_news.yaml"
REPO_ROOT = str(pathlib.Path(__file__).resolve().parents[2])


@dataclasses.dataclass
class ClassifyConfig:
    """Sections: `task` (model, labels and data), `trainer` and `optimizer` (the runner),
    `schedule` (epochs, warm-up), `export_dir` (base directory of the versioned
    SavedModels, e.g. `saved_models/ag_news`, so that several classifiers are
    served side by side; relative paths are relative to the repository), `title`
    (what the demo page calls the model; "" = a generic name)."""

    task: TextClassificationConfig = dataclasses.field(default_factory=TextClassificationConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    export_dir: str = "saved_models/classify"
    title: str = ""


@dataclasses.dataclass
class DistillConfig(ClassifyConfig):
    """`apps.classify.distill`'s config (`configs/classify/distill_*.yaml`): the sections
    of `ClassifyConfig`, with `task.distillation` (the teacher export, the student,
    the loss weights; see `bertlab.tasks.distillation`)."""

    task: ClassificationDistillationConfig = dataclasses.field(
        default_factory=ClassificationDistillationConfig)
    export_dir: str = "saved_models/classify_student"
