"""Where webhooks may go: public addresses only, unless the deployment allows private ones.

A subscription's URL comes from an API caller, so a delivery is a request the platform makes on a
stranger's behalf from inside its network (server-side request forgery): to the cloud metadata
service (169.254.169.254), to localhost, to the warehouse's subnet. So:

- a URL's host must resolve, and every address it resolves to must be global (not private,
  loopback, link-local, multicast, reserved or unspecified), checked when the subscription is made
  and again at each delivery (DNS can change between the two);
- the delivery connects to the address that was checked (no second lookup that DNS rebinding
  could answer differently), with the URL's host name for the Host header and TLS verification;
- redirects are not followed (a 3xx is a failed attempt, logged like any other).

``TERRAMINER_WEBHOOK_ALLOW_PRIVATE=true`` allows private targets: the default in the embedded
environments (local, ci), where receivers run on this machine.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class EgressRefused(ValueError):
    """The URL may not be called; the message says why in one line."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope id is not part of the address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_target(url: str, allow_private: bool) -> tuple[str, str, int, str]:
    """``(scheme, host, port, address)`` to connect to, or EgressRefused."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise EgressRefused("must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise EgressRefused("must not carry credentials (user:password@); the signature authenticates the sender")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise EgressRefused("has an invalid port") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise EgressRefused(f"host {parts.hostname!r} does not resolve ({err})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not allow_private:
        private = [a for a in addresses if not _is_public(a)]
        if private:
            raise EgressRefused(
                f"host {parts.hostname!r} resolves to a non-public address ({private[0]}): webhooks go to public "
                "addresses only (TERRAMINER_WEBHOOK_ALLOW_PRIVATE=true allows private ones)"
            )
    return parts.scheme, parts.hostname, port, addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict, timeout: float, allow_private: bool) -> int:
    """POST ``body`` to ``url`` through the checked address; the response's status code."""
    scheme, host, port, address = resolve_target(url, allow_private)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = (_PinnedHTTPS if scheme == "https" else _PinnedHTTP)(host, port, address, timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 << 10)  # drain a little; the body is not used
        return response.status
    finally:
        connection.close()
