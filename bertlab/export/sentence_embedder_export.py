"""SavedModel of a sentence embedder: raw strings in, one float32 vector per string out.

Signatures (TF Serving; `saved_model_cli show --all` lists them):
- `embed` and `serving_default` (the same function): input `text` tf.string
  `[None]`; output `embedding` float32 `[None, dim]` (unit length when the
  embedder normalizes, so that a dot product is a cosine similarity).
  Tokenization (the in-graph BERT tokenizer) is inside.
- `serve_token_ids`: inputs `token_ids`, `segment_ids`, `padding_mask` int32
  `[None, None]`; output `embedding` float32 `[None, dim]`, for servers without
  text ops or clients that tokenize themselves.

Every batch of strings is accepted, as by the classifier export
(`text_classifier_export`): empty strings and invalid UTF-8 are cleaned by the
tokenizer (`[CLS] [SEP]` at worst, a vector all the same), texts longer than
the preprocessor's `sequence_length` tokens are truncated (the embedding is
that of their beginning), a batch is padded to its longest row, and an empty
batch gives a `[0, dim]` embedding. Only ops that TF Serving's tensorflow-text
has are used; the weights are graph constants (`constant_weights`). Loading
needs only `tensorflow` and `import tensorflow_text`.

`embedding_functions` gives the same graph functions to other exports (the
search index of `search_index_export` embeds its queries with them), and
`load_embedding_functions` gives them for an embedder already exported here.

Example:
>>> metadata = export_sentence_embedder(embedder, preprocessor, "/tmp/embedder/1")
>>> metadata["embedding_dim"]
384
>>> embed = tf.saved_model.load("/tmp/embedder/1").signatures["embed"]
>>> embed(text=tf.constant(["a dog runs", ""]))["embedding"].shape
TensorShape([2, 384])
"""

import collections

import keras
import tensorflow as tf

from bertlab.export.constant_weights import constant_weights
from bertlab.export.text_classifier_export import (INPUT_NAMES, TOKEN_IDS_SIGNATURE,
                                                   ensure_min_width, pack_text, token_id_specs)
from bertlab.export.versioned_export import read_metadata
from bertlab.models.dtype_policy_copy import inference_copy, layer_policies

EMBED_SIGNATURE = "embed"
TASK = "sentence_embedding"

EmbeddingFunctions = collections.namedtuple(
    "EmbeddingFunctions", ["embed_text", "embed_token_ids", "tracked", "metadata"])
EmbeddingFunctions.__doc__ = """What an export needs to embed text inside its graph.

Fields:
  embed_text: `embed_text(text)`: tf.string `[batch]` -> float32 `[batch, dim]`
    (traceable: call it inside the export's `tf.function`s).
  embed_token_ids: `embed_token_ids(token_ids, segment_ids, padding_mask)`:
    int32 `[batch, seq]` each -> float32 `[batch, dim]`.
  tracked: objects the SavedModel must track for the functions' resources
    (the tokenizer, or a loaded embedder export).
  metadata: what the embedding is (`task`, `pooling`, `normalize`,
    `sequence_length`, `lowercase`, `dtype_policies`, `embedding_dim`).
"""


def embedding_functions(embedder, preprocessor, dtype_policy="auto"):
    """The embedder's inference graph, with tokenization, as `EmbeddingFunctions`.

    Args:
      embedder: a built `SentenceEmbedder` (or any Keras model mapping
        `token_ids`/`segment_ids`/`padding_mask` to float `[batch, dim]`; it
        then needs `pooling`, `normalize` attributes for the metadata, else
        they are recorded as None).
      preprocessor: a `bertlab.text.BertPreprocessor`: its tokenizer,
        lower-casing and `sequence_length` are exported.
      dtype_policy: "auto", None or a policy name (see `export_text_classifier`).

    Raises:
      ValueError: `embedder` does not give `[batch, dim]` outputs.
    """
    exported = inference_copy(embedder, dtype_policy)
    forward = constant_weights(exported, INPUT_NAMES)
    tokenizer = preprocessor.tokenizer
    sequence_length = preprocessor.sequence_length
    output_shape = tuple(exported.output.shape) if hasattr(exported, "output") else ()
    if len(output_shape) != 2 or output_shape[-1] is None:
        raise ValueError(f"`embedder` must output [batch, dim] embeddings, got shape "
                         f"{output_shape}.")

    def embed_token_ids(token_ids, segment_ids, padding_mask):
        features = ensure_min_width({"token_ids": token_ids, "segment_ids": segment_ids,
                                     "padding_mask": padding_mask})
        return tf.cast(forward(features), tf.float32)

    def embed_text(text):
        features = pack_text(tokenizer, text, sequence_length)
        return embed_token_ids(features["token_ids"], features["segment_ids"],
                               features["padding_mask"])

    metadata = {"task": TASK, "pooling": getattr(embedder, "pooling", None),
                "normalize": getattr(embedder, "normalize", None),
                "sequence_length": int(sequence_length),
                "lowercase": bool(tokenizer.lowercase),
                "dtype_policies": sorted(layer_policies(exported)),
                "embedding_dim": int(output_shape[-1])}
    return EmbeddingFunctions(embed_text, embed_token_ids, (tokenizer,), metadata)


def write_signatures(path, tracked, endpoints):
    """Writes a SavedModel at `path` whose signatures are `endpoints`.

    Args:
      path: the SavedModel directory.
      tracked: objects whose resources the endpoints use (a tokenizer's
        tables, a loaded SavedModel, variables).
      endpoints: `{signature name: (function, input signature)}`, the input
        signature a list of named `tf.TensorSpec`s; one function may serve
        several names (its graph is stored once).
    """
    archive = keras.export.ExportArchive()
    for item in tracked:
        archive.track(item)
    for name, (function, input_signature) in endpoints.items():
        archive.add_endpoint(name, function, input_signature=list(input_signature))
    archive.write_out(path, verbose=False)


def export_sentence_embedder(embedder, preprocessor, path, dtype_policy="auto"):
    """Writes the embedder with its tokenizer as a SavedModel at `path`.

    Args:
      embedder: a built `SentenceEmbedder` (token ids -> float32 `[batch, dim]`).
      preprocessor: the `bertlab.text.BertPreprocessor` of training (or of
        `BertPreprocessor.from_pretrained(dir, sequence_length=N)`): its
        tokenizer and `sequence_length` (longer texts are truncated) are
        exported; each batch is padded to its longest row.
      path: the SavedModel directory (see `bertlab.export.publish` for atomic,
        versioned writes).
      dtype_policy: what the export computes in: "auto" (a `mixed_bfloat16`
        embedder is exported with bfloat16 weights), None (as the embedder is)
        or a policy name.

    Returns:
      The export's metadata: `task` ("sentence_embedding"), `pooling`,
      `normalize`, `sequence_length`, `lowercase`, `dtype_policies` (sorted
      policies the exported layers compute under), `embedding_dim`.
    """
    functions = embedding_functions(embedder, preprocessor, dtype_policy)

    def serve_text(text):
        return {"embedding": functions.embed_text(text)}

    def serve_token_ids(token_ids, segment_ids, padding_mask):
        return {"embedding": functions.embed_token_ids(token_ids, segment_ids, padding_mask)}

    text_spec = [tf.TensorSpec([None], tf.string, name="text")]
    write_signatures(path, functions.tracked, {
        EMBED_SIGNATURE: (serve_text, text_spec),
        "serving_default": (serve_text, text_spec),
        TOKEN_IDS_SIGNATURE: (serve_token_ids, token_id_specs()),
    })
    return dict(functions.metadata)


def load_embedding_functions(export_dir, loaded=None):
    """`EmbeddingFunctions` of an embedder written by `export_sentence_embedder`.

    The functions call the loaded export's `embed` and `serve_token_ids`
    signatures, so another SavedModel that tracks it (`tracked`) embeds with
    exactly the exported graph.

    Args:
      export_dir: the embedder's version directory (a `saved_model.pb`; its
        `publish` metadata is read when present).
      loaded: the `tf.saved_model.load(export_dir)` object, if already loaded.

    Raises:
      ValueError: the SavedModel lacks the `embed` or `serve_token_ids`
        signature, or its metadata names another task.
    """
    export_dir = str(export_dir)
    try:
        metadata = read_metadata(export_dir)
    except FileNotFoundError:  # written without `publish`: the signatures say enough
        metadata = {"task": TASK}
    if metadata.get("task") != TASK:
        raise ValueError(f"`export_dir` {export_dir} is not a sentence embedder export: its "
                         f"task is {metadata.get('task')!r}, not {TASK!r}.")
    loaded = loaded if loaded is not None else tf.saved_model.load(export_dir)
    missing = {EMBED_SIGNATURE, TOKEN_IDS_SIGNATURE} - set(loaded.signatures)
    if missing:
        raise ValueError(f"`export_dir` {export_dir} lacks the signatures {sorted(missing)}.")
    embed = loaded.signatures[EMBED_SIGNATURE]
    by_ids = loaded.signatures[TOKEN_IDS_SIGNATURE]
    output = embed.structured_outputs.get("embedding")
    if output is None or output.shape.rank != 2 or output.shape[-1] is None:
        raise ValueError(f"`export_dir` {export_dir}: the `embed` signature has no float "
                         f"`embedding` [batch, dim] output ({embed.structured_outputs}).")

    def embed_text(text):
        return embed(text=tf.reshape(text, [-1]))["embedding"]

    def embed_token_ids(token_ids, segment_ids, padding_mask):
        return by_ids(token_ids=token_ids, segment_ids=segment_ids,
                      padding_mask=padding_mask)["embedding"]

    keys = ("task", "pooling", "normalize", "sequence_length", "lowercase", "dtype_policies")
    metadata = {**{k: metadata.get(k) for k in keys}, "embedding_dim": int(output.shape[-1])}
    return EmbeddingFunctions(embed_text, embed_token_ids, (loaded,), metadata)
