"""Who redirected a call: the user named by ``Diversion`` (RFC 5806) or ``History-Info`` (RFC 7044).

A call forwarded or transferred by a user of a group reaches the proxy as a new INVITE from
the original caller (often outside the group) to the new destination; the softswitch that
redirected it names the redirecting user in ``Diversion`` (the most recent diversion first) or
in ``History-Info`` (every target in order, the current one last, so the user who redirected
is the one before it). :func:`redirector` reads the user and host of that URI from the header
values; it never raises on a header's text: what it cannot read names nobody.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Final

__all__ = ["MAX_HEADER", "redirector"]

#: Header values longer than this are not read (a redirect names a few URIs at most).
MAX_HEADER: Final = 4096
# A SIP or SIPS URI's user and host: in angle brackets (name-addr) or bare (addr-spec).
_URI: Final = re.compile(
    r"<\s*sips?:(?P<user>[^@<>;?\s]+)@(?P<host>[^:;>?\s]+)[^>]*>"
    r"|^\s*sips?:(?P<bare_user>[^@<>;?,\s]+)@(?P<bare_host>[^:;>?,\s]+)",
    re.IGNORECASE,
)


def _entries(value: str) -> list[str]:
    """The comma-separated entries of a header value, commas inside ``<...>`` or quotes kept."""
    entries: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in value:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth = max(depth - 1, 0)
        if char == "," and depth == 0 and not quoted:
            entries.append("".join(current))
            current = []
        else:
            current.append(char)
    entries.append("".join(current))
    return [entry.strip() for entry in entries if entry.strip()]


def _user_host(entry: str) -> tuple[str, str] | None:
    match = _URI.search(entry)
    if match is None:
        return None
    user = match["user"] or match["bare_user"]
    host = match["host"] or match["bare_host"]
    user = urllib.parse.unquote(user, errors="replace")
    if not user or not host:
        return None
    return user, host.lower()


def redirector(diversion: str | None, history: str | None) -> tuple[str, str] | None:
    """The (user, host) of the user who redirected the call, or None when nobody is named.

    ``Diversion`` wins when both are there: its first entry is the latest diversion. In
    ``History-Info`` the entry before the last is the target that was redirected. Values over
    :data:`MAX_HEADER` characters are not read. Runtime complexity: O(len(headers)).
    """
    if isinstance(diversion, str) and diversion.strip() and len(diversion) <= MAX_HEADER:
        entries = _entries(diversion)
        if entries:
            return _user_host(entries[0])
    if isinstance(history, str) and history.strip() and len(history) <= MAX_HEADER:
        entries = _entries(history)
        if len(entries) >= 2:  # the redirected target, then the current one
            return _user_host(entries[-2])
    return None
