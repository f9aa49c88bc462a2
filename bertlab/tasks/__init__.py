"""Tasks for the training runner, and the one driver that runs every app.

- `train_and_export` (driver.py): train -> keep the best -> export a new
  version -> `models.config` -> `summary.json`, for every task.
- `TextClassificationTask` (text_classification.py): classification of raw
  texts or text pairs (sentiment, topics, spam, paraphrase) and scored-pair
  regression (STS-B) with a `BertClassifier`.
- `TokenClassificationTask` (token_classification.py): BIO tagging (NER) with a
  `BertTokenClassifier`, first-subword alignment, seqeval entity F1
  (`EntitySpanF1`, entity_span_f1.py).
- `QuestionAnsweringTask` (question_answering.py): extractive QA (SQuAD, CMRC)
  with a `BertQuestionAnswerer`, windows over long contexts, EM/F1 of the
  answer text.
- `Seq2SeqTask` (seq2seq.py): teacher-forced translation/summarization with
  label smoothing; with a `GenerationSetup` it is judged by BLEU/ROUGE of
  decoded text and exported as a text-generation SavedModel.
- `SentenceEmbeddingTask` (sentence_embedding.py): a `SentenceEmbedder` fine-tuned on
  scored pairs (CoSENT, STS-B) or (query, positive) pairs (in-batch negatives),
  judged by STS Spearman or retrieval MRR@10 over a whole split (the pairs'
  embeddings collected by `ExampleEmbeddings`, example_embeddings.py, scored by
  `embedding_metrics.py`), exported with its tokenizer (raw strings in).
- `EncoderConfig` (encoder_config.py): MiniLM, a checkpoint directory, or a
  fresh encoder with a given or learned vocabulary; `FineTuningConfig`
  (fine_tuning_config.py): the settings the fine-tuning task configs share.
- `squad_metrics.py`: SQuAD v1.1 and CMRC 2018 exact match and F1.
- `fine_tuning_cli.py`, `seq2seq_cli.py`: the apps' command lines.
"""

from bertlab.tasks.driver import train_and_export
from bertlab.tasks.encoder_config import EncoderConfig
from bertlab.tasks.entity_span_f1 import EntitySpanF1
from bertlab.tasks.fine_tuning_config import FineTuningConfig
from bertlab.tasks.text_classification import (TextClassificationConfig,
                                               TextClassificationTask, TextDataConfig)
from bertlab.tasks.question_answering import (QuestionAnsweringConfig, QuestionAnsweringTask,
                                              QuestionDataConfig)
from bertlab.tasks.sentence_embedding import (PairDataConfig, SentenceEmbeddingConfig,
                                              SentenceEmbeddingTask)
from bertlab.tasks.seq2seq import GenerationSetup, Seq2SeqTask, Seq2SeqTaskConfig
from bertlab.tasks.token_classification import (TaggedDataConfig, TokenClassificationConfig,
                                                TokenClassificationTask)
