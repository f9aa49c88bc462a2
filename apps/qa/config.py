"""The question-answering app's config: the YAML files in `configs/qa/` read into this."""

import dataclasses
import pathlib

from bertlab.tasks.question_answering import QuestionAnsweringConfig
from bertlab.training import OptimizerConfig, TrainerConfig
from bertlab.training.schedule import ScheduleConfig

APP_NAME = "qa"
REPO_ROOT = str(pathlib.Path(__file__).resolve().parents[2])


@dataclasses.dataclass
class QaConfig:
    """Sections: `task` (model, windows and data), `trainer` and `optimizer` (the
    runner), `schedule` (epochs, warm-up), `export_dir` (versioned SavedModels;
    relative paths are relative to the repository), `title` (the demo page's name
    for the export; "" = the app's)."""

    task: QuestionAnsweringConfig = dataclasses.field(default_factory=QuestionAnsweringConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    export_dir: str = "saved_models/qa"
    title: str = ""
