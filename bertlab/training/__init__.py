"""bertlab's one training runner: strategies, the optimizer, the Trainer loop, checkpoints.

- `Task` (task.py): what a task provides (model, data, loss, metrics).
- `TrainerConfig`, `OptimizerConfig` (configs.py): the runner's settings (YAML).
- `build_strategy` (strategy.py): "default", "mirrored", "multi_worker", "tpu".
- `build_optimizer`, `WarmupDecaySchedule` (optimization.py): AdamW with warm-up/decay.
- `Trainer` (trainer.py): the `strategy.run` training loop, evaluation, checkpoints,
  TensorBoard, `summary.json`.
- `run_experiment` (runner.py) and the shared absl flags (flags.py) for app scripts.
"""

from bertlab.training.configs import OptimizerConfig, TrainerConfig
from bertlab.training.optimization import WarmupDecaySchedule, build_optimizer
from bertlab.training.runner import run_experiment
from bertlab.training.strategy import STRATEGIES, build_strategy
from bertlab.training.task import Task
from bertlab.training.trainer import Trainer

__all__ = [
    "OptimizerConfig",
    "STRATEGIES",
    "Task",
    "Trainer",
    "TrainerConfig",
    "WarmupDecaySchedule",
    "build_optimizer",
    "build_strategy",
    "run_experiment",
]
