"""Task pipelines built on the bertlab library: pretraining, text classification (sentiment
and its other presets), NER, translation, summarization, serving.

`python -m apps.<app>.<script>` imports this package before the script, and so before
TensorFlow: the apps quiet TensorFlow's C++ start-up log lines here (`--verbose` or
`BERTLAB_VERBOSE=1` keeps them; see `apps.quiet_tensorflow`).
"""

from apps.quiet_tensorflow import quiet_unless_verbose

quiet_unless_verbose()
