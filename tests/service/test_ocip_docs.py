"""docs/ocip.md is true: its set-up, its script and its documents, against a real server.

The page's ```` ```sh ```` block is run (its ``callcodes`` lines on a new store, the password on
standard input; its ``serve`` line started as a real server on free ports), then its
```` ```python3 ```` block, the BroadWorks script, with the listener's real port: each
``print(...)  # text`` must print exactly ``text``. The ```` ```xml ```` request is then sent as
it is, after a login, and the reply must be the page's reply byte for byte; the error shown
must be what a batch with bad rows gets (``...`` standing for any text).
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

from ocip_server import OciServer, exchange, raw_document
from real_server import PASSWORD

from doc_examples import PRINTED

PAGE = Path(__file__).resolve().parents[2] / "docs" / "ocip.md"
BLOCK = re.compile(r"^```(?P<lang>\w+)\n(?P<body>.*?)^```", re.S | re.M)


def blocks(lang: str) -> list[str]:
    return [
        m["body"] for m in BLOCK.finditer(PAGE.read_text(encoding="utf-8")) if m["lang"] == lang
    ]


def set_up(db: Path) -> list[str]:
    """Run the page's ``callcodes`` set-up lines on *db*; the ``serve`` line's arguments."""
    (sh,) = blocks("sh")
    serve: list[str] = []
    for line in sh.splitlines():
        words = shlex.split(line, comments=True)
        if not words or words[0] != "callcodes":
            continue
        assert words[1:3] == ["--db", "callcodes.db"], line
        args = words[3:]
        if args[0] == "serve":
            serve = args[1:]
            continue
        asks = args[:2] in (["accounts", "add"], ["accounts", "oci"])
        subprocess.run(
            [sys.executable, "-m", "callcodes", "--db", str(db), *args]
            + (["--password-stdin"] if asks else []),
            input=f"{PASSWORD}\n",
            text=True,
            check=True,
            capture_output=True,
            timeout=120,
        )
    return serve


def run_script(port: int) -> None:
    """The page's script with the listener's port; every print as the page says."""
    (script,) = blocks("python3")
    assert "port=2208" in script
    printed: list[str] = []
    lines = []
    for line in script.replace("port=2208", f"port={port}").splitlines():
        lines.append(line)
        match = PRINTED.match(line)
        if match:
            lines.append(f"assert printed[-1] == {match['expected']!r}, printed[-1]")
    namespace: dict[str, object] = {
        "print": lambda *a: printed.append(" ".join(map(str, a))),
        "printed": printed,
    }
    exec(compile("\n".join(lines), str(PAGE), "exec"), namespace)  # our own page
    assert len(printed) == sum(1 for line in script.splitlines() if PRINTED.match(line))


def login(session: str) -> bytes:
    return raw_document(
        session,
        '<command xsi:type="LoginRequest22V5" xmlns="">'
        f"<userId>gina</userId><password>{PASSWORD}</password></command>",
    )


def test_the_page_set_up_script_and_documents_are_what_the_server_does(tmp_path: Path) -> None:
    db = tmp_path / "callcodes.db"
    serve = set_up(db)
    assert serve[serve.index("--oci") + 1] == "127.0.0.1:2208"
    with OciServer(db) as server:
        run_script(server.oci[1])
        request, reply, refusal = blocks("xml")
        session = re.search(r"<sessionId[^>]*>([^<]*)<", request)
        assert session is not None
        with socket.create_connection(server.oci) as sock:
            assert b"LoginResponse22V5" in exchange(sock, login(session[1]))
            assert exchange(sock, request.encode("iso-8859-1")) == reply.encode("iso-8859-1")
            bad = "".join(
                f"<codeEntry><code>{code}</code></codeEntry>" for code in ("7777", "12a4", "1234")
            )
            answer = exchange(
                sock,
                raw_document(
                    session[1],
                    '<command xsi:type="GroupAccountAuthorizationCodesAddListRequest" xmlns="">'
                    f"<serviceProviderId>P1</serviceProviderId><groupId>acme</groupId>{bad}"
                    "</command>",
                ),
            ).decode("iso-8859-1")
    shown = ".*".join(re.escape(part) for part in refusal.strip().split("..."))
    assert re.search(shown, answer, re.S), answer
