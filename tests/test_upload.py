"""Uploads land inside the corpus folder only, never overwrite, and respect the size limit."""

from __future__ import annotations

from rag.upload import save_uploads

EXT = (".txt", ".md", ".pdf")


def upload(tmp_path, name: str, data: bytes = b"some text") -> tuple[str, object]:
    """(original name, temporary file) as the web UI hands them over."""
    folder = tmp_path / "incoming"
    folder.mkdir(exist_ok=True)
    src = folder / str(len(list(folder.iterdir())))
    src.write_bytes(data)
    return name, src


def test_names_with_folders_land_in_the_corpus_under_their_base_name(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    names = ["../../escape.txt", "/etc/abs.md", "..\\..\\win.txt", "sub/dir/deep.md"]
    report = save_uploads(corpus, [upload(tmp_path, n) for n in names], EXT, 1000)
    assert sorted(report.saved) == ["abs.md", "deep.md", "escape.txt", "win.txt"]
    assert sorted(p.name for p in corpus.iterdir()) == sorted(report.saved)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "escape.txt").exists()


def test_bad_names_types_and_sizes_are_refused_with_a_reason(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    report = save_uploads(corpus, [upload(tmp_path, "..", b"x"), upload(tmp_path, ".hidden.txt"),
                                   upload(tmp_path, "run.sh"), upload(tmp_path, "big.txt", b"x" * 1001)], EXT, 1000)
    reasons = dict(report.rejected)
    assert report.saved == [] and list(corpus.iterdir()) == []
    assert "file name" in reasons[".."] and "file name" in reasons[".hidden.txt"]
    assert "unsupported" in reasons["run.sh"] and "too large" in reasons["big.txt"]


def test_nothing_is_overwritten_and_links_are_not_followed(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text("mine")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    (corpus / "link.txt").symlink_to(outside)
    report = save_uploads(corpus, [upload(tmp_path, "notes.md", b"theirs"), upload(tmp_path, "notes.md", b"mine"),
                                   upload(tmp_path, "link.txt", b"evil")], EXT, 1000)
    assert (corpus / "notes.md").read_text() == "mine" and (corpus / "notes-2.md").read_text() == "theirs"
    assert report.present == ["notes.md"]
    assert outside.read_text() == "keep" and (corpus / "link-2.txt").read_text() == "evil"
    assert not [p for p in corpus.iterdir() if p.name.startswith(".upload-")], "no temporary file left behind"
