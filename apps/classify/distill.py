"""Distils a trained classifier into a smaller one and exports it as a versioned SavedModel.

    python -m apps.classify.distill --teacher=saved_models/sentiment
        [--config=configs/classify/distill_sst2.yaml] [--export_dir=saved_models/sentiment_3l]
        [--model_dir=runs/...] [--set task.distillation.student_layers=2 ...]
        (and every flag of `apps.classify.train`)

The teacher is a classifier export (a version directory, or a base directory: its
latest version). The student (by default its own layers 1, 3, 5 of 6; see
`bertlab.tasks.distillation`) learns from the labels and the teacher's soft
targets, is chosen on the config's validation split, scored once on its report
split, and exported with the same contract as any classifier (`serving_default`
raw text -> `label`, `probabilities`; `serve_token_ids`).
"""

import sys

from absl import app

from apps.classify.config import REPO_ROOT, DistillConfig
from bertlab.tasks import distillation_cli, fine_tuning_cli
from bertlab.tasks.distillation import ClassificationDistillationTask

# `--config` defaults to configs/classify/distill_sst2.yaml.
DEFAULT_CONFIG = ("classify", REPO_ROOT, "distill_sst2.yaml")
APP_NAME = "distill"


def main(argv):
    distillation_cli.run_distillation_app(argv, APP_NAME, DistillConfig,
                                          ClassificationDistillationTask, REPO_ROOT)


if __name__ == "__main__":
    distillation_cli.define_flags(*DEFAULT_CONFIG)
    app.run(main, argv=fine_tuning_cli.normalize_argv(sys.argv))
