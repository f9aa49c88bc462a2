"""Fine-tunes a BIO named-entity tagger and exports it as a versioned SavedModel.

    python -m apps.ner.train [--config=configs/ner/default.yaml]
        [--data_dir=DIR] [--init=minilm|DIR|none] [--export_dir=saved_models/ner]
        [--model_dir=runs/...] [--strategy=default|mirrored|multi_worker]
        [--mixed_precision] [--set task.sequence_length=128 ...]

Evaluates entity F1 (seqeval, exact spans) on the validation split every
epoch, keeps the best checkpoint, exports it to `<export_dir>/<version>/`,
writes `<model_dir>/summary.json`.
"""

import sys

from absl import app

from apps.ner.config import APP_NAME, REPO_ROOT, NerConfig
from bertlab.tasks import fine_tuning_cli
from bertlab.tasks.token_classification import TokenClassificationTask

fine_tuning_cli.define_flags(APP_NAME, REPO_ROOT)


def main(argv):
    fine_tuning_cli.run_main(argv, lambda: fine_tuning_cli.run_training_app(
        APP_NAME, NerConfig, TokenClassificationTask, REPO_ROOT))


if __name__ == "__main__":
    app.run(main, argv=fine_tuning_cli.normalize_argv(sys.argv))
