"""Search and sampling for step-by-step generation with a key/value cache.

`greedy_search`, `beam_search` and `sample` take a step function (see
`step_decoding`) and run a static-shape `tf.while_loop`, so they work eagerly,
in `tf.function`, under XLA and inside SavedModels. `Seq2SeqGenerator` wires
them to a `Seq2SeqTransformer`.
"""

from bertlab.decoding.answer_span_selection import (SelectedSpans, answer_text,
                                                    select_answer_spans)
from bertlab.decoding.beam_search import beam_search, length_penalty_factor, tile_for_beams
from bertlab.decoding.greedy import greedy_search
from bertlab.decoding.logits_processing import (NEG_INF, LogitsProcessor,
                                                apply_no_repeat_ngram,
                                                apply_repetition_penalty, apply_temperature,
                                                suppress_tokens, top_k_filter, top_p_filter)
from bertlab.decoding.sampling import sample
from bertlab.decoding.seq2seq_generator import (DecodingConfig, Seq2SeqGenerator,
                                                with_export_overrides)
from bertlab.decoding.step_decoding import GenerationOutput

__all__ = [
    "NEG_INF",
    "DecodingConfig",
    "GenerationOutput",
    "LogitsProcessor",
    "Seq2SeqGenerator",
    "SelectedSpans",
    "answer_text",
    "apply_no_repeat_ngram",
    "apply_repetition_penalty",
    "apply_temperature",
    "beam_search",
    "greedy_search",
    "length_penalty_factor",
    "sample",
    "select_answer_spans",
    "suppress_tokens",
    "tile_for_beams",
    "top_k_filter",
    "top_p_filter",
    "with_export_overrides",
]
