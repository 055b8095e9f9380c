"""Debian packages that the end-to-end tests need, installed with apt-get when missing.

Kamailio and sipp, PostgreSQL, Chromium and its driver: the tests install them on a fresh
machine rather than skip, and fail saying why when they cannot. apt-get waits for the package
lock, so test sessions that install at the same time take turns instead of failing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

# How long apt-get waits for another apt-get to release the package lock, in seconds.
LOCK_WAIT = 600


def install_debian_packages(log: Path, packages: Iterable[str]) -> None:
    """``apt-get update``, ``apt-get install -y`` the packages; raise with the log on failure."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", f"DPkg::Lock::Timeout={LOCK_WAIT}"]
    with log.open("ab") as out:
        for argv in (
            ["apt-get", *lock, "update"],
            ["apt-get", *lock, "install", "-y", "--no-install-recommends", *packages],
        ):
            done = subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=900, check=False
            )
            if done.returncode != 0:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{tail}")


def ensure_debian_packages(
    missing: Callable[[], list[str]], packages: Iterable[str], log: Path
) -> None:
    """Install *packages* when *missing()* names any tool; fail the test saying why otherwise.

    *missing* returns the names of the tools not found; it is asked again after installing.
    """
    absent = missing()
    if not absent:
        return
    wanted = " ".join(packages)
    if os.geteuid() != 0:
        pytest.fail(
            f"{', '.join(absent)} not installed, and installing needs root: run "
            f"apt-get install -y {wanted}"
        )
    try:
        install_debian_packages(log, packages)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"cannot install {wanted}: {exc}")
    still = missing()
    if still:
        pytest.fail(f"apt-get install ran, yet {', '.join(still)} is missing; see {log}")
