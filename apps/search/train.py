"""Fine-tunes a sentence embedder for semantic search and exports it as a versioned SavedModel.

    python -m apps.search.train [--config=configs/search/default.yaml]
        [--data_dir=DIR] [--init=minilm|DIR|none] [--export_dir=saved_models/search_embedder]
        [--model_dir=runs/...] [--strategy=default|mirrored|multi_worker]
        [--mixed_precision] [--set task.loss=cosent ...]

Trains a `SentenceEmbedder` (default: all-MiniLM-L6-v2) on scored pairs with
CoSENT (STS Benchmark) or on (query, positive) pairs with in-batch negatives
(SciTLDR, SQuAD); scores Spearman x 100 of the pairs' cosines (or MRR@10 of
retrieval) on the validation pairs carved from the training file at every
evaluation, keeps the best checkpoint, scores the report file (STS-B dev) once
with it, exports it to `<export_dir>/<version>/` (raw strings in, one
embedding per string out), writes `<model_dir>/summary.json`. See
apps/search/TRAINING.md.
"""

import sys

from absl import app

from apps.search.config import APP_NAME, REPO_ROOT
from apps.search.training_config import SearchTrainingConfig
from bertlab.tasks import fine_tuning_cli
from bertlab.tasks.sentence_embedding import SentenceEmbeddingTask

fine_tuning_cli.define_flags(APP_NAME, REPO_ROOT)


def main(argv):
    fine_tuning_cli.run_main(argv, lambda: fine_tuning_cli.run_training_app(
        APP_NAME, SearchTrainingConfig, SentenceEmbeddingTask, REPO_ROOT))


if __name__ == "__main__":
    app.run(main, argv=fine_tuning_cli.normalize_argv(sys.argv))
