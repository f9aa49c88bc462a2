"""The search app's training config: the YAML files in `configs/search/` read into this."""

import dataclasses
import pathlib

from bertlab.tasks.sentence_embedding import SentenceEmbeddingConfig
from bertlab.training import OptimizerConfig, TrainerConfig
from bertlab.training.schedule import ScheduleConfig

APP_NAME = "search"
REPO_ROOT = str(pathlib.Path(__file__).resolve().parents[2])


@dataclasses.dataclass
class SearchTrainingConfig:
    """Sections: `task` (the embedder, its loss and its sentence pairs), `trainer` and
    `optimizer` (the runner), `schedule` (epochs, warm-up), `export_dir` (versioned
    SavedModels of the embedder; relative paths are relative to the repository),
    `title` (the demo page's name for the export; "" = the app's)."""

    task: SentenceEmbeddingConfig = dataclasses.field(default_factory=SentenceEmbeddingConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    export_dir: str = "saved_models/search_embedder"
    title: str = ""
