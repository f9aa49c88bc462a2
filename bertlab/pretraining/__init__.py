"""BERT pretraining: corpora, MLM/NSP data, the input pipeline and the task.

- `corpus`: input files and documents (`lines`, `wikitext` and `wikiextractor` formats).
- `instances`, `pretraining_data`: MLM/NSP instances and sharded TFRecords
  (`apps.pretrain.create_data`).
- `dataset`: TFRecords -> `(features, labels)` batches for `BertPretrainer`.
- `task`: `PretrainingTask` for the training runner.

The masked-LM/next-sentence losses and metrics sit with the models that use
them (`bertlab.models.pretraining_losses`, `bertlab.models.pretraining_metrics`)
and WordPiece vocabulary learning with the text package
(`bertlab.text.vocabulary_learning`); they are re-exported here.
"""

from bertlab.pretraining.corpus import CorpusError, expand_input_patterns, read_documents
from bertlab.pretraining.dataset import build_pretraining_dataset
from bertlab.models.pretraining_losses import masked_lm_loss, next_sentence_loss, pretraining_loss
from bertlab.models.pretraining_metrics import (MaskedLMAccuracy, MaskedLMPerplexity,
                                         NextSentenceAccuracy)
from bertlab.pretraining.pretraining_data import PretrainingDataConfig, create_pretraining_data
from bertlab.text.vocabulary_learning import learn_vocabulary, learn_vocabulary_from_lines
