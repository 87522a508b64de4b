"""llama.cpp grammars (GBNF) that constrain what the local model may write.

``copy_grammar`` lets the reader (rag/read.py) reply only with a run of consecutive words of
one of its candidate sentences: the answer is then a quote by construction.
"""

from __future__ import annotations


def _literal(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _word(w: str) -> str:
    """A GBNF sequence matching the word ``w`` with either case of its first letter ("The"
    or "the": the model may start its phrase with a capital that the sentence does not have)."""
    if not w[0].isalpha() or w[0].lower() == w[0].upper():
        return _literal(w)
    first = f"[{w[0].upper()}{w[0].lower()}]"
    return f"{first} {_literal(w[1:])}" if len(w) > 1 else first


def copy_grammar(sentences: list[str]) -> str:
    """GBNF: a run of consecutive words of one of the sentences (so never NOT FOUND, never a
    word the passages do not hold, never two sentences glued together).

    >>> print(copy_grammar(["Go north."]))
    root ::= s1
    s1 ::= s1w0 | s1w1
    s1w0 ::= [Gg] "o" (" " s1w1)?
    s1w1 ::= [Nn] "orth."
    """
    if not sentences:
        raise ValueError("no sentences to choose from")
    lines = ["root ::= " + " | ".join(f"s{n}" for n in range(1, len(sentences) + 1))]
    for n, s in enumerate(sentences, 1):
        words = s.split()
        lines.append(f"s{n} ::= " + " | ".join(f"s{n}w{i}" for i in range(len(words))))
        for i, w in enumerate(words):
            tail = f' (" " s{n}w{i + 1})?' if i + 1 < len(words) else ""
            lines.append(f"s{n}w{i} ::= {_word(w)}{tail}")
    return "\n".join(lines)
