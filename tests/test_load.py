"""Reading files: encodings, binary files, hidden files, empty files."""

from __future__ import annotations

import pytest

from rag.load import SkipFile, decode_text, load_document, walk


def test_decode_utf8_and_fallbacks():
    assert decode_text("naïve café".encode()) == ("naïve café", "")
    assert decode_text("\ufeffbom".encode("utf-8")) == ("bom", "")
    assert decode_text("café €5".encode("cp1252")) == ("café €5", "not UTF-8; decoded as cp1252")


def test_binary_is_skipped_with_a_reason():
    with pytest.raises(SkipFile, match="binary"):
        decode_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


def test_walk_skips_hidden_and_gives_relative_posix_sources(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.txt").write_text("x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.txt").write_text("x")
    (tmp_path / ".d.txt").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    # the link to a folder is listed (not followed) so the report can say why it was skipped
    assert [s for _, s in walk(tmp_path)] == ["loop", "a/b.txt"]


def test_empty_and_oversized_files_are_skipped(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(SkipFile, match="empty"):
        load_document(tmp_path / "empty.txt", "empty.txt", 1000)
    (tmp_path / "big.txt").write_text("x" * 2000)
    with pytest.raises(SkipFile, match="too large"):
        load_document(tmp_path / "big.txt", "big.txt", 1000)
    with pytest.raises(SkipFile, match="unsupported"):
        load_document(tmp_path / "app.exe", "app.exe", 1000)
