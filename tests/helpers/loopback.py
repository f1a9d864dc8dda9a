"""Helpers for tests that start servers on this machine's loopback interface."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

TCP_LISTEN = "0A"  # the state column of /proc/net/tcp


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen[Any], timeout: float = 180) -> None:
    """Until `url` answers with a success; fails at once if `process` (the server) exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server behind {url} exited ({process.returncode})"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"no answer from {url} in {timeout} s")


def wait_for_line(log: Path, text: str, process: subprocess.Popen[Any], timeout: float = 180) -> None:
    """Until `process` has written `text` to its `log`; fails at once if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args!r} exited ({process.returncode}); see {log}"
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not in {log} after {timeout} s")


def listening(pids: Iterable[int] | None = None) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket, or only of those the processes `pids` hold; read from
    /proc (no tools needed)."""
    listeners: dict[str, tuple[str, int]] = {}  # socket inode → (address, port)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == TCP_LISTEN:
                address, port = fields[1].split(":")
                listeners[fields[9]] = (_ip(address), int(port, 16))
    if pids is None:
        return set(listeners.values())
    found = set()
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        found |= {listeners[link[8:-1]] for link in links if link.startswith("socket:[") and link[8:-1] in listeners}
    return found


def _ip(hex_address: str) -> str:
    """/proc/net/tcp's address: 32-bit words in host (little-endian) order; IPv4 mapped into IPv6 as IPv4."""
    raw = bytes.fromhex(hex_address)
    address = ipaddress.ip_address(b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4)))
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)
