"""Who may reach the web UI and the MCP server: this machine only by default; beyond it, a login (an API
key for MCP) or an explicit choice not to.

The app answers from the documents, so anyone who can reach its port can read their text
through answers and source cards, and (unless read-only) write into the corpus folder by
uploading and make the machine work by re-syncing. Binding 127.0.0.1 keeps that on this
machine. Binding anything else (``--host 0.0.0.0``, an interface address, a host name)
needs a login, from ``RAG_AUTH=user:password`` (several: comma-separated), or
``--no-auth``, which serves without one and says so. docs/usage.md, Security, has the
whole list of what is exposed.
"""

from __future__ import annotations

import ipaddress

from .errors import SettingsError

Login = list[tuple[str, str]]


def is_loopback(host: str) -> bool:
    """True when binding ``host`` serves this machine only.

    >>> [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "", "192.168.1.5", "myhost")]
    [True, True, True, False, False, False, False]
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # empty (every interface) or a host name: it may resolve to anything


def parse_login(value: str) -> Login:
    """``"ana:secret,ben:pa:ss"`` -> ``[("ana", "secret"), ("ben", "pa:ss")]``; the password may hold ``:``.

    >>> parse_login("ana:secret, ben:pa:ss")
    [('ana', 'secret'), ('ben', 'pa:ss')]
    """
    users = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        user, sep, password = entry.partition(":")
        if not sep or not user.strip() or not password:
            raise SettingsError("RAG_AUTH must be user:password (several: comma-separated), with a non-empty user "
                                "and password.")
        users.append((user.strip(), password))
    return users


def login_for(host: str, port: int, auth: str, no_auth: bool) -> tuple[Login | None, str]:
    """Gradio's ``auth`` for serving on ``host``, and a warning to print ("" when none).

    Raises ``SettingsError`` when ``host`` reaches beyond this machine with neither a login
    nor ``no_auth``: the app then refuses to start.
    """
    users = parse_login(auth)
    if users:
        return users, ("" if is_loopback(host) else
                       f"serving on {host}:{port} with a login; it travels unencrypted over plain HTTP: put a TLS proxy "
                       "in front for untrusted networks (docs/usage.md, Security)")
    if is_loopback(host):
        return None, ""
    if no_auth:
        return None, (f"WARNING: serving on {host}:{port} with no login (--no-auth): anyone who can reach this port "
                      "can read the documents' text through answers, upload files and re-sync (unless --read-only); "
                      "set RAG_AUTH=user:password to require a login")
    raise SettingsError(
        f"--host {host or '(all interfaces)'} makes the app reachable from other machines, so it needs a login: set "
        "RAG_AUTH=user:password (several: comma-separated), or pass --no-auth to serve without one (anyone who "
        "reaches the port could then read the documents' text, upload and re-sync)."
    )


def api_key_for(host: str, port: int, key: str, no_auth: bool, what: str = "the API") -> tuple[str | None, str]:
    """The Bearer token ``what`` (the OpenAI-compatible API of ``python -m rag serve``, or ``MCP`` over HTTP)
    requires on ``host``, and a warning ("" if none).

    The web UI's rule with an API key for the login: a key (env ``RAG_API_KEY``) is always
    required when set; without one, loopback serves openly, anything else needs ``no_auth``
    (and warns), else ``SettingsError`` and the server does not start.

    >>> api_key_for("127.0.0.1", 8765, "", False), api_key_for("0.0.0.0", 8765, " s3cret ", False)[0]
    ((None, ''), 's3cret')
    """
    key = key.strip()
    if key:
        return key, ("" if is_loopback(host) else
                     f"serving {what} on {host}:{port} with an API key; it travels unencrypted over plain HTTP: put a "
                     "TLS proxy in front for untrusted networks (docs/usage.md, Security)")
    if is_loopback(host):
        return None, ""
    if no_auth:
        return None, (f"WARNING: serving {what} on {host}:{port} with no API key (--no-auth): anyone who can reach "
                      "this port can read the documents' text through its answers; set RAG_API_KEY to require "
                      "an Authorization: Bearer key")
    raise SettingsError(
        f"--host {host or '(all interfaces)'} makes {what} reachable from other machines, so it needs an API "
        "key: set RAG_API_KEY=<a long random string> (clients send it as Authorization: Bearer <key>), or pass "
        "--no-auth to serve without one (anyone who reaches the port could then read the documents' text)."
    )
