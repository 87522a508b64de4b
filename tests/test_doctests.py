"""The worked examples in docstrings are true."""

import doctest
import importlib
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("name", ["rag.chunk", "rag.load", "rag.extract", "rag.answer", "rag.generate", "rag.llm", "metrics", "app"])
def test_docstring_examples(name):
    sys.path.insert(0, str(ROOT))
    module = importlib.import_module(name)
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
