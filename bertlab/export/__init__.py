"""Every export of bertlab: SavedModel writers, their signatures, and the one export sequence.

- `publish` (publish.py): the one entry point that writes an export
  atomically as a new TF Serving version, with metadata, warm-up requests, the
  TF Serving op check and `models.config`.
- Writers: `export_text_classifier` (text_classifier_export.py),
  `export_token_classifier` (token_classifier_export.py),
  `export_question_answerer` (question_answerer_export.py),
  `export_sentence_embedder` (sentence_embedder_export.py),
  `export_search_index` (search_index_export.py: embedder, corpus and exact top-k;
  with a question-answerer export as reader, retrieve_then_read.py adds `answer`),
  `TextGenerationModule` (text_generation_module.py: translation,
  summarization), `export_pretrained_encoder` (pretrained_encoder_export.py).
- LiteRT: `export_litert` (litert_export.py: `model.tflite`, `model.dynamic.tflite`,
  `model.int8.tflite` beside a classifier's or tagger's version) and `LiteRTModel`
  (litert_model.py), which runs one with the LiteRT interpreter.
- Around them: `versioned_export` (version directories, metadata),
  `warmup`, `custom_ops`, `model_config`, and `ExportedModel`
  (saved_model_client.py), which loads an export to run it in Python.
"""

from bertlab.export.publish import prepare_for_serving, publish, update_models_config
from bertlab.export.text_classifier_export import (TEXT_SIGNATURE, TOKEN_IDS_SIGNATURE,
                                                   export_text_classifier)
from bertlab.export.token_classifier_export import export_token_classifier
from bertlab.export.question_answerer_export import export_question_answerer
from bertlab.export.sentence_embedder_export import export_sentence_embedder
from bertlab.export.search_index_export import export_search_index
from bertlab.export.pretrained_encoder_export import export_pretrained_encoder
from bertlab.export.versioned_export import (export_new_version, latest_version_dir,
                                             list_versions, read_metadata, write_metadata)
from bertlab.export.saved_model_client import ExportedModel, read_texts, resolve_version_dir
