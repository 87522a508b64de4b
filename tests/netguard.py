"""Refuse and record any network connection that is not to this machine.

Used by tests that run the product in a subprocess: ``python -c "import netguard;
netguard.install(); ..."``. Violations are appended, one per line, to the file named by
the NETGUARD_LOG environment variable.
"""

from __future__ import annotations

import os
import socket

_LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")


def _local(host: object) -> bool:
    return host is None or str(host).startswith(_LOOPBACK) or str(host) == "::1"


def _record(what: str) -> None:
    with open(os.environ["NETGUARD_LOG"], "a") as f:
        f.write(what + "\n")


def install() -> None:
    real_connect, real_connect_ex, real_gai = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def connect(self, address):  # type: ignore[no-untyped-def]
        if isinstance(address, tuple) and not _local(address[0]):
            _record(f"connect {address!r}")
            raise OSError("network access blocked by test (not loopback)")
        return real_connect(self, address)

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        if isinstance(address, tuple) and not _local(address[0]):
            _record(f"connect_ex {address!r}")
            return 111
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not _local(host):
            _record(f"dns {host!r}")
            raise socket.gaierror(f"lookup of {host!r} blocked by test")
        return real_gai(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
