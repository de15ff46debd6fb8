"""Which addresses a download may reach: public ones only, unless the user allows more.

The download client's request hook resolves each hop's host and refuses loopback, private
and link-local addresses (cloud metadata at 169.254.169.254, admin ports), judging an IPv6
address that embeds an IPv4 one by both, so a URL from a user cannot reach internal services.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection

import anyio
import httpx

from .errors import DownloadError
from .redact import redact_url

__all__ = ["AddressGuard", "address_kind"]


def address_kind(address: str) -> str | None:
    """Why `address` is not a public one ("loopback", "link-local", "private"), or None.

    An IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
    `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`, Teredo) reaches that
    IPv4 host through a translator, so it is judged by the IPv4 address as well as by its
    own class, whichever is stricter; site-local `fec0::/10` and local-use NAT64
    `64:ff9b:1::/48`, which older Pythons call global, are private.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # the IPv4 host itself, on a dual-stack socket
    for candidate in (ip, *_embedded(ip)):
        kind = _own_kind(candidate)
        if kind is not None:
            return kind
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if isinstance(ip, ipaddress.IPv4Address):
        return []
    found = [ip.sixtofour] if ip.sixtofour is not None else []
    if ip.teredo is not None:
        found += list(ip.teredo)
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # not :: or ::1
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _own_kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"  # 169.254.169.254 is the cloud metadata service
    site_local = isinstance(ip, ipaddress.IPv6Address) and (ip.is_site_local or ip in _NAT64_LOCAL)
    if ip.is_multicast or not ip.is_global or site_local:
        return "private"
    return None


class AddressGuard:
    """The download client's request hook: refuses hosts that resolve to loopback, private
    or link-local addresses before connecting.

    httpx runs request hooks before every redirect hop, so every hop is checked. A hook and
    not a transport, because httpx applies the environment's proxies only to transports it
    builds itself. The host is resolved here and again when connecting; a name that changes
    its answers in between (DNS rebinding) is not caught (SECURITY.md). A name that does not
    resolve here is refused, even behind a proxy that could resolve it: what it points to
    cannot be checked. Hosts served by an in-process mount (the fake provider's) never reach
    the network.
    """

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        allow_private: bool = False,
        mounted: Collection[str] = (),
    ) -> None:
        self.allow_loopback = allow_loopback or allow_private
        self.allow_private = allow_private
        self.mounted = {httpx.URL(m).host for m in mounted}

    async def __call__(self, request: httpx.Request) -> None:
        if not self.allow_private and request.url.host not in self.mounted:
            await self._check(request.url)

    async def _check(self, url: httpx.URL) -> None:
        host = url.host
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                infos = await anyio.getaddrinfo(host, url.port or 443, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise DownloadError(
                    f"Refusing to download {redact_url(str(url))}: {host} does not resolve "
                    f"here ({exc.strerror or exc}), so where it points cannot be checked.",
                    hint=f"Check that {host} resolves from this machine (DNS); behind a proxy "
                    "that resolves names for you, set download_allow_private = true in your "
                    "own config to leave the check to the proxy.",
                ) from None
            addresses = [str(info[4][0]) for info in infos]
        for address in addresses:
            kind = address_kind(address)
            if kind is None or (kind == "loopback" and self.allow_loopback):
                continue
            raise DownloadError(
                f"Refusing to download {redact_url(str(url))}: {host} is a {kind} address "
                f"({address}); videoprovider does not fetch from internal addresses.",
                hint="If that server is yours, set download_allow_private = true in your own "
                "config (or VIDEOPROVIDER_DOWNLOAD_ALLOW_PRIVATE=1).",
            )
