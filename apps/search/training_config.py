"""The search app's training config (`apps.search.train`): the YAML files in `configs/search/`
read into this. (`apps/search/config.py` holds the app's name and the index's settings.)"""

import dataclasses

from bertlab.tasks.sentence_embedding import SentenceEmbeddingConfig
from bertlab.training import OptimizerConfig, TrainerConfig
from bertlab.training.schedule import ScheduleConfig

# Where `apps.search.train` exports the embedder (relative to the repository); the index
# (`apps.search.index`) is built from one of its versions.
EMBEDDER_EXPORT_DIR = "saved_models/search_embedder"


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
    export_dir: str = EMBEDDER_EXPORT_DIR
    title: str = ""
