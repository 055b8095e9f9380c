"""The same changes made over OCI-P, the REST API and the command line leave the same store.

Three copies of one seeded store; on each, group1 (a group administrator) makes the same
changes: local and toll-free calls let through, the user lists replaced, two codes added, one
deleted. One copy through ``callcodes serve --oci`` with the BroadWorks client, one through
the REST API, one with ``callcodes`` commands. Every group's settings, provider and codes,
and every audit record (who, what, which group, what changed) must then be equal.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ocip_server import OciServer, client
from real_server import PASSWORD, Server, seed_tenants

from callcodes.store import PolicyStore
from callcodes.store.accounts import Accounts

SP, GROUP = "P1", "p1-acme"


def seeded(path: Path) -> str:
    """Seed *path*, enable group1 for OCI-P; group1's API token."""
    tenants = seed_tenants(path)
    with PolicyStore(path) as store:
        Accounts(store).set_oci("group1", PASSWORD, actor="seed")
    return tenants.tokens["group1"]


def everything(db: Path, since: int) -> tuple[object, ...]:
    """Every group's settings, provider and codes; the audit records after the first *since*."""
    with PolicyStore(db, read_only=True) as store:
        groups = {
            group: (store.group(group), store.provider(group), list(store.iter_codes(group)))
            for group in store.groups()
        }
        audit = [(r.actor, r.action, r.group, r.detail) for r in store.audit()][since:]
    return groups, audit


def audit_size(db: Path) -> int:
    with PolicyStore(db, read_only=True) as store:
        return len(store.audit())


def over_oci(db: Path) -> None:
    with OciServer(db) as server:
        api = client(server, "group1", PASSWORD)
        target = {"service_provider_id": SP, "group_id": GROUP}
        api.command(
            "GroupAccountAuthorizationCodesModifyRequest",
            allow_local_and_toll_free_calls=True,
            **target,
        )
        lists = {
            "mandatory_usage_user_id_list": api.get_type_object(
                "ReplacementUserIdList", user_id=["alice", "carol"]
            ),
            "optional_usage_user_id_list": api.get_type_object(
                "ReplacementUserIdList", user_id=["bob"]
            ),
        }
        api.command("GroupAccountAuthorizationCodesModifyRequest", **lists, **target)
        entries = [
            api.get_type_object("AccountAuthorizationCodeEntry", code=code, description="Lobby")
            for code in ("5555", "6666")
        ]
        api.command("GroupAccountAuthorizationCodesAddListRequest", code_entry=entries, **target)
        api.command("GroupAccountAuthorizationCodesDeleteListRequest", code=["1234"], **target)
        api.close()


def over_rest(db: Path, token: str) -> None:
    with Server(db) as server:
        headers = server.headers(token)
        path = f"/api/v1/groups/{GROUP}"
        for method, url, body in (
            ("PUT", path, {"allow_local_and_toll_free": True}),
            ("PUT", f"{path}/users", {"mandatory": ["alice", "carol"], "optional": ["bob"]}),
            (
                "POST",
                f"{path}/codes",
                {"codes": [{"code": c, "description": "Lobby"} for c in ("5555", "6666")]},
            ),
            ("POST", f"{path}/codes/delete", {"codes": ["1234"]}),
        ):
            answer = server.client.request(method, url, json=body, headers=headers)
            assert answer.is_success, answer.text


def over_cli(db: Path) -> None:
    for args in (
        ["group", "set", GROUP, "--local-toll-free"],
        ["users", "set", GROUP, "--mandatory", "alice,carol", "--optional", "bob"],
        ["codes", "add", GROUP, "5555", "6666", "--description", "Lobby"],
        ["codes", "delete", GROUP, "1234"],
    ):
        subprocess.run(
            [sys.executable, "-m", "callcodes", "--db", str(db), "--actor", "group1", *args],
            check=True,
            capture_output=True,
            timeout=120,
        )


def test_oci_rest_and_cli_leave_identical_stores_and_audits(tmp_path: Path) -> None:
    oci, rest, cli = (tmp_path / f"{name}.db" for name in ("oci", "rest", "cli"))
    tokens = {db: seeded(db) for db in (oci, rest, cli)}
    since = audit_size(cli)  # the seed's records hold random token ids: compared from here
    assert audit_size(oci) == audit_size(rest) == since
    over_oci(oci)
    over_rest(rest, tokens[rest])
    over_cli(cli)
    expected = everything(cli, since)
    groups, audit = expected
    assert [entry.code for entry in groups[GROUP][2]] == ["0042", "5555", "6666"]
    assert len(audit) == 4
    assert everything(oci, since) == expected
    assert everything(rest, since) == expected
