"""The SQLite keyword index (rag/keyword.py) against the JSON BM25 it replaced (eval/bm25_json.py).

Same scores to the last bit and the same ranking on a real corpus (the public benchmarks'
texts, chunked as ingest chunks them, and their questions), also after incremental adds,
re-adds and removals; a transaction cut short (an exception, or SIGKILL) leaves the state
of the last commit; an old JSON index is converted on first open; more chunks than SQLite
takes variables in one statement (32,766) work.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from dataclasses import astuple

import pytest

from eval.bench_keyword import questions
from eval.bm25_json import JsonBM25, save
from eval.sets import BENCH_DIR
from rag import postings
from rag.keyword import KeywordFile, KeywordIndex
from rag.types import Chunk

pytestmark = pytest.mark.skipif(not any(BENCH_DIR.glob("*/source_files")), reason=f"no benchmarks in {BENCH_DIR}")


@pytest.fixture(scope="module")
def corpus() -> tuple[list[Chunk], list[str]]:
    """The benchmarks' texts as ~2,500 paragraph chunks (no tokenizer: quick), and 200 real questions."""
    cs = []
    for p in sorted(BENCH_DIR.glob("*/source_files/**/*")):
        if p.is_file() and p.suffix in (".txt", ".md"):
            at = 0
            for para in p.read_text(encoding="utf-8").split("\n\n"):
                if len(para.strip()) > 40:
                    cs.append(Chunk(f"{p.name}:{at}", p.name, at, at + len(para), para))
                at += len(para) + 2
    return cs, questions()


def same(old: JsonBM25, new: KeywordIndex, qs: list[str], k: int = 20) -> None:
    assert new.ids() == old.ids() and len(new) == len(old)
    for q in qs:
        want = old.scores(q)
        assert new.scores(q) == want, q  # bit for bit: the same float operations in the same order
        ranked = sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))
        assert new.search(q, k) == ranked[:k], q
        others = [cid for cid, _ in ranked[k : k + 5]] + ["no-such-chunk"]
        got = new.top(q, k, also=others)  # the hybrid's query: the k best (and any tied at the cut) and ``others``
        assert {c for c, _ in ranked[:k]} | {c for c in others if c in want} <= got.keys()
        assert all(got[c] == want[c] for c in got)
        cut = ranked[k - 1][1] if len(ranked) >= k else 0.0
        assert all(s >= cut for c, s in got.items() if c not in others)


def test_scores_and_ranking_are_identical_to_the_json_index(corpus):
    cs, qs = corpus
    old, new = JsonBM25(), KeywordIndex()
    for c in cs:
        old.add(c)
        new.add(c)
    new.commit()
    same(old, new, qs[::2])
    assert all(0 < s <= 1 for q in qs[:50] for s in new.scores(q).values())
    assert new.scores("zzyzx quuxly") == {} and new.search("", 5) == []
    picked = [cs[0].id, cs[7].id, "unknown"]
    assert new.scores(qs[0], only=picked) == old.scores(qs[0], only=picked)


def test_incremental_adds_readds_and_removals_keep_the_scores(corpus, tmp_path):
    cs, qs = corpus
    rng = random.Random(13)
    old, ix = JsonBM25(), KeywordFile(tmp_path, "c").open()
    first, rest = cs[:1500], cs[1500:]
    for c in first:
        old.add(c)
        ix.add(c)
    ix.commit()
    for step in range(4):  # batches as a sync makes them: some files added, some replaced, some removed
        batch = rest[step * 250 : (step + 1) * 250]
        gone = rng.sample(sorted(old.ids()), 120)
        changed = [Chunk(c.id, c.source, c.start, c.end, c.text + " revised wording") for c in rng.sample(first, 40)]
        for c in batch + changed:
            old.add(c)
            ix.add(c)
        old.remove(gone)
        ix.remove(gone)
        ix.commit()
        same(old, ix, qs[step::8])
    ix.remove(old.ids())
    ix.commit()
    assert len(ix) == 0 and ix.ids() == set() and ix.search(qs[0], 5) == []
    assert ix.db.execute("SELECT count(*) FROM postings").fetchone() == (0,)
    assert ix.db.execute("SELECT count(*) FROM terms").fetchone() == (0,)


def test_an_interrupted_transaction_leaves_the_last_commit(corpus, tmp_path, monkeypatch):
    cs, qs = corpus
    old, ix = JsonBM25(), KeywordFile(tmp_path, "c").open()
    for c in cs[:800]:
        old.add(c)
        ix.add(c)
    ix.commit()

    real = postings._read_keys
    monkeypatch.setattr(postings, "_read_keys", lambda *a: (_ for _ in ()).throw(OSError("disk gone")))
    for c in cs[800:1200]:
        ix.add(c)
    ix.remove([c.id for c in cs[:100]])
    with pytest.raises(OSError):
        ix.commit()  # failed after the chunks table was written
    monkeypatch.setattr(postings, "_read_keys", real)
    assert not ix.pending and not ix.db.in_transaction
    same(old, ix, qs[::5])
    same(old, KeywordFile(tmp_path, "c").open(), qs[::7])  # as another process reads the file


@pytest.mark.full  # a subprocess
def test_a_process_killed_mid_transaction_leaves_the_last_commit(corpus, tmp_path):
    cs, qs = corpus
    (tmp_path / "chunks.json").write_text(json.dumps([astuple(c) for c in cs[:1600]]))
    code = textwrap.dedent(f"""
        import json, os, signal
        from rag.keyword import KeywordFile
        from rag.types import Chunk
        cs = [Chunk(*c) for c in json.load(open({str(tmp_path / "chunks.json")!r}))]
        ix = KeywordFile({str(tmp_path)!r}, "c").open()
        for c in cs[:1000]:
            ix.add(c)
        ix.commit()
        for c in cs[1000:]:
            ix.add(c)
        ix.remove([c.id for c in cs[:300]])
        ix.write()  # all of it written into the open transaction, not committed
        assert ix.db.in_transaction
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    old = JsonBM25()
    for c in cs[:1000]:
        old.add(c)
    same(old, KeywordFile(tmp_path, "c").open(), qs[::5])


def test_a_json_index_of_before_is_converted_on_first_open_and_deleted(corpus, tmp_path):
    cs, qs = corpus
    old = JsonBM25()
    for c in cs[:600]:
        old.add(c)
    save(old, tmp_path / "c.bm25.json", "c")
    kf = KeywordFile(tmp_path, "c")
    same(old, kf.open(), qs[::5])
    assert not kf.legacy.exists() and kf.path.exists()

    kf.close()
    kf.path.unlink()
    kf.legacy.write_text('{"format": "rag-bm25/1", "collection": "another"}')  # not ours: dropped, repair rebuilds
    assert len(KeywordFile(tmp_path, "c").open()) == 0 and not kf.legacy.exists()


@pytest.mark.full  # ~10 s
def test_more_chunks_than_sqlite_variables_in_one_statement(tmp_path):
    n = 40_000  # > 32,766: every read and write by id list is paged
    words = ["heron", "badger", "otter", "lynx", "marten", "stoat", "vole", "wren"]
    cs = [Chunk(f"id{i:06d}", f"f{i // 500}.txt", 0, 1, f"record {i} the {words[i % 8]} weighs {i * 7} grams")
          for i in range(n)]
    ix = KeywordFile(tmp_path, "big").open()
    for c in cs:
        ix.add(c)
    ix.commit()
    assert len(ix) == n and len(ix.ids()) == n
    assert ix.search("how much does record 3210 weigh", 1)[0][0] == "id003210"
    assert len(ix.top("otter grams", 10)) == n // 8  # every otter chunk ties: all kept at the cut
    ix.remove([c.id for c in cs[: n - 100]])
    ix.commit()
    assert len(ix) == 100 and ix.df("otter") == sum("otter" in c.text for c in cs[n - 100 :])
    old = JsonBM25()
    for c in cs[n - 100 :]:
        old.add(c)
    same(old, ix, ["record 39950 otter", "wren grams", "stoat 279986"])


def test_opening_reads_every_stored_id_only_when_the_store_changed_or_a_sync_was_cut(tmp_path, monkeypatch):
    """The file vouches for the store state it matches: a 100k-chunk store is not re-read at every start."""
    import rag
    import rag.keyword
    from conftest import seed_folder

    settings = rag.Settings.from_env(corpus=seed_folder(tmp_path), store=tmp_path / "ix", vector_store="memory")
    engine = rag.engine(settings=settings)
    engine.ingest()
    reads = []
    real = rag.keyword.chunk_ids
    monkeypatch.setattr(rag.keyword, "chunk_ids", lambda store: reads.append(1) or real(store))

    def opened() -> int:
        before = len(reads)
        KeywordFile(engine.store.local_dir, settings.collection).get(engine.store)
        return len(reads) - before

    assert opened() == 0  # vouched for by the sync that wrote it
    KeywordFile(engine.store.local_dir, settings.collection).vouch(engine.store, exact=False)  # a sync killed mid-way
    assert opened() == 1 and opened() == 0  # checked once, then vouched for again
    (settings.corpus / "new.txt").write_text("The ferry to Skerry Point leaves at nine.\n")
    engine.ingest()  # a changed store: a new sync id, vouched for by this sync
    assert opened() == 0
