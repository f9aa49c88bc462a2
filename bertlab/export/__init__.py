"""Exports for TF Serving: versioned atomic SavedModel directories and serving signatures."""

from bertlab.export.text_classifier_export import (TEXT_SIGNATURE, TOKEN_IDS_SIGNATURE,
                                                   export_text_classifier)
from bertlab.export.token_classifier_export import export_token_classifier
from bertlab.export.versioned_export import (export_new_version, latest_version_dir,
                                             list_versions, read_metadata, write_metadata)
from bertlab.export.saved_model_client import ExportedModel, read_texts, resolve_version_dir
