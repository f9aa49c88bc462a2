"""traditional_aliases: OpenCC's character table against a vocabulary."""

import pytest

from bertlab.text.chinese_script import traditional_aliases

pytest.importorskip("opencc")


def test_traditional_characters_map_to_simplified_tokens_only():
    vocab = ["[UNK]", "这", "国", "为", "中", "爱"]
    aliases = traditional_aliases(vocab)
    assert aliases["這"] == "这" and aliases["國"] == "国" and aliases["為"] == "为"
    assert aliases["愛"] == "爱"
    # Every alias is a character missing from the vocabulary whose target is a token.
    assert all(t not in vocab and s in vocab and len(t) == 1 for t, s in aliases.items())
    # Characters whose simplified form is not in the vocabulary get none.
    assert "學" not in aliases and "中" not in aliases


def test_a_simplified_vocabulary_with_the_traditional_form_keeps_it():
    aliases = traditional_aliases(["[UNK]", "这", "這"])
    assert "這" not in aliases


def test_ranges_limit_the_search():
    assert traditional_aliases(["这"], ranges=((0x9019, 0x9019),)) == {"這": "这"}
    assert traditional_aliases(["这"], ranges=((0x4E00, 0x4E00),)) == {}
