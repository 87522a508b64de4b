"""Resolving a follow-up without a model: who "he" is, what "there" was, what "what about X?" asks.

Pure functions over the earlier turns' text (microseconds). ``is_followup`` is the gate
rag/followup.py asks first; ``carry_over`` is the rewrite used when no chat model answers,
or when the model's rewrite fails its checks.

- person pronouns become the name the previous turn was about;
- "what about X?" becomes the previous question about X;
- "Why?" / "When?" become the previous question with the new question word;
- anything still leaning on the conversation gets the previous question's key words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .text import content_words

Turn = tuple[str, str]  # (question, answer text), oldest first

_NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+(?:of\s+|de\s+|von\s+|al-)?[A-Z][\w'’.-]*)*")
PERSON = {"he", "she", "him", "his", "her", "hers", "himself", "herself"}
GROUP = {"they", "them", "their", "theirs", "themselves"}
THING = {"it", "its", "this", "these", "those", "there", "that"}
_TIME_NOUNS = {"week", "month", "year", "morning", "evening", "time", "weekend", "afternoon"}
_POINTING = {"before", "after", "about", "of", "like", "than", "with", "in", "at", "on", "for", "from", "to", "by",
             "during", "under", "did", "does", "do", "is", "was", "were", "are", "what", "which", "when", "where", "how",
             "why", "who"}
WH = ("who", "whom", "whose", "what", "which", "when", "where", "why", "how")
AUX = {"is", "are", "was", "were", "do", "does", "did", "has", "have", "had", "can", "could", "will",
       "would", "should", "may", "might"}
_LEAD = re.compile(r"^(?:and|but|so|also|then)\b[\s,]*|^(?:what|how)\s+about\b\s*|^(?:same|and)\s+for\b\s*", re.I)
_NOT_NAMES = {  # capitalised words that are not what a pronoun points at
    "i", "the", "a", "an", "and", "but", "or", "so", "still", "on", "in", "at", "after", "before", "both",
    "president", "prime", "minister", "secretary", "mr", "mrs", "ms", "dr", "sir", "general", "chancellor",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february",
    "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
    "spring", "summer", "autumn", "winter", "assistant", "user", "sources", "answered", "according", "also",
    "however", "yet", "now", "all", "some", "if",
    *WH, *AUX, *PERSON, *GROUP, *THING,
}
_PLACE_PREP = {"in", "at", "from", "to", "near", "on", "into", "the"}  # "in Miami", "the Kremlin": not a person
_EVENT = re.compile(r"\s+(?:meetings?|talks|summits?|visits?|trips?|aides?|officials?)\b")  # "the Moscow meeting"


def names(text: str) -> list[tuple[str, bool]]:
    """Capitalised names in ``text``, in order, each with whether it may be a person.

    Leading titles and question words are dropped; a name after "in", "at", "the"... or before
    "meeting", "talks", "aide"... is a place or thing; nationality adjectives and abbreviations are not names.

    >>> names("Who did Witkoff and Jared Kushner meet in Moscow?")
    [('Witkoff', True), ('Jared Kushner', True), ('Moscow', False)]
    >>> names("Russian President Vladimir Putin met U.S. envoys at the Kremlin in a late-night Moscow meeting")
    [('Vladimir Putin', True), ('Kremlin', False), ('Moscow', False)]
    """
    out: list[tuple[str, bool]] = []
    for m in _NAME.finditer(text):
        words = m.group().split()
        start = m.start()
        while words and (words[0].lower().strip("’'.") in _NOT_NAMES or _adjective(words[0])):
            start = text.index(words[0], start) + len(words[0])
            words = words[1:]
        if not words:
            continue
        name = re.sub(r"(?:['’]s|['’])$", "", " ".join(words)).rstrip(".")
        if not name or name.lower() in _NOT_NAMES or _adjective(name):
            continue
        before = text[:start].split()
        modifier = _EVENT.match(text, m.end()) and not re.search(r"['’]s?$", m.group())  # not "Trump's aide"
        person = not (before and before[-1].lower() in _PLACE_PREP) and not modifier
        out.append((name, person))
    return out


def _adjective(word: str) -> bool:
    """Nationality adjectives and abbreviations ("Ukrainian", "U.S.", "NATO") describe, they are not who."""
    w = word.rstrip(".,;:?!’'s")
    return bool(re.fullmatch(r"[A-Z]+(?:\.[A-Z]+)*\.?", w) or re.search(r"(?:ian|ean|ese|ish|can)$", w))


def anaphors(question: str) -> list[str]:
    """The words of ``question`` that point back into the conversation.

    >>> anaphors("Where is it based and who did he meet there?")
    ['it', 'he', 'there']
    >>> anaphors("Is there a deadline this week, and who said that talks went well?")
    []
    """
    words = [w.lower() for w in re.findall(r"[A-Za-z]+|[?.,!;]", question)]
    out = []
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else "?"
        prev = words[i - 1] if i else ""
        if w in PERSON or w in GROUP or w in ("it", "its", "those", "these"):
            out.append(w)
        elif w == "there" and not ((prev in AUX and nxt not in "?.,!;") or nxt in AUX):  # "is there a ...": existential
            out.append(w)
        elif w == "this" and nxt not in _TIME_NOUNS:
            out.append(w)
        elif w == "that" and (nxt in "?.,!;" or prev in _POINTING):  # not "said that ...", "the plan that ..."
            out.append(w)
        elif w == "then" and prev in ("since", "until", "before", "after", "by"):
            out.append(w)
    return out


def is_followup(question: str, history: Sequence[Turn]) -> bool:
    """True when ``question`` needs the earlier turns to be understood (and there are some).

    >>> h = [("Who is Witkoff?", "Trump's special envoy.")]
    >>> is_followup("who did he travel with?", h), is_followup("What about Kushner?", h), is_followup("Why?", h)
    (True, True, True)
    >>> is_followup("Where were the talks held?", h), is_followup("who did he travel with?", [])
    (False, False)
    """
    if not history:
        return False
    q = question.strip()
    if anaphors(q) or _LEAD.match(q) or fragment(q):
        return True
    return not content_words(q) or (_bare_name(q) is not None)


_PREP = {"on", "in", "at", "for", "since", "until", "by", "from", "with", "to", "during", "after", "before"}
_MEASURE = {"long", "many", "much", "often", "far", "old", "soon", "big", "large", "high"}


def fragment(question: str) -> bool:
    """True for a question with no verb of its own that asks more about the previous one.

    >>> [fragment(q) for q in ("On which day?", "For how many hours?", "How long?", "Which hotel?", "When exactly?")]
    [True, True, True, True, True]
    >>> [fragment(q) for q in ("Who met Putin?", "What happened?", "Which hotel are they staying at?", "How is he?")]
    [False, False, False, False]
    """
    words = re.findall(r"[a-z']+", question.lower())
    if words and words[0] in _PREP:
        words = words[1:]
    if not words or len(words) > 4 or any(w in AUX for w in words):
        return False
    wh, rest = words[0], words[1:]
    if wh == "how":
        return bool(rest) and rest[0] in _MEASURE
    if wh in ("which", "what", "whose"):
        return 0 < len(rest) <= 2 and not any(w.endswith(("ed", "ing")) for w in rest)
    return wh in ("when", "where", "why") and all(w in ("exactly", "then", "else", "not") for w in rest)


def _splice(question: str, prev_q: str) -> str | None:
    """A fragment put in place of the previous question's question word ("On which day" + "did X meet Y?").

    >>> _splice("On which day?", "Who did Witkoff and Kushner meet at the Kremlin?")
    'On which day did Witkoff and Kushner meet at the Kremlin?'
    """
    words = prev_q.split()
    for i, w in enumerate(words[:5]):
        if i and w.lower() in AUX and any(x.lower() in WH for x in words[:i]):
            return f"{question.strip().rstrip('?. ')} {' '.join(words[i:])}"
    return None


def _bare_name(question: str) -> str | None:
    """The name when the whole question is just a name ("Kushner?"), else None."""
    body = question.strip().rstrip("?.! ")
    found = names(body)
    return found[0][0] if len(found) == 1 and found[0][0] == body else None


def carry_over(question: str, history: Sequence[Turn]) -> str:
    """Rewrite a follow-up without a model, from the previous turns' names and words.

    Earlier follow-ups are resolved first, so pronouns can chain across turns.

    >>> h = [("Who is Witkoff?", "President Donald Trump's special envoy Steve Witkoff ...")]
    >>> carry_over("who did he travel with?", h)
    'who did Witkoff travel with?'
    >>> carry_over("What was his job before?", h)
    "What was Witkoff's job before?"
    >>> carry_over("What about Kushner?", [("Who did Witkoff meet in Moscow?", "Putin")])
    'Who did Kushner meet in Moscow?'
    >>> carry_over("When?", [("Where did Witkoff meet Putin?", "At the Kremlin")])
    'When did Witkoff meet Putin?'
    """
    resolved: list[Turn] = []
    for q, a in history:
        resolved.append((_resolve(q, resolved), a))
    return _resolve(question.strip(), resolved)


def _resolve(question: str, history: Sequence[Turn]) -> str:
    if not is_followup(question, history):
        return question
    prev_q, prev_a = history[-1]
    # "What about X?" / "And X?" / "X?": the previous question, about X instead.
    lead = _LEAD.match(question)
    rest = question[lead.end():] if lead else question
    new = _bare_name(rest) if (lead or _bare_name(question)) else None
    if new is not None:
        old = names(prev_q)
        if old:  # the last person named: "What did Ushakov say about Kushner?" -> "What about Witkoff?"
            target = [n for n, person in old if person] or [n for n, _ in old]
            return _replace_last(prev_q, target[-1], new)
        return f"{prev_q.rstrip('?. ')}: {new}?"
    if lead and rest.strip():  # "And on which day?": the rest, with the previous question's key words
        question = rest[0].upper() + rest[1:]
    if fragment(question) and (spliced := _splice(question, prev_q)):  # "On which day?" after "Who did X meet?"
        return spliced
    # "Why?" / "When was that?": the previous question with the new question word.
    if not content_words(question) and not names(question):
        wh = next((w for w in re.findall(r"[a-z]+", question.lower()) if w in WH), None)
        first = prev_q.split(maxsplit=1)
        if wh and first and first[0].lower() in WH and len(first) == 2:
            return f"{wh.capitalize()} {first[1]}"
    people, places = _referents(prev_q, prev_a)
    named = set(" ".join(n for n, _ in names(question)).split())  # "What did Modi say about them?": not Modi
    out = _replace_pronouns(question, [p for p in people if not named & set(p.split())])
    if places and "there" in anaphors(out):
        out = re.sub(r"\bthere\b", f"in {places[0]}", out, count=1)
    if anaphors(out) or not content_words(out) or lead:  # still leaning on the conversation: add its key words
        missing = [w for w in _key_words(prev_q) if w.lower() not in out.lower()]
        if missing:
            out = f"{out.rstrip('?. ')} ({', '.join(missing)})?"
    return out


KEY_WORDS = re.compile(r"\s*\([^()]*\)\?$")  # what ``_resolve`` appends: " (Witkoff, Moscow, travel)?"


def without_key_words(question: str) -> str:
    """``question`` without the key words carry-over appended (rag/followup.py ``to_read`` shows one)."""
    return KEY_WORDS.sub("?", question)


def _replace_last(text: str, old: str, new: str) -> str:
    i = text.rfind(old)
    return text[:i] + new + text[i + len(old):]


def _referents(prev_q: str, prev_a: str) -> tuple[list[str], list[str]]:
    """Who a "he" or "they" may mean, most likely first, and the places "there" may mean. After a
    question whose subject is "who" ("Who met Putin?") the people its answer names come first, nearest
    to the question's words; otherwise ("Who is X?", "Who did X meet?") the question's, then the answer's.
    """
    prev_q = without_key_words(prev_q)  # key words carried over earlier are not names
    people = [n for n, person in names(prev_q) if person]
    asked = set(" ".join(people).split())
    near = [m.start() for m in re.finditer(r"[A-Za-z]+", prev_a) if content_words(m.group()) & content_words(prev_q)]
    scored, places = [], [n for n, person in names(prev_q) if not person]
    for n, person in names(prev_a):
        if not person:
            places.append(n)
        elif not asked & set(n.split()) and n not in [x for _, x in scored]:
            i = prev_a.find(n)
            scored.append((min((abs(i - h) for h in near), default=len(prev_a)), n))
    answered = [n for _, n in sorted(scored)]
    subject = re.match(r"\s*who\s+(\w+)", prev_q, re.I)
    return (answered + people if subject and subject.group(1).lower() not in AUX else people + answered), places


def _replace_pronouns(question: str, referents: list[str]) -> str:
    """Person pronouns -> the first referent; they/them/their -> the first two, when known."""
    if not referents:
        return question
    group = " and ".join(referents[:2]) if len(referents) > 1 else None

    def swap(m: re.Match[str]) -> str:
        w = m.group().lower()
        who = referents[0] if w in PERSON else group
        if who is None:
            return m.group()
        nxt = question[m.end():].lstrip()
        possessive = w in ("his", "their", "theirs", "hers") or (w == "her" and re.match(r"[a-z]", nxt) is not None
                                                               and nxt.split()[0] not in AUX | {"to", "about", "in", "at", "with"})
        return f"{who}'s" if possessive else who

    return re.sub(r"\b(?:he|she|him|his|her|hers|they|them|their|theirs)\b", swap, question, flags=re.I)


def _key_words(question: str, limit: int = 5) -> list[str]:
    """The previous question's names, then its other content words, each once, at most ``limit``."""
    out: list[str] = []
    seen: set[str] = set()
    for w in [n for n, _ in names(question)] + re.findall(r"[A-Za-z][\w'-]*", question):
        t = content_words(w)
        if t and not t <= seen and w.lower() not in _NOT_NAMES:
            out.append(w)
            seen |= t
    return out[:limit]


def swaps_name(question: str) -> bool:
    """True for "What about X?", "And X?" or a bare "X?".

    >>> swaps_name("And Putin?"), swaps_name("What about Jared Kushner?"), swaps_name("And on which day?")
    (True, True, False)
    """
    lead = _LEAD.match(question)
    return _bare_name(question[lead.end():] if lead else question) is not None
