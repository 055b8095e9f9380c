"""KEMI script for Kamailio's app_python3: account and authorization codes with callcodes.

kamailio.cfg loads this file (modparam("app_python3", "load", ...)). It only makes callcodes
importable by Kamailio's Python and hands every request to callcodes' router, configured by a
TOML file. Two environment variables of the Kamailio process may move things:

- CALLCODES_SITE: the folder(s), separated by ":", that hold callcodes and its dependencies
  (default: the virtual environment /opt/callcodes, made with Debian's python3.11);
- CALLCODES_CONFIG: the router's configuration (default: /etc/kamailio/callcodes.toml).

An error here (callcodes not found, a bad configuration, a missing store) stops Kamailio at
start-up with the reason in its log.
"""

import os
import site
import sys

SITE = os.environ.get("CALLCODES_SITE", "/opt/callcodes/lib/python3.11/site-packages")
CONFIG = os.environ.get("CALLCODES_CONFIG", "/etc/kamailio/callcodes.toml")

# site.addsitedir also reads the folders' .pth files (an editable install needs them). The
# folders go first, so that Debian's own packages in dist-packages do not shadow them.
_before = list(sys.path)
for _folder in SITE.split(os.pathsep):
    if _folder:
        site.addsitedir(_folder)
sys.path[:] = [p for p in sys.path if p not in _before] + _before

from callcodes.integrations import kamailio  # noqa: E402


def mod_init() -> kamailio.Router:
    """Called once by Kamailio before it forks its workers: the router, its policy loaded.

    Loading the policy here lets every worker share one copy of it in memory.
    """
    router = kamailio.Router.from_file(CONFIG)
    router.preload()
    return router
