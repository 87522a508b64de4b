"""Collections: named document sets, each with its own folder of documents and its own index.

One person's tax papers and another's research notes, or one project's specs and another's,
should never answer for each other. A collection is a name, a corpus folder and an index
folder: ``<store>/collections/<name>/`` holds the collection's index (its own embedded
Chroma database and keyword index) and ``collection.json`` with its corpus folder. The web
page makes collections over a new folder, ``<store>/documents/<name>/``, filled by upload. Nothing
is shared between two collections but the models, so no chunk of one can be retrieved,
quoted or cited by the other.

The index the settings name directly (``store``, ``corpus``) stays what it was; a
collection is chosen with ``--collection NAME`` (CLI, app), ``RAG_COLLECTION`` or
``rag.ask(..., collection=NAME)``, and ``settings_for`` turns it into the settings of its
folder and index. Deleting a collection deletes its index, never its documents.

On a Chroma server the index is a server collection named by the settings' hash, the same
for every collection here, so collections need the embedded store for now.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from .errors import SettingsError
from .settings import Settings

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class Collection:
    """A named document set: its documents' folder and its index's folder."""

    name: str
    corpus: Path
    store: Path
    created: str = ""


def root(settings: Settings) -> Path:
    return Path(settings.store) / "collections"


def check_name(name: str) -> str:
    """``name`` if it can name a collection (a folder name on every system), else ``SettingsError``.

    >>> check_name("tax-2025")
    'tax-2025'
    >>> check_name("../etc")
    Traceback (most recent call last):
    rag.errors.SettingsError: A collection name is 1-40 lower-case letters, digits, '-' or '_', starting with a letter or digit; not '../etc'.
    """
    if not isinstance(name, str) or not NAME.match(name):
        raise SettingsError("A collection name is 1-40 lower-case letters, digits, '-' or '_', starting with a letter "
                            f"or digit; not {name!r}.")
    return name


def _server_mode(settings: Settings) -> None:
    if settings.chroma_url:
        raise SettingsError("Collections need the embedded store for now: on a Chroma server every collection would "
                            "share one server collection. Unset RAG_CHROMA_URL (or --chroma-url), or run one server "
                            "per document set.")


def create(name: str, corpus: str | Path, settings: Settings) -> Collection:
    """Register collection ``name`` for the documents in ``corpus`` (an existing folder); its index is empty
    until the first ingest. Registering an existing name again with the same folder is a no-op."""
    check_name(name)
    _server_mode(settings)
    folder = Path(corpus).expanduser().resolve()
    if not folder.is_dir():
        raise SettingsError(f"{folder} is not a folder: create it (or point at the folder that holds the documents).")
    store = root(settings) / name
    meta = store / "collection.json"
    if meta.exists():
        existing = get(name, settings)
        if existing.corpus != folder:
            raise SettingsError(f"Collection {name!r} already exists for {existing.corpus}; delete it first or pick "
                                "another name.")
        return existing
    store.mkdir(parents=True, exist_ok=True)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tmp = meta.with_suffix(".tmp")
    tmp.write_text(json.dumps({"name": name, "corpus": str(folder), "created": created}, indent=2))
    os.replace(tmp, meta)
    return Collection(name, folder, store, created)


def uploads_folder(name: str, settings: Settings) -> Path:
    """A new, empty folder for a collection made from the web page (its documents come by upload):
    ``<store>/documents/<name>/``, outside the collection's index folder, so deleting the
    collection keeps them."""
    folder = Path(settings.store).resolve() / "documents" / check_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def get(name: str, settings: Settings) -> Collection:
    """The collection called ``name``, or ``SettingsError`` listing the ones there are."""
    check_name(name)
    meta = root(settings) / name / "collection.json"
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        names = ", ".join(c.name for c in list_all(settings)) or "none yet"
        raise SettingsError(f"No collection {name!r} in {root(settings)} (there are: {names}). Create it with "
                            f"`python -m rag collections create {name} FOLDER`.") from None
    return Collection(name, Path(data["corpus"]), meta.parent, data.get("created", ""))


def list_all(settings: Settings) -> list[Collection]:
    """Every collection of this store, by name."""
    out = []
    for meta in sorted(root(settings).glob("*/collection.json")):
        try:
            out.append(get(meta.parent.name, settings))
        except SettingsError:  # a half-written or foreign folder: not a collection
            continue
    return out


def delete(name: str, settings: Settings) -> Collection:
    """Delete collection ``name``'s index (its documents stay where they are)."""
    c = get(name, settings)
    shutil.rmtree(c.store)
    return c


def settings_for(name: str | None, settings: Settings) -> Settings:
    """The settings of collection ``name`` (its corpus and index folder); ``settings`` when ``name`` is empty."""
    if not name:
        return settings
    _server_mode(settings)
    c = get(name, settings)
    return replace(settings, corpus=c.corpus, store=c.store)


def chosen(explicit: str | None = None) -> str:
    """The collection asked for: ``explicit`` (a flag or argument), else ``RAG_COLLECTION``, else '' (none)."""
    return explicit if explicit is not None else os.environ.get("RAG_COLLECTION", "").strip()
