"""The search app's settings: where the index goes, the pretrained embedder's length."""

import pathlib

APP_NAME = "search"
REPO_ROOT = str(pathlib.Path(__file__).resolve().parents[2])
DEFAULT_EXPORT_DIR = "saved_models/search"  # relative to the repository
# all-MiniLM-L6-v2's `max_seq_length` (its sentence_bert_config.json): longer texts are cut.
PRETRAINED_SEQUENCE_LENGTH = 256
DEFAULT_K = 10
