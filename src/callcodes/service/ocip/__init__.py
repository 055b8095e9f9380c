"""``callcodes.service.ocip``: BroadWorks OCI-P for the Account/Authorization Codes commands.

Provisioning tools written for Cisco BroadWorks drive callcodes unchanged: ``callcodes serve
--oci HOST:PORT`` (and ``--oci-tls``) answers their XML documents with the service's accounts,
tenancy, store and audit. ``documents`` reads and writes the XML, ``session`` logs in and
dispatches, ``commands`` answers the commands, ``listener`` runs the sockets.
"""

from __future__ import annotations

from .listener import Listener, check_address, listeners

__all__ = ["Listener", "check_address", "listeners"]
