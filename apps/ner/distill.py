"""Distils a trained NER tagger into a smaller one and exports it as a versioned SavedModel.

    python -m apps.ner.distill --teacher=saved_models/ner
        [--config=configs/ner/distill_conll.yaml] [--export_dir=saved_models/ner_3l]
        [--model_dir=runs/...] [--set task.distillation.student_layers=2 ...]
        (and every flag of `apps.ner.train`)

The teacher is a tagger export (a version directory, or a base directory: its latest
version). The student (by default its own layers 1, 3, 5 of 6; see
`bertlab.tasks.distillation`) learns from the tags and, at each word's first
subword, the teacher's soft targets (the teacher runs beside it); it is chosen on
entity F1 of the config's validation split and exported with the tagger's contract.
"""

import sys

from absl import app

from apps.ner.config import REPO_ROOT, NerDistillConfig
from bertlab.tasks import distillation_cli, fine_tuning_cli
from bertlab.tasks.distillation import TokenClassificationDistillationTask

# `--config` defaults to configs/ner/distill_conll.yaml.
DEFAULT_CONFIG = ("ner", REPO_ROOT, "distill_conll.yaml")
APP_NAME = "ner_distill"


def main(argv):
    distillation_cli.run_distillation_app(argv, APP_NAME, NerDistillConfig,
                                          TokenClassificationDistillationTask, REPO_ROOT)


if __name__ == "__main__":
    distillation_cli.define_flags(*DEFAULT_CONFIG)
    app.run(main, argv=fine_tuning_cli.normalize_argv(sys.argv))
