"""A free port for a server a test must name before it binds one (a process it starts, a server
started again on the same port), or for a port nothing listens on.

``bind(("127.0.0.1", 0))`` gets a port from the kernel's ephemeral range, the range every socket
of the machine gets one from, the other test worker's servers and clients included: between the
probe closing it and the server binding it, the port may be handed to someone else, and the
server fails to start (or a port meant to refuse connections accepts them). These ports come
from just below that range, which the kernel never hands out: only another pick made here can
take one, and each pick is at random and checks the port is free.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

# How many ports below the ephemeral range picks come from.
SPAN = 12_000
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Not ``random``'s shared generator: a plugin seeding it alike in every worker would make the
# workers pick the same ports.
_pick = random.SystemRandom()


def _candidates() -> range | None:
    """The ports below the kernel's ephemeral range; None when too few are left there."""
    try:
        low = int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    first = max(1024, low - SPAN)
    return range(first, low) if low - first >= 1000 else None


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, outside the range the kernel hands out."""
    candidates = _candidates()
    if candidates is not None:
        for _ in range(100):
            port = _pick.choice(candidates)
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue  # taken: pick another
                return port
    with socket.socket() as probe:  # a machine whose ephemeral range leaves no room below it
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
