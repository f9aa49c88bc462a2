"""Input data: readers for labelled text files, sentence pairs (STS, query/positive) and TFDS
datasets, length bucketing, plain text packed for language modelling."""

from bertlab.data.length_bucketing import DEFAULT_BOUNDARIES, bucket_by_length
from bertlab.data.readers import (
    DataError,
    LabeledSentences,
    TaggedSentences,
    check_bio_tag,
    hold_out_every,
    read_conll,
    read_labeled_sentences,
    read_text_lines,
)
from bertlab.data.sentence_pairs import (PAIR_FORMATS, QUERY_FORMATS, SCORED_FORMATS,
                                         SentencePairs, read_sentence_pairs)
from bertlab.data.squad_json import (AnswerSpans, QuestionExample, SpanCounts, answer_spans,
                                     locate_answer, read_squad_json, split_by_article)
from bertlab.data.tfds_sources import (is_tfds_source, load_tfds_sentences, load_tfds_tagged,
                                       load_tfds_text_pairs)
from bertlab.data.text_packing import (language_model_dataset, pack_sequences, token_stream,
                                       tokenize_documents)
