"""Evaluation and benchmarks: one entry point per report; loading, scoring and writing shared.

    python eval/run.py              # answers on eval/questions.jsonl -> results/questions-<answerer>.*
    python eval/conversations.py    # multi-turn follow-ups -> results/conversations-<answerer>.*
    python eval/bench.py            # retrieval, every set x retriever -> results/bench.*
    python eval/tune.py             # how the fusion weight was chosen -> results/tuning.*
    python eval/chunking.py         # chunk size / overlap comparison -> results/chunking.*
    python eval/bench_ingest.py     # ingest throughput against the raw encoder -> results/ingest-bench.*
    python eval/bench_llm.py        # local model latency against raw llama.cpp -> results/llm-bench.*

Each also runs as ``python -m eval.<name>``. Shared modules: ``sets`` (question sets and
their corpora), ``score`` (gold matching, answer rows, summaries), ``metrics`` (pure
scoring functions) and ``report`` (JSON, Markdown and charts). Experiments (other fusion
rules, stemming, chunkings) live here, never as switches inside ``rag/``.
"""
