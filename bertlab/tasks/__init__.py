"""Fine-tuning tasks for the training runner and what runs them.

- `SentenceClassificationTask` (sentence_classification.py): sentiment/topic
  classification of raw text with a `BertClassifier`.
- `TokenClassificationTask` (token_classification.py): BIO tagging (NER) with a
  `BertTokenClassifier`, first-subword alignment, seqeval entity F1
  (`EntitySpanF1`, entity_span_f1.py).
- `EncoderConfig` (encoder_config.py): MiniLM, a checkpoint directory, or a
  fresh encoder with a given or learned vocabulary.
- `fine_tune`, `ScheduleConfig`, `BestModelTrainer` (fine_tuning.py): epochs,
  best-checkpoint keeping and export on top of the one runner;
  `fine_tuning_cli.py`: the apps' train command line.
- `Seq2SeqTask` (seq2seq.py): teacher-forced translation/summarization with
  label smoothing, BERT2BERT initialisation, checkpoint selection by BLEU or
  ROUGE, and `train_and_export`.
"""

from bertlab.tasks.encoder_config import EncoderConfig
from bertlab.tasks.entity_span_f1 import EntitySpanF1
from bertlab.tasks.fine_tuning import BestModelTrainer, ScheduleConfig, apply_schedule, fine_tune
from bertlab.tasks.sentence_classification import (SentenceClassificationConfig,
                                                   SentenceClassificationTask, SentenceDataConfig)
from bertlab.tasks.token_classification import (TaggedDataConfig, TokenClassificationConfig,
                                                TokenClassificationTask)
from bertlab.tasks.seq2seq import (Seq2SeqTask, Seq2SeqTaskConfig, build_bert2bert,
                                   select_checkpoint, train_and_export)
