"""Activation lookup that also knows the tanh-approximated GELU by name."""

import keras


@keras.saving.register_keras_serializable(package="bertlab")
def gelu_approximate(x):
    """GELU with the tanh approximation (GPT-2, "gelu_new" in Hugging Face)."""
    return keras.activations.gelu(x, approximate=True)


def get_activation(identifier):
    """`keras.activations.get`, plus "gelu_approximate".

    Note: "gelu" is the exact (erf) GELU of BERT and Hugging Face's "gelu".
    """
    if identifier == "gelu_approximate":
        return gelu_approximate
    if identifier == "gelu":
        return keras.activations.gelu
    return keras.activations.get(identifier)
