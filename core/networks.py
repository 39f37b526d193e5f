"""Address lists from settings (trusted proxies, networks clusters may be on)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.core.exceptions import ImproperlyConfigured

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=16)
def networks(setting: str, entries: tuple[str, ...]) -> tuple:
    """The networks a setting lists (addresses count as single-address networks); a bad entry
    stops the process with the setting's name."""
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{setting}: {exc}. Give IP addresses or networks, comma-separated."
        ) from None


def address_in(address: Address, nets: tuple) -> bool:
    return any(address in network for network in nets)
