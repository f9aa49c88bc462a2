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


def test_split_sentences_on_chinese_and_western_punctuation():
    assert corpus.split_sentences("他来了。她走了！你呢？Mr. Li left. Then rain fell.") == [
        "他来了。", "她走了！", "你呢？", "Mr. Li left.", "Then rain fell."]
    # Closing quotes stay with their sentence; a title mark keeps its question inside.
    assert corpus.split_sentences("他说：「好。」然后走了。《你好吗？》是一首歌。") == [
        "他说：「好。」", "然后走了。", "《你好吗？》是一首歌。"]
    # No split at decimals, initials, dotted or listed abbreviations, or before lower case.
    assert corpus.split_sentences(
        "高7.2米。Sponsored by Mrs. J. M. Mitchell, no. 5 in the U.S. Navy. It sank, i.e. "
        "it was lost.") == [
        "高7.2米。", "Sponsored by Mrs. J. M. Mitchell, no. 5 in the U.S. Navy.",
        "It sank, i.e. it was lost."]
    assert corpus.split_sentences("Why? \"Because!\" 所以。 ") == ["Why?", "\"Because!\"", "所以。"]
    assert corpus.split_sentences("   ") == []


def test_headings():
    assert corpus.is_heading("历史.") and corpus.is_heading("60年代至70年代.")
    assert corpus.is_heading("Early life and career.")
    assert not corpus.is_heading("He died in Munich in 1977.")  # 6 words: a sentence
    assert not corpus.is_heading("他来了。")
    assert not corpus.is_heading("按照惯例，最靠近斯塔迪乌斯陨石坑的卫星陨坑在月表地图上以字母标注在小陨坑的中心点旁边.")
    assert not corpus.is_heading("To be continued...")


WIKIEXTRACTOR_TEXT = (
    "东富山站\n"
    "东富山站（）是铁路车站。其中JR货物会以本站作为中心！\n"
    "车站结构.\n"
    "站房设于西口。\n"
    "\n"
    "Herbert Basser\n"
    "Herbert W. Basser (b. 1942) is a scholar (). He taught at Toronto.\n"
    "Biography.\n"
    "In 1963, he graduated from Yeshiva University in New York.\n"
    "\n"
    "Title only\n"
    "\n")


def test_wikiextractor_articles_become_documents_of_sentences():
    docs = list(corpus.wikiextractor_to_documents(WIKIEXTRACTOR_TEXT.splitlines()))
    assert docs == [
        ["东富山站是铁路车站。", "其中JR货物会以本站作为中心！", "站房设于西口。"],
        ["Herbert W. Basser (b. 1942) is a scholar.", "He taught at Toronto.",
         "In 1963, he graduated from Yeshiva University in New York."],
    ]


def test_gzip_files_are_read_like_plain_ones(tmp_path):
    import gzip

    plain = tmp_path / "a.txt"
    plain.write_text(WIKIEXTRACTOR_TEXT, encoding="utf-8")
    packed = tmp_path / "b.data"  # recognized by its content, not its name
    packed.write_bytes(gzip.compress(WIKIEXTRACTOR_TEXT.encode("utf-8")))
    expected = list(corpus.read_documents([str(plain)], "wikiextractor"))
    assert list(corpus.read_documents([str(packed)], "wikiextractor")) == expected
    broken = tmp_path / "c.txt.gz"
    broken.write_bytes(gzip.compress(WIKIEXTRACTOR_TEXT.encode("utf-8") * 50)[:-40])
    with pytest.raises(corpus.CorpusError, match=r"c.txt.gz: corrupt or truncated gzip"):
        list(corpus.read_lines([str(broken)]))
    bad = tmp_path / "d.gz"
    bad.write_bytes(gzip.compress(b"fine\n\xff broken\n"))
    with pytest.raises(corpus.CorpusError, match=r"d.gz, line 2: not valid UTF-8"):
        list(corpus.read_lines([str(bad)]))


def test_real_wikipedia_files_stream_into_articles(data_dir):
    """The first articles of the shared zhwiki and enwiki files (README: title line, one
    paragraph per line, blank line between articles)."""
    import itertools

    zh = corpus.read_documents([str(data_dir / "zhwiki" / "zhwiki_000.txt.gz")], "wikiextractor")
    first = list(itertools.islice(zh, 200))
    assert first[0][0].startswith("《妄想女友》是2015年5月23日")  # title dropped, "（）" removed
    assert "剧情概要." not in first[0]  # heading dropped
    assert first[0][1] == "「六剧」（第二期）的第二部作品。"
    sentences = [s for d in first for s in d]
    assert sum(s.endswith(("。", "！", "？", "」", "”")) for s in sentences) / len(sentences) > 0.8
    en = corpus.read_documents([str(data_dir / "enwiki" / "enwiki_001.txt.gz")], "wikiextractor")
    doc = next(en)
    assert doc[0].startswith('USS "Terebinth" (AN-59) - laid down as')
    assert "sponsored by Mrs. J. M. Mitchell;" in " ".join(doc)
    assert not any(s in ("Constructed in North Carolina.", "Honors and awards.") for s in doc)
