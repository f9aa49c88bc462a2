"""Reading and writing BERT checkpoints in the Hugging Face layout.

A model directory holds `config.json` (BERT config keys), `model.safetensors`
(the `BertModel` state dict, optionally under a `bert.` prefix as in
`BertForPreTraining`), `vocab.txt` and `tokenizer_config.json`
(`do_lower_case`). bertlab reads and writes exactly this layout, so its
pretraining exports and public BERT checkpoints are interchangeable.
"""

import json
import os

import ml_dtypes
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from bertlab.pretrained import resolve_checkpoint
from bertlab.storage import make_readable, replace_directory
from bertlab.text.vocabulary import load_vocabulary, save_vocabulary


class CheckpointError(ValueError):
    """A checkpoint directory is missing files, malformed, or does not fit the model."""


# bertlab config name -> Hugging Face config name.
_CONFIG_KEYS = {
    "vocabulary_size": "vocab_size",
    "num_layers": "num_hidden_layers",
    "hidden_dim": "hidden_size",
    "num_heads": "num_attention_heads",
    "intermediate_dim": "intermediate_size",
    "max_sequence_length": "max_position_embeddings",
    "num_segments": "type_vocab_size",
    "dropout": "hidden_dropout_prob",
    "attention_dropout": "attention_probs_dropout_prob",
    "activation": "hidden_act",
    "layer_norm_epsilon": "layer_norm_eps",
    "initializer_range": "initializer_range",
}
_WEIGHT_DTYPES = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}
_REQUIRED = ("vocab_size", "num_hidden_layers", "hidden_size", "num_attention_heads",
             "intermediate_size")
_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_approximate",
                "gelu_pytorch_tanh": "gelu_approximate"}


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"Missing {os.path.basename(path)} in {os.path.dirname(path)}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from e


def read_bert_config(model_dir):
    """Encoder constructor arguments from `config.json` in `model_dir`."""
    config = _read_json(os.path.join(model_dir, "config.json"))
    if not isinstance(config, dict):
        raise CheckpointError(f"{model_dir}/config.json must hold a JSON object.")
    missing = [k for k in _REQUIRED if k not in config]
    if missing:
        raise CheckpointError(f"{model_dir}/config.json lacks {', '.join(missing)}.")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise CheckpointError(
            f"Unsupported position_embedding_type {config['position_embedding_type']!r}.")
    kwargs = {ours: config[theirs] for ours, theirs in _CONFIG_KEYS.items() if theirs in config}
    act = kwargs.get("activation", "gelu")
    if act not in _ACTIVATIONS:
        raise CheckpointError(f"Unsupported hidden_act {act!r}; supported: {sorted(_ACTIVATIONS)}.")
    kwargs["activation"] = _ACTIVATIONS[act]
    extra = config.get("bertlab", {})
    for key in ("normalize_first", "position_type"):
        if key in extra:
            kwargs[key] = extra[key]
    return kwargs


def write_bert_config(encoder, path, lowercase):
    act = {"gelu": "gelu", "relu": "relu", "gelu_approximate": "gelu_new"}.get(
        encoder.activation, encoder.activation)
    config = {
        "architectures": ["BertModel"], "model_type": "bert",
        "position_embedding_type": "absolute", "pad_token_id": 0,
        "vocab_size": encoder.vocabulary_size,
        "num_hidden_layers": encoder.num_layers, "hidden_size": encoder.hidden_dim,
        "num_attention_heads": encoder.num_heads,
        "intermediate_size": encoder.intermediate_dim,
        "max_position_embeddings": encoder.max_sequence_length,
        "type_vocab_size": encoder.num_segments,
        "hidden_dropout_prob": encoder.dropout,
        "attention_probs_dropout_prob": encoder.attention_dropout,
        "hidden_act": act, "layer_norm_eps": encoder.layer_norm_epsilon,
        "initializer_range": encoder.initializer_range,
        "bertlab": {"normalize_first": encoder.normalize_first,
                    "position_type": encoder.position_type, "lowercase": bool(lowercase)},
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)


def _weight_map(encoder):
    """Pairs (Keras variable, HF name(s), transform kind) for every encoder weight.

    Kinds: "same"; "t" (transpose a Linear weight); "qkv" (three Linear weights
    transposed and concatenated); "rows" (the first rows of a table).
    """
    emb = encoder.embeddings
    entries = [(emb.token_embedding.embeddings, "embeddings.word_embeddings.weight", "same")]
    if emb.segment_embedding is not None:
        entries.append((emb.segment_embedding.embeddings,
                        "embeddings.token_type_embeddings.weight", "same"))
    if encoder.position_type == "learned":
        entries.append((emb.position_embedding.embeddings,
                        "embeddings.position_embeddings.weight", "rows"))
    entries += [(emb.layer_norm.gamma, "embeddings.LayerNorm.weight", "same"),
                (emb.layer_norm.beta, "embeddings.LayerNorm.bias", "same")]
    for i, block in enumerate(encoder.transformer_layers):
        p = f"encoder.layer.{i}."
        att = block.attention
        qkv = [f"{p}attention.self.{n}" for n in ("query", "key", "value")]
        entries += [
            (att.qkv_dense.kernel, [n + ".weight" for n in qkv], "qkv"),
            (att.qkv_dense.bias, [n + ".bias" for n in qkv], "concat"),
            (att.output_dense.kernel, f"{p}attention.output.dense.weight", "t"),
            (att.output_dense.bias, f"{p}attention.output.dense.bias", "same"),
            (block.attention_layer_norm.gamma, f"{p}attention.output.LayerNorm.weight", "same"),
            (block.attention_layer_norm.beta, f"{p}attention.output.LayerNorm.bias", "same"),
            (block.feed_forward.intermediate_dense.kernel, f"{p}intermediate.dense.weight", "t"),
            (block.feed_forward.intermediate_dense.bias, f"{p}intermediate.dense.bias", "same"),
            (block.feed_forward.output_dense.kernel, f"{p}output.dense.weight", "t"),
            (block.feed_forward.output_dense.bias, f"{p}output.dense.bias", "same"),
            (block.output_layer_norm.gamma, f"{p}output.LayerNorm.weight", "same"),
            (block.output_layer_norm.beta, f"{p}output.LayerNorm.bias", "same"),
        ]
    if encoder.final_layer_norm is not None:
        entries += [(encoder.final_layer_norm.gamma, "encoder.final_layer_norm.weight", "same"),
                    (encoder.final_layer_norm.beta, "encoder.final_layer_norm.bias", "same")]
    entries += [(encoder.pooler_dense.kernel, "pooler.dense.weight", "t"),
                (encoder.pooler_dense.bias, "pooler.dense.bias", "same")]
    return entries


def _normalize_names(tensors):
    """Strips a `bert.` prefix and maps old `gamma`/`beta` LayerNorm names."""
    out = {}
    for name, value in tensors.items():
        if name.startswith("bert."):
            name = name[len("bert."):]
        name = name.replace("LayerNorm.gamma", "LayerNorm.weight").replace(
            "LayerNorm.beta", "LayerNorm.bias")
        out[name] = value
    return out


def assign_hf_weights(encoder, tensors, source="checkpoint"):
    """Copies a Hugging Face BERT state dict (name -> array) into `encoder`."""
    tensors = _normalize_names(tensors)

    def get(name):
        if name not in tensors:
            raise CheckpointError(f"{source} has no tensor {name!r}.")
        return np.asarray(tensors[name])

    for variable, names, kind in _weight_map(encoder):
        if kind == "qkv":
            value = np.concatenate([get(n).T for n in names], axis=1)
        elif kind == "concat":
            value = np.concatenate([get(n) for n in names], axis=0)
        elif kind == "t":
            value = get(names).T
        elif kind == "rows":
            value = get(names)
            if value.shape[0] < variable.shape[0]:
                raise CheckpointError(
                    f"{source}: {names} has {value.shape[0]} positions, the model needs "
                    f"{variable.shape[0]}.")
            value = value[: variable.shape[0]]
        else:
            value = get(names)
        if tuple(value.shape) != tuple(variable.shape):
            raise CheckpointError(
                f"{source}: {names} has shape {value.shape}, the model expects "
                f"{tuple(variable.shape)} for {variable.path}.")
        variable.assign(value.astype(np.float32))


def export_hf_weights(encoder):
    """The encoder's weights as a Hugging Face `BertModel` state dict (numpy)."""
    tensors = {}
    for variable, names, kind in _weight_map(encoder):
        value = np.asarray(variable.numpy(), dtype=np.float32)
        if kind == "qkv":
            for name, part in zip(names, np.split(value, 3, axis=1)):
                tensors[name] = np.ascontiguousarray(part.T)
        elif kind == "concat":
            for name, part in zip(names, np.split(value, 3, axis=0)):
                tensors[name] = part
        elif kind == "t":
            tensors[names] = np.ascontiguousarray(value.T)
        else:
            tensors[names] = value
    return tensors


def load_bert_encoder(cls, path, dtype=None, **overrides):
    path = resolve_checkpoint(path)
    if not os.path.isdir(path):
        raise CheckpointError(f"Model directory not found: {path}")
    kwargs = read_bert_config(path)
    vocab_path = os.path.join(path, "vocab.txt")
    if os.path.exists(vocab_path):
        vocab = load_vocabulary(vocab_path)
        if len(vocab) != kwargs["vocabulary_size"]:
            raise CheckpointError(
                f"{vocab_path} has {len(vocab)} tokens but the checkpoint's vocab_size is "
                f"{kwargs['vocabulary_size']}: the vocabulary does not match the checkpoint.")
    weights_path = os.path.join(path, "model.safetensors")
    if not os.path.isfile(weights_path):
        raise CheckpointError(f"Missing model.safetensors in {path}")
    try:
        tensors = load_file(weights_path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"Cannot read {weights_path}: {e}") from e
    shape_keys = {"vocabulary_size", "num_layers", "hidden_dim", "num_heads",
                  "intermediate_dim", "num_segments", "normalize_first", "position_type"}
    bad = shape_keys & set(overrides)
    if bad:
        raise ValueError(f"Cannot override {sorted(bad)}: they are fixed by the checkpoint.")
    kwargs.update(overrides)
    encoder = cls(dtype=dtype, **kwargs)
    assign_hf_weights(encoder, tensors, source=weights_path)
    return encoder


def write_bert_checkpoint(encoder, directory, vocabulary=None, lowercase=True,
                          weights_dtype="float32"):
    """Writes the encoder's Hugging Face-layout files (`model.safetensors`,
    `config.json`, `tokenizer_config.json`, `vocab.txt` if a vocabulary is given)
    into the existing `directory`. `weights_dtype="bfloat16"` halves the weights
    file (what a checkpoint committed to a repository wants); loading casts back
    to float32."""
    if weights_dtype not in _WEIGHT_DTYPES:
        raise ValueError(f"`weights_dtype` must be one of {sorted(_WEIGHT_DTYPES)}, got "
                         f"{weights_dtype!r}.")
    if vocabulary is not None:
        vocabulary = load_vocabulary(vocabulary)
        if len(vocabulary) != encoder.vocabulary_size:
            raise CheckpointError(
                f"The vocabulary has {len(vocabulary)} tokens, the encoder "
                f"{encoder.vocabulary_size}.")
    tensors = {name: value.astype(_WEIGHT_DTYPES[weights_dtype])
               for name, value in export_hf_weights(encoder).items()}
    weights_path = os.path.join(directory, "model.safetensors")
    save_file(tensors, weights_path)
    make_readable(weights_path)   # safetensors writes a private file (0600)
    write_bert_config(encoder, os.path.join(directory, "config.json"), lowercase)
    with open(os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"do_lower_case": bool(lowercase), "tokenizer_class": "BertTokenizer"}, f)
    if vocabulary is not None:
        save_vocabulary(vocabulary, os.path.join(directory, "vocab.txt"))


def save_bert_encoder(encoder, path, vocabulary=None, lowercase=True, weights_dtype="float32"):
    """`write_bert_checkpoint` into the directory `path`, atomically
    (`bertlab.storage.replace_directory`): a previous checkpoint there is replaced, a
    non-empty directory that is not one (no `model.safetensors`) is refused with a
    `FileExistsError`. Returns `path`, absolute."""
    return replace_directory(
        path, lambda tmp: write_bert_checkpoint(encoder, tmp, vocabulary, lowercase,
                                                weights_dtype),
        replaceable=("model.safetensors",))
