"""``import rag`` is cheap: no torch, no model, no Chroma until first use."""

import subprocess
import sys


def test_import_rag_loads_nothing_heavy():
    code = "import sys, rag; print(sorted(m for m in ('torch', 'chromadb', 'llama_index', 'sentence_transformers', 'gradio') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
