"""BERT pretraining: corpora, vocabulary learning, MLM/NSP data, input pipeline,
losses and metrics.

- `corpus`: input files and documents (`lines` and `wikitext` formats).
- `vocabulary_learning`: WordPiece vocabulary from text (`apps.pretrain.build_vocab`).
- `instances`, `pretraining_data`: MLM/NSP instances and sharded TFRecords
  (`apps.pretrain.create_data`).
- `dataset`: TFRecords -> `(features, labels)` batches for `BertPretrainer`.
- `losses`, `metrics`: masked-LM and next-sentence losses and Keras metrics.
- `task`: `PretrainingTask` for the training runner. Import it as
  `bertlab.pretraining.task` (it depends on `bertlab.models`, which uses this
  package's losses and metrics, so it is not imported here).
"""

from bertlab.pretraining.corpus import CorpusError, expand_input_patterns, read_documents
from bertlab.pretraining.dataset import build_pretraining_dataset
from bertlab.pretraining.losses import masked_lm_loss, next_sentence_loss, pretraining_loss
from bertlab.pretraining.metrics import (MaskedLMAccuracy, MaskedLMPerplexity,
                                         NextSentenceAccuracy)
from bertlab.pretraining.pretraining_data import PretrainingDataConfig, create_pretraining_data
from bertlab.pretraining.vocabulary_learning import learn_vocabulary, learn_vocabulary_from_lines
