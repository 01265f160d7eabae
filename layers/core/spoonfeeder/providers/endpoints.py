"""Which endpoint URLs a user may point a provider at. Our worker and API call them with the user's key, so an
endpoint must not reach anything that is not a public API (server-side request forgery): the instance metadata
address (169.254.169.254), the Lambda runtime API on loopback, or hosts inside a VPC.

Rule: `https://` with a host name or address that is public. Refused: userinfo (`user:pass@`), loopback,
private, link-local, shared, reserved, multicast and unspecified addresses (IPv4 and IPv6, IPv4-mapped
included), and names that are local by definition (`localhost`, `*.localhost`, `*.local`, `*.internal`,
`*.home.arpa`). A name is checked again where it is used, after resolving it: every address it resolves to must
be public. Hosts on the operator's allow-list (setting PROVIDER_ENDPOINT_ALLOWED_HOSTS: a proxy inside the
network; the local cloud's fakes on 127.0.0.1) may be private and plain http.

A name that resolves to a public address when checked and to a private one when the SDK connects (DNS
rebinding) is not caught; Lambda functions outside a VPC reach no private network, which bounds that gap.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from spoonfeeder.errors import ValidationFailed

LOCAL_NAMES = ("localhost",)
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")

Resolve = Callable[[str], Iterable[str]]
#: A DNS name in letters, digits and hyphens, at least two labels (international names in their punycode form).
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")


class EndpointRefused(ValidationFailed):
    code = "ENDPOINT_NOT_ALLOWED"


def allowed_hosts(setting: str) -> frozenset[str]:
    """The allow-list from its comma-separated setting."""
    return frozenset(host.strip().lower().strip("[]") for host in setting.split(",") if host.strip())


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone index names no other address
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_global and not (mapped or ip).is_multicast


def _host(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        raise EndpointRefused("endpoint_url is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise EndpointRefused("endpoint_url must be an https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("endpoint_url must not carry a user name or password")
    if parts.query or parts.fragment:
        raise EndpointRefused("endpoint_url must not have a query or fragment")
    return parts.scheme, parts.hostname.lower().rstrip(".")


def check_url(url: str, allowed: frozenset[str]) -> str:
    """The URL if its form and host are allowed, else EndpointRefused (400). Names are not resolved here."""
    if not url.isascii() or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise EndpointRefused("endpoint_url must be ASCII without spaces or control characters "
                              "(international names in punycode)")
    scheme, host = _host(url)
    if host in allowed:
        return url
    if scheme != "https":
        raise EndpointRefused("endpoint_url must use https")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and not _public(host):
        raise EndpointRefused("endpoint_url must not point at a private, loopback, link-local or reserved address")
    if literal is None and (host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES) or not _HOST_NAME.match(host)):
        raise EndpointRefused("endpoint_url must name a public host")
    if literal is None and (host.replace(".", "").isdigit() or host.startswith("0x")):
        # 127.1, 2130706433, 0x7f000001: resolvers read these as addresses
        raise EndpointRefused("endpoint_url must write an IP address in its usual form")
    return url


def resolve_addresses(host: str) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]


def check_resolved(url: str, allowed: frozenset[str], resolve: Resolve = resolve_addresses) -> str:
    """check_url, then every address the host resolves to must be public (unless allow-listed). A name that
    does not resolve passes: the provider call then fails to connect, as for any unreachable endpoint."""
    check_url(url, allowed)
    _, host = _host(url)
    if host in allowed:
        return url
    try:
        addresses = list(resolve(host))
    except OSError:
        return url
    if not all(_public(address) for address in addresses):
        raise EndpointRefused("endpoint_url resolves to a private, loopback, link-local or reserved address")
    return url
