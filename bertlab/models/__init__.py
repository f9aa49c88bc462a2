"""Assembled models: the BERT encoder, its task heads and pretrainer, the sentence
embedder and its contrastive losses, seq2seq, the decoder-only language model."""

from bertlab.models.bert_checkpoint import CheckpointError
from bertlab.models.bert_classifier import POOLINGS, BertClassifier
from bertlab.models.bert_encoder import BERT_PRESETS, BertEncoder
from bertlab.models.bert_pretrainer import BertPretrainer
from bertlab.models.bert_question_answerer import BertQuestionAnswerer
from bertlab.models.bert_token_classifier import BertTokenClassifier
from bertlab.models.dtype_policy_copy import copy_with_dtype_policy, serving_dtype_policy
from bertlab.models.sentence_embedder import EMBEDDER_POOLINGS, SentenceEmbedder
from bertlab.models.seq2seq_transformer import Seq2SeqTransformer
from bertlab.models.token_aliases import with_token_aliases
from bertlab.models.transformer_language_model import (LANGUAGE_MODEL_PRESETS,
                                                        TransformerLanguageModel)
from bertlab.models.language_model_metrics import (Perplexity, bits_per_character,
                                                   count_characters, language_model_loss,
                                                   language_model_loss_sum, perplexity)
from bertlab.models.language_model_scoring import (TextScore, score_documents, score_text,
                                                   score_token_ids, scoring_windows_dataset)
