"""Fine-tunes an extractive question answerer and exports it as a versioned SavedModel.

    python -m apps.qa.train [--config=configs/qa/default.yaml]
        [--data_dir=DIR] [--init=minilm|DIR|none] [--export_dir=saved_models/qa]
        [--model_dir=runs/...] [--strategy=default|mirrored|multi_worker]
        [--mixed_precision] [--set task.doc_stride=64 ...]

Scores exact match and F1 of the answer text (SQuAD v1.1's metric, or CMRC
2018's for Chinese) on the validation articles at every evaluation, keeps the
best checkpoint, scores the report file once with it, exports it to
`<export_dir>/<version>/`, writes `<model_dir>/summary.json`.
"""

import sys

from absl import app

from apps.qa.config import APP_NAME, REPO_ROOT, QaConfig
from bertlab.tasks import fine_tuning_cli
from bertlab.tasks.question_answering import QuestionAnsweringTask

fine_tuning_cli.define_flags(APP_NAME, REPO_ROOT)


def main(argv):
    fine_tuning_cli.run_main(argv, lambda: fine_tuning_cli.run_training_app(
        APP_NAME, QaConfig, QuestionAnsweringTask, REPO_ROOT))


if __name__ == "__main__":
    app.run(main, argv=fine_tuning_cli.normalize_argv(sys.argv))
