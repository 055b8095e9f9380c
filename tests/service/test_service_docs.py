"""docs/service.md is true: its ``curl`` examples run against a real server and print what it shows.

The page's convention, which every ```` ```console ```` block of it follows:

- A line starting with ``$ `` is a command; the lines under it, up to the next command, are
  what it prints. ``...`` in them stands for any text (times, tokens, ids); a line of ``...``
  alone stands for any number of lines (a long answer shortened).
- ``$ callcodes ...`` runs the command line on the page's store (as ``ann``);
  ``$ printf '%s\\n' 'TEXT' | callcodes ...`` gives it TEXT on standard input.
- ``$ NAME=$(COMMAND)`` runs COMMAND and keeps what it prints on standard output (its first
  line) as ``$NAME``; ``... | jq -r .FIELD`` keeps that field of a JSON answer. The lines under
  it are what COMMAND prints on standard error.
- ``$ curl ...`` is sent to the page's server, ``$URL``: the options read are ``-s``, ``-X``,
  ``-H``, ``-d``/``--data``/``--data-binary`` (``@FILE``: a file of the page) and ``--json``
  (a JSON body, as curl 7.82 sends it). The answer's body is what it prints: JSON indented by
  two spaces (curl prints it on one line; ``| python3 -m json.tool`` indents it), other text
  (CSV, metrics) as lines.
- ``<!-- file: NAME -->`` before a fenced block: a file the commands read, written first.

Blocks of other languages (``sh``) show commands that are not run (installing, starting the
server). The test starts one ``callcodes serve`` on a new store for the whole page.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from real_server import Server

from callcodes.cli import main
from callcodes.service import ServiceConfig, create_app
from doc_examples import CONSOLE, matches, steps

PAGE = Path(__file__).resolve().parents[2] / "docs" / "service.md"
ASSIGN = re.compile(r"^(?P<name>[A-Z_][A-Z0-9_]*)=\$\((?P<command>.*)\)$")
STDIN = re.compile(r"^printf '%s\\n' '(?P<text>[^']*)' \| (?P<command>callcodes .*)$")
JQ = re.compile(r"^(?P<command>curl .*) \| jq -r \.(?P<field>\w+)$")


def expand(word: str, variables: Mapping[str, str]) -> str:
    """*word* with ``$NAME`` and ``${NAME}`` replaced by the page's variables."""
    return re.sub(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", lambda m: variables.get(m[1], m[0]), word)


def curl(command: str, variables: Mapping[str, str], folder: Path) -> httpx.Response:
    """Send the request a ``curl`` command line describes; its answer."""
    words = [expand(word, variables) for word in shlex.split(command)]
    assert words[0] == "curl", command
    method: str | None = None
    headers: dict[str, str] = {}
    body: bytes | None = None
    url = None
    rest = iter(words[1:])
    for word in rest:
        if word in ("-s", "--silent", "-S", "--show-error", "-f", "--fail"):
            continue
        if word in ("-X", "--request"):
            method = next(rest)
        elif word in ("-H", "--header"):
            name, _, value = next(rest).partition(":")
            headers[name.strip()] = value.strip()
        elif word in ("-d", "--data", "--data-binary", "--json"):
            value = next(rest)
            body = (folder / value[1:]).read_bytes() if value.startswith("@") else value.encode()
            if word == "--json":
                headers.setdefault("Content-Type", "application/json")
                headers.setdefault("Accept", "application/json")
            else:
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif word.startswith("-"):
            raise AssertionError(f"curl option {word} is not one the page's test reads")
        else:
            url = word
    assert url is not None, command
    method = method or ("POST" if body is not None else "GET")
    with httpx.Client(timeout=30.0) as client:
        return client.request(method, url, headers=headers, content=body)


def shown(response: httpx.Response) -> list[str]:
    """The lines an answer's body shows on the page: JSON indented, text as lines."""
    text = response.content.decode("utf-8").removeprefix("\ufeff")
    if response.headers.get("content-type", "").split(";")[0].endswith("json") and text:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return text.replace("\r\n", "\n").rstrip("\n").splitlines()


def run_callcodes(command: str, db: Path) -> tuple[Any, list[str]]:
    """Run a ``callcodes`` line (with its ``printf`` input); the result and its output lines."""
    given = None
    piped = STDIN.match(command)
    if piped:
        given, command = piped["text"] + "\n", piped["command"]
    argv = shlex.split(command)
    assert argv[0] == "callcodes", command
    result = CliRunner().invoke(
        main, argv[1:], input=given, env={"CALLCODES_DB": str(db), "CALLCODES_ACTOR": "ann"}
    )
    return result, result.output.rstrip("\n").splitlines()


def lines_match(expected: list[str], got: list[str]) -> bool:
    """Whether *got* is what the page shows: line by line, a line ``...`` alone for any lines."""
    if not expected:
        return not got
    if expected[0].strip() == "...":
        return any(lines_match(expected[1:], got[start:]) for start in range(len(got) + 1))
    return (
        bool(got)
        and matches(expected[0].rstrip(), got[0].rstrip())
        and lines_match(expected[1:], got[1:])
    )


def compare(command: str, expected: list[str], got: list[str]) -> None:
    """The lines *got* are those the page shows under *command*."""
    shown_here = "\n".join(expected)
    assert lines_match(expected, got), (
        f"$ {command}\ngot:\n" + "\n".join(got) + (f"\nthe page shows:\n{shown_here}")
    )


def run_page(text: str, folder: Path) -> Iterator[str]:
    """Run every step of the page in *folder*, checking each output; yield each command."""
    db = folder / "callcodes.db"
    run_callcodes("callcodes group list", db)  # the store exists before the server opens it
    with Server(db) as server:
        variables = {"URL": server.url}
        for kind, what, expected in steps(text):
            if kind == "file":
                (folder / what).write_text("\n".join(expected) + "\n", encoding="utf-8")
                continue
            assigned = ASSIGN.match(what)
            command = assigned["command"] if assigned else what
            field = JQ.match(command)
            if field:
                command = field["command"]
            if command.startswith("curl "):
                response = curl(command, variables, folder)
                got = shown(response)
                if assigned:
                    value = response.json()[field["field"]] if field else response.text
                    variables[assigned["name"]] = str(value).strip()
                    got = []
            else:
                result, got = run_callcodes(command, db)
                wanted_status = 1 if expected and expected[0].startswith("Error:") else 0
                assert result.exit_code == wanted_status, f"$ {what}\n{result.output}"
                if assigned:
                    variables[assigned["name"]] = result.stdout.splitlines()[0].strip()
                    got = result.stderr.rstrip("\n").splitlines()
            compare(what, expected, got)
            yield what


class TestServicePage:
    """docs/service.md's examples."""

    def test_every_example_runs_and_prints_what_the_page_shows(self, tmp_path: Path) -> None:
        """Every console line of the page runs, in order, and prints what the page shows."""
        text = PAGE.read_text(encoding="utf-8")
        ran = list(run_page(text, tmp_path))
        commands = [line for m in CONSOLE.finditer(text) for line in m["body"].splitlines()]
        assert len(ran) == len([line for line in commands if line.startswith("$ ")])
        assert sum(1 for line in ran if "curl " in line) >= 15

    def test_every_route_has_an_example(self, tmp_path: Path) -> None:
        """Each API route the application serves (but the OpenAPI document) has a curl example.

        The portal's pages (left out of the API document) are the portal page's business.
        """
        text = PAGE.read_text(encoding="utf-8")
        examples = [what for kind, what, _ in steps(text) if kind == "command" and "curl " in what]
        joined = "\n".join(examples)
        app = create_app(ServiceConfig(tmp_path / "unused.db"))
        # The OpenAPI document's own routes (its root, its file, its plugins' paths) aside.
        served = {
            route.path
            for route in app.routes
            if any(h.resolve_include_in_schema() for h in getattr(route, "route_handlers", []))
        }
        paths = {p for p in served if p != "/api/v1" and "openapi" not in p and "{path:" not in p}
        assert "/api/v1/decide" in paths
        for path in sorted(paths):
            pattern = re.escape(path).replace(re.escape("{group:str}"), r"[^/\s\"?]+")
            assert re.search(pattern + r"(?![\w/])", joined), path
        for method in ("PUT", "PATCH", "DELETE"):
            assert f"-X {method}" in joined, method
