"""The classification app's config: the YAML files in `configs/classify/` (and
`configs/sentiment/`, its sentiment preset) read into this."""

import dataclasses
import pathlib

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
