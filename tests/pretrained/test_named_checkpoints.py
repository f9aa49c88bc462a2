"""Checkpoint names: resolution, and the committed bertlab-zh-mini loading exactly as released."""

import os

import numpy as np
import pytest
from safetensors import safe_open

import bertlab.pretrained as pretrained
from bertlab.models import BertEncoder, SentenceEmbedder
from bertlab.pretrained import ZH_MINI, resolve_checkpoint
from bertlab.tasks.encoder_config import resolve_init
from bertlab.text import BertPreprocessor

REFERENCE_FILE = "reference_outputs.npz"


def test_a_path_is_returned_unchanged_and_user_expanded(tmp_path):
    assert resolve_checkpoint(str(tmp_path)) == str(tmp_path)
    assert resolve_checkpoint(tmp_path) == str(tmp_path)
    assert resolve_checkpoint("~/model") == os.path.expanduser("~/model")


def test_minilm_names_resolve_to_its_package(minilm_dir):
    assert resolve_checkpoint("minilm") == minilm_dir
    assert resolve_checkpoint("all-MiniLM-L6-v2") == minilm_dir


def test_a_name_is_not_shadowed_by_a_directory_of_that_name(tmp_path, monkeypatch):
    (tmp_path / ZH_MINI).mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_checkpoint(ZH_MINI) != ZH_MINI
    assert resolve_checkpoint(f"./{ZH_MINI}") == f"./{ZH_MINI}"


def test_a_packaged_checkpoint_missing_from_the_installation_is_a_clear_error(tmp_path,
                                                                               monkeypatch):
    monkeypatch.setitem(pretrained._PACKAGED, ZH_MINI, str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="missing from this installation"):
        resolve_checkpoint(ZH_MINI)
    with pytest.raises(ValueError, match="missing from this installation"):
        resolve_init(ZH_MINI)


def test_an_unknown_init_names_the_choices():
    with pytest.raises(ValueError, match="bertlab-zh-mini"):
        resolve_init("bertlab-zh-maxi")


@pytest.fixture(scope="module")
def reference():
    path = os.path.join(resolve_checkpoint(ZH_MINI), REFERENCE_FILE)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def zh_inputs(reference):
    pre = BertPreprocessor.from_pretrained(ZH_MINI, sequence_length=int(reference["sequence_length"]))
    return {k: v.numpy() for k, v in pre(np.array(list(reference["texts"]), dtype=object)).items()}


def test_zh_mini_is_committed_in_bf16_with_its_vocabulary():
    path = resolve_checkpoint(ZH_MINI)
    with safe_open(os.path.join(path, "model.safetensors"), framework="numpy") as f:
        dtypes = {str(f.get_tensor(name).dtype) for name in f.keys()}
    assert dtypes == {"bfloat16"}
    encoder = BertEncoder.from_pretrained(ZH_MINI)
    with open(os.path.join(path, "vocab.txt"), encoding="utf-8") as f:
        assert sum(1 for _ in f) == encoder.vocabulary_size
    assert (encoder.num_layers, encoder.hidden_dim) == (4, 256)


def test_zh_mini_tokenizes_chinese_characters_as_tokens(zh_inputs, reference):
    np.testing.assert_array_equal(zh_inputs["token_ids"], reference["token_ids"])
    pre = BertPreprocessor.from_pretrained(ZH_MINI, sequence_length=16)
    ids = pre(np.array(["北京是首都"], dtype=object))["token_ids"].numpy()[0]
    unk = pre.tokenizer.token_to_id("[UNK]")
    assert (ids[1:6] != unk).all() and ids[6] == pre.tokenizer.token_to_id("[SEP]")


def test_zh_mini_outputs_equal_the_released_reference(zh_inputs, reference):
    outputs = BertEncoder.from_pretrained(ZH_MINI)(zh_inputs)
    np.testing.assert_allclose(outputs["sequence_output"], reference["sequence_output"],
                               atol=2e-5)
    np.testing.assert_allclose(outputs["pooled_output"], reference["pooled_output"], atol=2e-5)
    embedder = SentenceEmbedder.from_pretrained(ZH_MINI)
    assert embedder(zh_inputs).shape == (len(reference["texts"]), 256)


def test_zh_mini_matches_hugging_face_pytorch(zh_inputs, reference):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = transformers.BertModel.from_pretrained(resolve_checkpoint(ZH_MINI),
                                                   torch_dtype=torch.float32).eval()
    with torch.no_grad():
        expected = model(input_ids=torch.tensor(zh_inputs["token_ids"], dtype=torch.long),
                         token_type_ids=torch.tensor(zh_inputs["segment_ids"], dtype=torch.long),
                         attention_mask=torch.tensor(zh_inputs["padding_mask"], dtype=torch.long))
    mask = zh_inputs["padding_mask"].astype(bool)
    diff = np.abs(expected.last_hidden_state.numpy() - reference["sequence_output"])[mask].max()
    assert diff < 1e-4
