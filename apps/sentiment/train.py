"""Fine-tunes a sentiment classifier and exports it as a versioned SavedModel.

    python -m apps.sentiment.train [--config=configs/sentiment/default.yaml]
        [--data_dir=DIR] [--init=minilm|DIR|none] [--export_dir=saved_models/sentiment]
        [--model_dir=runs/...] [--strategy=default|mirrored|multi_worker]
        [--mixed_precision] [--set task.sequence_length=64 ...]

Evaluates on the validation split every epoch, keeps the best checkpoint,
exports it to `<export_dir>/<version>/`, writes `<model_dir>/summary.json`.
"""

import sys

from absl import app

from apps.sentiment.config import APP_NAME, REPO_ROOT, SentimentConfig
from bertlab.tasks import fine_tuning_cli
from bertlab.tasks.text_classification import TextClassificationTask

fine_tuning_cli.define_flags(APP_NAME, REPO_ROOT)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    fine_tuning_cli.run_training_app(APP_NAME, SentimentConfig, TextClassificationTask,
                                     REPO_ROOT)


if __name__ == "__main__":
    app.run(main, argv=fine_tuning_cli.normalize_argv(sys.argv))
