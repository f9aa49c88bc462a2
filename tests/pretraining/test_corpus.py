import pytest

from bertlab.pretraining import corpus


def test_wikitext_articles_become_documents_of_sentences():
    lines = [
        " ",
        " = First Article = ",
        " ",
        " Alpha beta , gamma . Delta epsilon ? Zeta 1 @,@ 000 and 2 @.@ 5 @-@ long ! ",
        " = = A Section = = ",
        " Eta theta . ",
        " = = = Deeper = = = ",
        " = Second = ",
        " Iota kappa . ",
    ]
    docs = list(corpus.wikitext_to_documents(lines))
    assert docs == [
        ["Alpha beta , gamma .", "Delta epsilon ?", "Zeta 1,000 and 2.5-long !", "Eta theta ."],
        ["Iota kappa ."],
    ]


def test_real_wikitext_valid_has_its_60_articles(data_dir):
    files = corpus.expand_input_patterns(str(data_dir / "wikitext2" / "valid.txt"))
    docs = list(corpus.read_documents(files, "wikitext"))
    assert len(docs) == 60  # the README's article count
    assert docs[0][0].startswith("Homarus gammarus , known as the European lobster")
    # No title or section heading survives.
    assert not any(s.startswith("=") for d in docs for s in d)


def test_lines_format_blank_line_separates_documents_and_files(tmp_path):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("s1\ns2\n\n\ns3\n", encoding="utf-8")
    b.write_text("s4\n\ns5\n", encoding="utf-8")
    files = corpus.expand_input_patterns(f"{tmp_path}/*.txt")
    assert files == [str(a), str(b)]
    assert list(corpus.read_documents(files)) == [["s1", "s2"], ["s3"], ["s4"], ["s5"]]


def test_no_matching_file_is_a_clear_error(tmp_path):
    with pytest.raises(corpus.CorpusError, match="No input files match"):
        corpus.expand_input_patterns(f"{tmp_path}/nothing-*.txt")


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine line\n\xff\xfe broken\n")
    with pytest.raises(corpus.CorpusError, match=r"bad.txt, line 2: not valid UTF-8"):
        list(corpus.read_documents([str(path)]))


def test_unknown_input_format():
    with pytest.raises(ValueError, match="input_format"):
        corpus.read_documents([], "csv")
