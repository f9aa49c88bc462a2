"""bertlab's one training runner: strategies, the optimizer, the Trainer loop, checkpoints.

- `Task` (task.py): what a task provides (model, data, loss, metrics).
- `TrainerConfig`, `OptimizerConfig` (configs.py): the runner's settings (YAML).
- `build_strategy` (strategy.py): "default", "mirrored", "multi_worker", "tpu".
- `build_optimizer`, `WarmupDecaySchedule` (optimization.py): AdamW with warm-up/decay.
- `Trainer` (trainer.py): the `strategy.run` training loop, evaluation, checkpoints,
  TensorBoard, `summary.json`.
- `BestModelTrainer` (best_model_trainer.py): keeps the best validation weights.
- `ScheduleConfig`, `apply_schedule` (schedule.py): a run measured in epochs.
- `CheckpointSelectionConfig`, `select_checkpoint` (checkpoint_selection.py):
  choose the exported weights by a metric computed outside the graph.
- `run_experiment` (runner.py) and the shared absl flags (flags.py) for app scripts.
- Restarts: SIGTERM saves a checkpoint and exits with status 143 (preemption.py);
  a resume checks its settings against `run_config.json` (run_config.py); what
  killed saves left is removed at start, only if its writer is gone
  (`bertlab.storage.leftovers`).
The driver that sequences training, selection and export is
`bertlab.tasks.driver` (it calls `bertlab.export`, one level up).
"""

from bertlab.training.best_model_trainer import BestModelTrainer
from bertlab.training.checkpoint_selection import CheckpointSelectionConfig, select_checkpoint
from bertlab.training.configs import OptimizerConfig, TrainerConfig
from bertlab.training.optimization import WarmupDecaySchedule, build_optimizer
from bertlab.training.runner import run_experiment
from bertlab.training.schedule import ScheduleConfig, apply_schedule
from bertlab.training.strategy import STRATEGIES, build_strategy
from bertlab.training.task import Task
from bertlab.training.trainer import Trainer

__all__ = [
    "BestModelTrainer",
    "CheckpointSelectionConfig",
    "OptimizerConfig",
    "STRATEGIES",
    "ScheduleConfig",
    "Task",
    "Trainer",
    "TrainerConfig",
    "WarmupDecaySchedule",
    "apply_schedule",
    "build_optimizer",
    "build_strategy",
    "run_experiment",
    "select_checkpoint",
]
