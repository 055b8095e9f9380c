"""``serve``: run the network service (REST API) on the store (extra ``[serve]``)."""

from __future__ import annotations

from pathlib import Path

import attrs
import click

from .._errors import MissingDependencyError
from ._common import JSON_OPTION, Text, echo_json, state

__all__ = ["serve"]


@click.command("serve")
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    help="HOST:PORT to listen on (port 0: any free port, printed when listening).",
)
@click.option(
    "--events",
    type=Text(2048),
    help="The SQLite event log, or a postgresql:// URL (default: the store's file or "
    "database, where `callcodes events` reads).",
)
@click.option(
    "--spool",
    type=click.Path(file_okay=False, path_type=Path),
    help="With the events in PostgreSQL (required then): the folder on this host's disk where "
    "they are journaled first, in DIR/NODE, until shipped.",
)
@click.option("--node", type=Text(100), help="This node's name in the event keys (the host name).")
@click.option(
    "--region", default="US", show_default=True, help="Dial plan region of groups without a plan."
)
@click.option(
    "--certfile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TLS certificate (PEM).",
)
@click.option(
    "--keyfile",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TLS private key (PEM).",
)
@click.option("--oci", metavar="HOST:PORT", help="Also answer BroadWorks OCI-P here (TCP).")
@click.option("--oci-tls", metavar="HOST:PORT", help="OCI-P over TLS (--certfile, --keyfile).")
@JSON_OPTION
def serve(
    *,
    listen: str,
    events: str | None,
    spool: Path | None,
    node: str | None,
    region: str,
    certfile: Path | None,
    keyfile: Path | None,
    oci: str | None,
    oci_tls: str | None,
    as_json: bool,
) -> None:
    """Serve the REST API on the store until SIGTERM (requests in flight are finished).

    Once it accepts connections it says where on standard error (with --json: a JSON object
    {"listening": URL} on standard output).
    """
    try:
        from ..service.config import ServiceConfig  # noqa: PLC0415 - the optional extra
        from ..service.ocip import check_address  # noqa: PLC0415
        from ..service.run import announce, parse_listen  # noqa: PLC0415
        from ..service.run import serve as run  # noqa: PLC0415
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "litestar", "serve", "callcodes serve") from None
    if oci_tls is not None and (certfile is None or keyfile is None):
        raise click.UsageError("--oci-tls needs --certfile and --keyfile")
    ocis: list[tuple[str, int] | None] = []
    for text, option in ((oci, "--oci"), (oci_tls, "--oci-tls")):
        where = None if text is None else parse_listen(text, option)
        if where is not None:
            check_address(*where, option)
        ocis.append(where)
    db = state().db
    state().store(create=True).close()  # a new store is created, an unusable file refused
    tls = None if certfile is None or keyfile is None else (certfile, keyfile)
    config = ServiceConfig(
        db, events, region=region, oci=ocis[0], oci_tls=ocis[1], tls=tls, spool=spool
    )
    if node is not None:
        config = attrs.evolve(config, node=node)
    run(
        config,
        listen,
        certfile=certfile,
        keyfile=keyfile,
        on_ready=_ready_json if as_json else announce,
    )


def _ready_json(where: str) -> None:
    echo_json({"listening": where})
