"""BERT pretraining: corpora, vocabulary learning, MLM/NSP data, losses, metrics.

The training task lives in `bertlab.pretraining.task` (imported explicitly: it
depends on `bertlab.models`, which itself uses this package's losses).
"""
