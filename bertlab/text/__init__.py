"""In-graph text processing: BERT WordPiece and SentencePiece tokenization, input packing,
language-model scoring windows."""

from bertlab.text.bert_preprocessor import BertPreprocessor
from bertlab.text.bert_tokenizer import BertTokenizer, basic_tokenize
from bertlab.text.offset_tokenization import tokenize_with_offsets
from bertlab.text.question_context_windows import answer_token_positions, pack_question_windows
from bertlab.text.scoring_windows import ScoringWindows, scoring_windows
from bertlab.text.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece
from bertlab.text.vocabulary import VocabularyError, load_vocabulary, save_vocabulary
from bertlab.text.wordpiece_codec import WordPieceCodec
from bertlab.text.word_tokenization import (gather_word_values, pack_words, scatter_word_labels,
                                            split_whitespace, tokenize_words)
