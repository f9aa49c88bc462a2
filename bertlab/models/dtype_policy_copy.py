"""A copy of a built model that computes under another dtype policy.

Training runs under `mixed_bfloat16`; an export may want the same weights
computing in float32 (XLA:CPU turns bfloat16 dots into float32 ones with extra
casts, so an XLA-compiled export is faster as plain float32), or the other way.
"""

import keras


def layer_policies(model):
    """The names of the dtype policies of `model`'s layers, nested models' layers
    included (a functional model's own policy says nothing: its layers keep the
    policy they were built with)."""
    return {layer.dtype_policy.name for layer in model._flatten_layers(include_self=False)
            if not isinstance(layer, (keras.layers.InputLayer, keras.Model))}


def with_dtype_policy(config, policy_name):
    """`config` (a `get_config` dict) with `dtype` set to `policy_name` at its top
    level and in every serialized Keras object nested in it (the encoder inside
    a head model's config), so the whole model is rebuilt under one policy."""
    if isinstance(config, (list, tuple)):
        return [with_dtype_policy(item, policy_name) for item in config]
    if not isinstance(config, dict):
        return config
    config = {key: with_dtype_policy(value, policy_name) for key, value in config.items()}
    nested = config.get("config")
    if "class_name" in config and isinstance(nested, dict) and "dtype" in nested:
        nested["dtype"] = policy_name
    return config


def copy_with_dtype_policy(model, dtype_policy):
    """A new model of `model`'s class and config under `dtype_policy`, holding
    copies of its weights.

    Works for models whose config passes `dtype` down to their layers (every
    bertlab model does; nested models such as a classifier's encoder are
    switched too). Layers that fix their own dtype in code (a float32
    classification head) keep it. Variables are float32 under both float32 and
    mixed policies, so those weights are copied exactly; under `"bfloat16"` they
    are stored rounded to bfloat16 (no per-call cast of the weights).

    Args:
      model: a built Keras model with `get_config`/`from_config`.
      dtype_policy: a policy name (`"float32"`, `"mixed_bfloat16"`, ...) or
        `keras.DTypePolicy`.

    Returns:
      The copy (`model` itself if it already computes under that policy).

    Example:
    >>> fp32 = copy_with_dtype_policy(bf16_model, "float32")
    >>> layer_policies(fp32)
    {'float32'}
    """
    policy = keras.dtype_policies.get(dtype_policy)
    if layer_policies(model) == {policy.name}:
        return model
    if not model.built:
        raise ValueError(f"Model {model.name!r} is not built: nothing to copy.")
    config = dict(with_dtype_policy(model.get_config(), policy.name), dtype=policy.name)
    copy = model.__class__.from_config(config)
    weights = model.get_weights()
    if len(copy.weights) != len(weights):
        raise ValueError(f"The copy of {model.name!r} under {policy.name!r} has "
                         f"{len(copy.weights)} weights, the model {len(weights)}: its config "
                         "does not rebuild it.")
    copy.set_weights(weights)
    return copy


def serving_dtype_policy(model):
    """The policy an exported inference graph of `model` computes under.

    `"bfloat16"` for a model trained under `"mixed_bfloat16"`: the same bfloat16
    matmuls, but with the weights stored in bfloat16 instead of float32 weights
    cast on every call (half the SavedModel; at batch 1 the casts are about a
    quarter of the latency). Layers that fix float32 (classification heads) stay
    float32, and LayerNormalization still normalizes in float32 (with bfloat16
    scale and offset). Any other model keeps its own policy (None).
    """
    policies = layer_policies(model)
    if "mixed_bfloat16" in policies:
        return "bfloat16"
    return None


def inference_copy(model, dtype_policy="auto"):
    """`model` as an export computes it: `"auto"` applies `serving_dtype_policy`,
    None keeps `model`, a policy name copies it under that policy."""
    if dtype_policy == "auto":
        dtype_policy = serving_dtype_policy(model)
    if dtype_policy is None:
        return model
    return copy_with_dtype_policy(model, dtype_policy)


EXPORT_POLICY_CHOICES = ("auto", "as_trained", "float32", "bfloat16", "mixed_bfloat16")


def resolve_export_policy(name):
    """An `export_dtype_policy` config value as `inference_copy`'s argument:
    "auto" stays "auto", "as_trained" becomes None, a policy name is checked.

    Raises:
      ValueError: `name` is none of `EXPORT_POLICY_CHOICES`.
    """
    if name not in EXPORT_POLICY_CHOICES:
        raise ValueError(f"`export_dtype_policy` must be one of {EXPORT_POLICY_CHOICES}, "
                         f"got {name!r}.")
    return None if name == "as_trained" else name
