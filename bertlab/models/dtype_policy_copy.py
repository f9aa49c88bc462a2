"""A copy of a built model that computes under another dtype policy.

Training runs under `mixed_bfloat16`; an export may want the same weights
computing in float32 (XLA:CPU turns bfloat16 dots into float32 ones with extra
casts, so an XLA-compiled export is faster as plain float32), or the other way.
"""

import keras


def layer_policies(model):
    """The names of the dtype policies of `model`'s layers (a functional model's
    own policy says nothing: its layers keep the policy they were built with)."""
    return {layer.dtype_policy.name for layer in model._flatten_layers(include_self=False)
            if not isinstance(layer, keras.layers.InputLayer)}


def copy_with_dtype_policy(model, dtype_policy):
    """A new model of `model`'s class and config under `dtype_policy`, holding
    copies of its weights.

    Works for models whose config passes `dtype` down to their layers (every
    bertlab model does). Variables are float32 under both float32 and mixed
    policies, so the weights are copied exactly.

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
    config = dict(model.get_config(), dtype=policy.name)
    copy = model.__class__.from_config(config)
    weights = model.get_weights()
    if len(copy.weights) != len(weights):
        raise ValueError(f"The copy of {model.name!r} under {policy.name!r} has "
                         f"{len(copy.weights)} weights, the model {len(weights)}: its config "
                         "does not rebuild it.")
    copy.set_weights(weights)
    return copy
