"""XLA auto-clustering of element-wise ops only: matmuls stay with oneDNN.

On CPU, `jit_compile=True` hands the whole step to XLA, whose CPU compiler
runs bfloat16 dots in float32, so a `mixed_bfloat16` step gets slower. Asking
TensorFlow's auto-clusterer for the "FUSIBLE" op set instead fuses the chains
of element-wise work (LayerNorm, GELU, dropout, residual adds, softmax) into
XLA kernels and leaves MatMul/BatchMatMul to oneDNN's bfloat16 kernels.

TensorFlow reads these settings once, when it first sets up its devices
(the first op, dataset, strategy or device query in the process), so
`enable_elementwise_fusion` must run before that, and says so with an error
when it comes too late. An absl app has always set up the devices before
its `main` runs (TensorFlow registers an `app.call_after_init` callback that
lists the GPUs), so bertlab's command-line runners, which read
`trainer.xla_fusion` from the config in `main`, restart their own process
with the flags in its environment (`restart_with_elementwise_fusion`). The
`Trainer` calls `enable_elementwise_fusion` too, for library users who build
nothing before it. Auto-clustering cannot cluster across a `tf.while_loop`
that holds a whole training step (the clustered graph has a cycle), so with
it on, the `Trainer` dispatches one step per `tf.function` call.

Example:
>>> from bertlab.layers import xla_fusion
>>> xla_fusion.enable_elementwise_fusion()   # before any TensorFlow work
>>> xla_fusion.auto_clustering_enabled()
True
"""

import os
import sys

ENV_VAR = "TF_XLA_FLAGS"
ELEMENTWISE_FUSION_FLAGS = (
    "--tf_xla_auto_jit=2",            # auto-cluster every function
    "--tf_xla_cpu_global_jit",        # ... on CPU too
    "--tf_xla_ops_to_cluster=FUSIBLE",  # ... but only element-wise/reduction ops
)


def _missing_flags(value):
    """The fusion flags that the `TF_XLA_FLAGS` value `value` does not set."""
    present = {flag.split("=", 1)[0] for flag in value.split()}
    return [flag for flag in ELEMENTWISE_FUSION_FLAGS if flag.split("=", 1)[0] not in present]


def _devices_initialized():
    """Whether TensorFlow has already set up its devices (and read `TF_XLA_FLAGS`)."""
    if "tensorflow" not in sys.modules:
        return False
    # deferred: this module must not import TensorFlow (it sets flags read at TF start-up)
    from tensorflow.python.eager import context
    return getattr(context.context(), "_physical_devices", None) is not None


def enable_elementwise_fusion():
    """Adds the element-wise auto-clustering flags to `TF_XLA_FLAGS`.

    Keeps any flags already there (a flag already set by the user wins).
    Returns the resulting `TF_XLA_FLAGS` value.

    Raises:
      RuntimeError: flags are missing and TensorFlow has already set up its
        devices, so they would be ignored.
    """
    current = os.environ.get(ENV_VAR, "")
    missing = _missing_flags(current)
    if missing and _devices_initialized():
        raise RuntimeError(
            "XLA element-wise fusion must be enabled before TensorFlow sets up its devices "
            "(its first op, dataset, strategy or device query in this process): call "
            "bertlab.layers.xla_fusion.enable_elementwise_fusion() earlier, or start the "
            f"process with {ENV_VAR}=\"{' '.join(ELEMENTWISE_FUSION_FLAGS)}\".")
    value = " ".join([current.strip()] + missing).strip()
    os.environ[ENV_VAR] = value
    return value


def restart_with_elementwise_fusion():
    """Re-executes this process's command line with the fusion flags added to
    `TF_XLA_FLAGS` (for command-line programs that learn they want fusion only
    after TensorFlow has set up its devices). Does not return."""
    current = os.environ.get(ENV_VAR, "")
    os.environ[ENV_VAR] = " ".join([current.strip()] + _missing_flags(current)).strip()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, list(sys.orig_argv))


def auto_clustering_enabled():
    """Whether `TF_XLA_FLAGS` turns on XLA auto-clustering (`--tf_xla_auto_jit`
    other than 0 or -1), whoever set it."""
    for flag in os.environ.get(ENV_VAR, "").split():
        name, _, value = flag.partition("=")
        if name == "--tf_xla_auto_jit":
            return value.strip() not in ("", "0", "-1")
    return False
