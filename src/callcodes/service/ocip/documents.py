"""OCI-P documents: read safely from the network, written as BroadWorks writes them.

A request is a ``BroadsoftDocument`` (protocol ``OCI``) holding a ``sessionId`` and one or more
``command`` elements, each naming its request in ``xsi:type``; a document without an XML
declaration is read in ISO-8859-1, as BroadWorks reads it. Documents are parsed with
``defusedxml``: a DTD, an entity declaration or an external reference is refused before it is
used, so nothing expands and nothing is fetched; the size is bounded by the listener and the
nesting depth here, while parsing, so a deep document stops at the first element too deep.

Replies are written by hand, in the order and form BroadWorks uses (a default namespace ``C``
on the document, none on its children, ``echo=""`` on every command, errors as
``c:ErrorResponse`` with ``type="Error"``), encoded in ISO-8859-1 with any other character as
a character reference. An OCI table is its ``colHeading`` elements, then a ``row`` of ``col``
elements for each row.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any, Final
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

import attrs
import defusedxml  # type: ignore[import-untyped]
import defusedxml.ElementTree  # type: ignore[import-untyped]

from ..._errors import InvalidValueError, show

__all__ = [
    "BOM",
    "END",
    "MAX_COMMANDS",
    "MAX_DEPTH",
    "MAX_DOCUMENT",
    "Command",
    "Document",
    "children",
    "command",
    "document",
    "error",
    "is_nil",
    "leaf",
    "only",
    "parse",
    "safe_text",
    "success",
    "table",
    "text",
]

#: The closing tag that ends each document on the connection.
END: Final = b"</BroadsoftDocument>"
#: The largest document read (bytes); a longer one is refused and the connection closed.
MAX_DOCUMENT: Final = 1024 * 1024
#: The deepest nesting of elements read (an OCI-P request needs five levels).
MAX_DEPTH: Final = 16
#: At most this many commands in one document.
MAX_COMMANDS: Final = 100
#: The longest session id taken.
MAX_SESSION_ID: Final = 256
#: The longest text of any one element.
MAX_TEXT: Final = 1024

#: What a document starts with: XML, perhaps after the UTF-8 byte order mark.
BOM: Final = b"\xef\xbb\xbf"
#: The declaration a document without one is read with.
LATIN1: Final = b'<?xml version="1.0" encoding="ISO-8859-1"?>'
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
_TYPE: Final = f"{{{XSI}}}type"
_NIL: Final = f"{{{XSI}}}nil"


@attrs.frozen
class Command:
    """One command of a request: its request name (``xsi:type``) and its element."""

    kind: str
    element: Element


@attrs.frozen
class Document:
    """A request document: its session id and its commands, in order."""

    session_id: str
    commands: tuple[Command, ...]


def _bad(problem: str, value: object = "") -> InvalidValueError:
    return InvalidValueError("document", value, problem)


def parse(data: bytes) -> Document:
    """The request in *data*; :class:`InvalidValueError` saying why it cannot be read."""
    if len(data) > MAX_DOCUMENT:
        raise _bad(f"a document has at most {MAX_DOCUMENT} bytes", f"{len(data)} bytes")
    if not data.startswith((b"<?xml", BOM)):  # undeclared: ISO-8859-1, as BroadWorks reads it
        data = LATIN1 + data
    depth = 0
    root: Element | None = None
    try:
        events = defusedxml.ElementTree.iterparse(
            io.BytesIO(data),
            events=("start", "end"),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
        for event, element in events:
            if event == "start":
                depth += 1
                if depth > MAX_DEPTH:
                    raise _bad(f"elements nest at most {MAX_DEPTH} deep")
                if root is None:
                    root = element
            else:
                depth -= 1
    except defusedxml.DefusedXmlException as exc:
        raise _bad(f"DTDs, entities and external references are refused ({exc})") from None
    except ParseError as exc:
        raise _bad(f"not well-formed XML: {exc}") from None
    except (LookupError, ValueError) as exc:  # an encoding Python does not know, or cannot parse
        raise _bad(f"not readable XML: {exc}") from None
    if root is not None:  # BroadWorks' namespace "C" on the children too, as some clients send it
        for element in root.iter():
            element.tag = str(element.tag).removeprefix("{C}")
    if root is None or root.tag != "BroadsoftDocument":
        raise _bad("the root element is BroadsoftDocument", None if root is None else root.tag)
    if root.get("protocol") != "OCI":
        raise _bad('a BroadsoftDocument has protocol="OCI"', root.get("protocol"))
    session = text(root, "sessionId", limit=MAX_SESSION_ID)
    commands = [Command(_kind(element), element) for element in root if element.tag == "command"]
    if not commands:
        raise _bad("a document holds at least one command")
    if len(commands) > MAX_COMMANDS:
        raise _bad(f"a document holds at most {MAX_COMMANDS} commands", len(commands))
    return Document(session, tuple(commands))


def _kind(element: Element) -> str:
    """The request a command names, without a namespace prefix (``c:Foo`` is ``Foo``)."""
    kind = element.get(_TYPE)
    if not kind:
        raise _bad("every command names its request in xsi:type")
    return kind.rpartition(":")[2]


# -- reading a command's fields -------------------------------------------------------------------


def children(element: Element, name: str) -> list[Element]:
    """The child elements *name* of *element*, in order."""
    return [child for child in element if child.tag == name]


def is_nil(element: Element) -> bool:
    """Whether *element* is ``xsi:nil="true"`` (a list set to nothing)."""
    return element.get(_NIL) in ("true", "1")


def text(element: Element, name: str, *, limit: int = MAX_TEXT, required: bool = True) -> str:
    """The text of the one child *name* ("" when empty); *required*: refused when absent."""
    found = children(element, name)
    if len(found) > 1:
        raise InvalidValueError(name, len(found), "give this element once")
    if not found:
        if required:
            raise InvalidValueError(name, None, "this element is required")
        return ""
    value = (found[0].text or "").strip()
    if len(value) > limit:
        raise InvalidValueError(name, value, f"at most {limit} characters")
    return value


def only(element: Element, names: Iterable[str]) -> None:
    """Refuse a child element of *element* that is not one of *names*."""
    allowed = set(names)
    unknown = [child.tag for child in element if child.tag not in allowed]
    if unknown:
        raise InvalidValueError(
            element.get(_TYPE) or str(element.tag),
            show(unknown),
            f"unknown element(s); this request takes {', '.join(sorted(allowed)) or 'none'}",
        )


# -- writing replies ------------------------------------------------------------------------------


def leaf(name: str, value: str | int | bool) -> str:
    """``<name>value</name>``: booleans as ``true``/``false``, text escaped."""
    shown = ("true" if value else "false") if isinstance(value, bool) else escape(str(value))
    return f"<{name}>{shown}</{name}>"


def table(name: str, headings: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """An OCI table: its column headings, then a ``row`` of ``col`` per row (empty: ``<col/>``)."""
    parts = [f"<{name}>", *(leaf("colHeading", h) for h in headings)]
    for row in rows:
        cols = "".join(leaf("col", value) if value else "<col/>" for value in row)
        parts.append(f"<row>{cols}</row>")
    parts.append(f"</{name}>")
    return "".join(parts)


def command(kind: str, body: str = "") -> str:
    """A response command named *kind* holding *body* (fields already written)."""
    return f'<command echo="" xsi:type="{escape(kind)}" xmlns="">{body}</command>'


def success() -> str:
    """BroadWorks' ``SuccessResponse``."""
    return '<command echo="" xsi:type="c:SuccessResponse" xmlns:c="C" xmlns=""/>'


def error(summary: str) -> str:
    """BroadWorks' ``ErrorResponse`` (``type="Error"``) whose summary says why."""
    summary = safe_text(summary)
    body = leaf("summary", summary) + leaf("summaryEnglish", summary)
    return (
        f'<command type="Error" echo="" xsi:type="c:ErrorResponse" xmlns:c="C" xmlns="">'
        f"{body}</command>"
    )


def document(session_id: str, commands: Iterable[str]) -> bytes:
    """A reply document echoing *session_id*, in ISO-8859-1 as BroadWorks sends it."""
    text_ = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        f'<BroadsoftDocument protocol="OCI" xmlns="C" xmlns:xsi="{XSI}">'
        f'<sessionId xmlns="">{escape(session_id)}</sessionId>'
        f"{''.join(commands)}</BroadsoftDocument>\n"
    )
    return _latin1(text_)


def _latin1(value: str) -> bytes:
    """*value* in ISO-8859-1, other characters as character references (``&#8364;``)."""
    return value.encode("iso-8859-1", "xmlcharrefreplace")


def safe_text(value: Any) -> str:
    """*value* as text that XML 1.0 can carry: characters it cannot hold are shown escaped."""
    shown = str(value)
    if all(_xml_char(ch) for ch in shown):
        return shown
    return shown.encode("unicode_escape", "backslashreplace").decode("ascii")


def _xml_char(ch: str) -> bool:
    """Whether XML 1.0 can carry *ch* in text."""
    point = ord(ch)
    return (
        ch in "\t\n\r"
        or 0x20 <= point <= 0xD7FF
        or 0xE000 <= point <= 0xFFFD
        or 0x10000 <= point <= 0x10FFFF
    )
