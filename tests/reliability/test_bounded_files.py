"""Item 2 at full size: a ~210 KB .docx that unpacks to a million paragraphs and a 10 MB one-line text
file are skipped, each within bounded time and memory, with the reason; the rest of the folder is indexed.

Measured in fresh processes: a whole `python -m rag ingest` of the seed article with both files
against one of the seed article alone (peak RSS and seconds), and each file's parse on its own.
The figures are printed (pytest -s) and quoted in docs/usage.md, Security and reliability.
"""

from __future__ import annotations

import pytest

from hostile import bomb_docx, one_line
from reliability_kit import measured

pytestmark = pytest.mark.full

INGEST = ("import rag.cli\ncode = rag.cli.main(['--store', {store!r}, 'ingest', '--quiet', {corpus!r}])\n"
          "assert code == 0, code\n")
PARSE = ("import rag, docx, pypdf\nfrom rag.load import budget, parse_document, SkipFile\n"
         "data = open({path!r}, 'rb').read()\nimport resource\nt0 = time.perf_counter()\n"
         "try:\n    parse_document('f', {suffix!r}, data, budget(rag.Settings()))\n    print('PARSED')\n"
         "except SkipFile as e:\n    print('SKIPPED', e)\n")


def test_a_docx_bomb_and_a_10_mb_line_are_skipped_in_bounded_time_and_memory(tmp_path, corpus):
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    bomb, line = hostile / "bomb.docx", hostile / "line.txt"
    bomb.write_bytes(bomb_docx(1_000_000))
    line.write_text(one_line(10_000_000))
    assert bomb.stat().st_size < 250_000 and line.stat().st_size == 10_000_000

    parsed = {}
    for path in (bomb, line):
        got = measured(PARSE.format(path=str(path), suffix=path.suffix))
        assert "SKIPPED" in got["stdout"], got["stdout"]
        parsed[path.name] = got
    assert "unpacks to 61 MB" in parsed["bomb.docx"]["stdout"] and "max_file_mb" in parsed["bomb.docx"]["stdout"]
    assert "too much text" in parsed["line.txt"]["stdout"] and "max_file_chars" in parsed["line.txt"]["stdout"]

    base = measured(INGEST.format(store=str(tmp_path / "ix0"), corpus=str(corpus)))
    (corpus / "bomb.docx").write_bytes(bomb.read_bytes())
    (corpus / "line.txt").write_text(line.read_text())
    both = measured(INGEST.format(store=str(tmp_path / "ix1"), corpus=str(corpus)))
    assert "2 added" in both["stdout"] and "2 skipped" in both["stdout"], both["stdout"]
    assert "skipped bomb.docx: unpacks to 61 MB" in both["stdout"]
    assert "skipped line.txt: too much text" in both["stdout"]
    print(f"\nparse only: bomb.docx {parsed['bomb.docx']['seconds']:.2f} s, peak RSS {parsed['bomb.docx']['peak_mb']:.0f} MB;"
          f" line.txt {parsed['line.txt']['seconds']:.2f} s, peak RSS {parsed['line.txt']['peak_mb']:.0f} MB")
    print(f"ingest: seed article alone {base['seconds']:.1f} s, peak RSS {base['peak_mb']:.0f} MB; "
          f"with both files {both['seconds']:.1f} s, peak RSS {both['peak_mb']:.0f} MB")
    assert both["peak_mb"] - base["peak_mb"] < 150, (base, both)  # the run: ~4.4 GB for the .docx alone
    assert both["seconds"] - base["seconds"] < 30, (base, both)  # the run: ~45 minutes
    assert parsed["bomb.docx"]["seconds"] < 5 and parsed["line.txt"]["seconds"] < 5


def test_with_the_limits_raised_the_bomb_stops_while_streaming_not_after(tmp_path):
    """Allowed to unpack (max_file_mb 100), the .docx is still stopped by the text limit as its body streams."""
    bomb = tmp_path / "bomb.docx"
    bomb.write_bytes(bomb_docx(1_000_000))
    got = measured(PARSE.format(path=str(bomb), suffix=".docx").replace("rag.Settings()", "rag.Settings(max_file_mb=100)"))
    assert "SKIPPED too much text: over 2,000,000 characters" in got["stdout"], got["stdout"]
    print(f"\nbomb.docx streamed to the text limit: {got['seconds']:.2f} s, peak RSS {got['peak_mb']:.0f} MB")
    assert got["seconds"] < 10 and got["peak_mb"] < 400
