"""Where ``serve`` listens versus the public URL it hands out (presigned local-store URLs).

The public URL is what edge workers and browsers are told to use. When it names a scheme, port
or host this process does not answer, every presigned snapshot link is dead unless a reverse
proxy sits in front: ``serve`` says so at start instead of leaving it to a broken image later.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from appliance.config import Settings

WILDCARDS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - compared against, never bound here
DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _addresses(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return set()


def public_url_problem(settings: Settings) -> str | None:
    """Why ``settings.base_url`` would not reach this server bound to host:port; None when it would."""
    if not settings.public_url:
        if settings.host in WILDCARDS:
            return (
                f"no APPLIANCE_PUBLIC_URL and the bind address {settings.host or '*'} is a wildcard, so "
                f"URLs name {settings.base_url}, which no client can use; set APPLIANCE_PUBLIC_URL"
            )
        return None  # derived from host:port, so it names this server by construction
    parts = urlsplit(settings.public_url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return f"APPLIANCE_PUBLIC_URL={settings.public_url!r} is not an http(s) URL with a host"
    if scheme == "https":
        return f"APPLIANCE_PUBLIC_URL={settings.public_url} is https but this server answers plain http"
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        return f"APPLIANCE_PUBLIC_URL={settings.public_url!r} has an invalid port"
    if port != settings.port:
        return (
            f"APPLIANCE_PUBLIC_URL={settings.public_url} names port {port}, "
            f"this server listens on {settings.port}"
        )
    if settings.host in WILDCARDS:
        return None
    if _is_loopback(settings.host):
        if _is_loopback(parts.hostname) or all(_is_loopback(a) for a in _addresses(parts.hostname) or {"-"}):
            return None
        return (
            f"APPLIANCE_PUBLIC_URL={settings.public_url} names {parts.hostname}, but this server listens on "
            f"{settings.host} only (other machines cannot reach it)"
        )
    if parts.hostname == settings.host or settings.host in _addresses(parts.hostname):
        return None
    return (
        f"APPLIANCE_PUBLIC_URL={settings.public_url} names {parts.hostname}, which does not resolve to "
        f"{settings.host} where this server listens"
    )
