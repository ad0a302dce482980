"""Sending one webhook POST to an employer's endpoint without letting the endpoint reach inside.

A webhook URL is typed by an employer, so it may name anything the offhours server can reach:
its own loopback services, the database on the private network, the cloud provider's metadata
service holding credentials. Two checks keep deliveries on the public internet:

* `check_url`, when an endpoint is created or changed: the URL's form, and every address its host
  resolves to, so that the employer learns at once what to fix;
* `post`, at every delivery: the host is resolved again and the request goes to one of the
  addresses just checked (the connection is *pinned* to it), so that a DNS answer changed since
  (DNS rebinding) cannot send the request somewhere else. Redirects are never followed.

Pure library code: no settings, no database. The caller passes ``allow_private`` (the setting
OFFHOURS_WEBHOOK_ALLOW_PRIVATE, for development and tests) and ``development``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import errno
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2000
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "offhours-webhooks/1"
# How long check_url waits for DNS before refusing the URL as unresolvable.
CHECK_DNS_TIMEOUT = 10.0

ALLOW_PRIVATE_HINT = "set OFFHOURS_WEBHOOK_ALLOW_PRIVATE=true for development and tests"
HTTPS_HINT = (
    "plain http:// is accepted only with OFFHOURS_ENVIRONMENT=development or "
    "OFFHOURS_WEBHOOK_ALLOW_PRIVATE=true"
)


class RefusedAddress(ValueError):
    """The webhook URL, or an address its host resolves to, is not one offhours delivers to.
    The message says what to change."""


class DeliveryFailed(Exception):
    """The request got no HTTP answer. ``reason`` is short and never holds the URL's path or
    query (which may carry the employer's secrets): it is shown in delivery logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------------------------ address classes

# The addresses of cloud providers' metadata services (instance credentials live there): AWS,
# GCP, Azure and Oracle (169.254.169.254), AWS ECS task credentials (169.254.170.2), AWS EKS pod
# identity (169.254.170.23 and fd00:ec2::23), Oracle's older one (192.0.0.192), Alibaba Cloud
# (100.100.100.200) and AWS over IPv6 (fd00:ec2::254). Named before the wider class they fall in.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "192.0.0.192",
        "100.100.100.200",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)

_V4_CLASSES: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(network), name)
    for network, name in (
        ("0.0.0.0/8", "unspecified"),  # "this network"; connecting to 0.0.0.0 reaches the host itself
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),  # the retired 6to4 relay anycast
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)

_V6_CLASSES: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(network), name)
    for network, name in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "private"),  # NAT64 for local use (RFC 8215)
        ("100::/64", "reserved"),  # discard-only
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("2001::/23", "reserved"),  # IETF protocol assignments: Teredo, benchmarking, ORCHID
        ("fc00::/7", "private"),  # unique local
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)

_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")


def refused_class(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """None when offhours may deliver to the address (a public one); otherwise the name of its
    class, as said in refusals: "loopback", "private", "link-local", "cloud metadata",
    "unspecified", "multicast", "shared (carrier-grade NAT)", "documentation", "reserved"...

    An IPv6 address that carries an IPv4 one (IPv4-mapped ``::ffff:127.0.0.1``, IPv4-compatible
    ``::127.0.0.1``, NAT64 ``64:ff9b::7f00:1``, 6to4 ``2002:7f00:1::``) is judged by the IPv4
    address inside: that is where the packets end up."""
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(int(address))  # without a zone (fe80::1%eth0)
        inner = _embedded_ipv4(address)
        if inner is not None:
            return refused_class(inner)
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv4Address):
        for v4_network, name in _V4_CLASSES:
            if address in v4_network:
                return name
    else:
        for v6_network, name in _V6_CLASSES:
            if address in v6_network:
                return name
        if address not in _GLOBAL_UNICAST:
            return "reserved"  # not allocated for unicast use
    # Anything the standard library knows as not globally reachable and not named above.
    return None if address.is_global else "reserved"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in _V4_MAPPED:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    if address in _V4_COMPATIBLE and int(address) > 1:  # :: and ::1 are themselves
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


# --------------------------------------------------------------------------------------- DNS


async def getaddrinfo(
    host: str, port: int, *, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[tuple[Any, ...]]:
    """The event loop's getaddrinfo. `resolve` calls it through this module attribute, so that
    tests can answer DNS questions themselves."""
    loop = asyncio.get_running_loop()
    answers = await loop.getaddrinfo(host, port, family=family, type=type, proto=proto, flags=flags)
    return [tuple(answer) for answer in answers]


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, once each, in the resolver's order. An IP literal
    (``[::1]`` brackets allowed) is its own answer. Raises OSError (socket.gaierror) when the name
    does not resolve."""
    literal = _ip_literal(host)
    if literal is not None:
        return [str(literal)]
    answers = await getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} has no addresses")
    return addresses


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def _resolve_blocking(host: str, port: int) -> list[str]:
    """`resolve`, for synchronous callers: on an event loop of its own in a helper thread, so that
    it works whether or not the calling thread runs a loop (and never replaces that loop)."""

    def run() -> list[str]:
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(resolve(host, port), CHECK_DNS_TIMEOUT))
        finally:
            loop.close()  # does not wait for a lookup still running in the executor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="offhours-webhook-dns") as pool:
        return pool.submit(run).result()


# ------------------------------------------------------------------------------- the URL's form


def check_url(url: str, *, allow_private: bool, development: bool) -> str:
    """Check an endpoint's URL when it is created or changed; return it with surrounding
    whitespace removed. Raises RefusedAddress, saying what to fix, for: a scheme other than http
    or https; plain http unless ``allow_private`` or ``development``; no host; a user name or
    password in the URL; a fragment; more than 2000 characters; a host that is an IP address of a
    refused class (see `refused_class`), or a name that does not resolve or resolves to any such
    address.

    ``allow_private`` lifts the https rule and the address rules (no DNS lookup is made then: the
    delivery resolves the name anyway). ``development`` lifts only the https rule.

    Blocking: the host is resolved here (up to 10 s). From async code, call it through
    ``asyncio.to_thread``."""
    url = url.strip()
    target = _parse(url)
    if target.scheme == "http" and not (allow_private or development):
        raise RefusedAddress(f"webhook URL must start with https:// ({HTTPS_HINT})")
    if allow_private:
        return url
    host = target.raw_host.decode("ascii")
    literal = _ip_literal(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = _resolve_blocking(host, target.port or _default_port(target))
        except (OSError, TimeoutError) as error:
            raise RefusedAddress(
                f"webhook URL host {host} does not resolve to an address; check the host name"
            ) from error
    _refuse_private(host, addresses, when="")
    return url


def _parse(url: str) -> httpx.URL:
    """The URL as httpx will send it, after the rules on its form."""
    if not url:
        raise RefusedAddress("webhook URL is empty; give the https:// address of your receiver")
    if len(url) > MAX_URL_LENGTH:
        raise RefusedAddress(f"webhook URL is longer than {MAX_URL_LENGTH} characters; shorten it")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url) or "\\" in url:
        raise RefusedAddress(
            "webhook URL contains spaces, control characters or backslashes; percent-encode them"
        )
    if "#" in url:
        raise RefusedAddress("webhook URL must not have a fragment (#...); remove it")
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise RefusedAddress(f"webhook URL is not a valid URL ({error})") from error
    if target.scheme not in ("http", "https"):
        scheme = f"{target.scheme}://" if target.scheme else "no scheme"
        raise RefusedAddress(f"webhook URL must start with https:// (got {scheme})")
    if not target.raw_host:
        raise RefusedAddress("webhook URL has no host; give it as https://host/path")
    if target.userinfo:
        raise RefusedAddress(
            "webhook URL must not contain a user name or password (user:password@); "
            "remove them: offhours signs every message instead"
        )
    if target.port is not None and not 0 < target.port < 65536:
        raise RefusedAddress(f"webhook URL port {target.port} is not between 1 and 65535")
    return target


def _default_port(target: httpx.URL) -> int:
    return 443 if target.scheme == "https" else 80


def _refuse_private(host: str, addresses: list[str], *, when: str) -> None:
    """RefusedAddress naming the first address of a refused class, if any."""
    for text in addresses:
        name = refused_class(ipaddress.ip_address(text))
        if name is None:
            continue
        article = "an" if name[0] in "aeiou" else "a"
        if _ip_literal(host) is not None:
            what = f"webhook URL host {host} is {article} {name} address"
        else:
            what = f"webhook URL host {host} resolves{when} to {text}, {article} {name} address"
        raise RefusedAddress(f"{what}; offhours delivers only to public addresses ({ALLOW_PRIVATE_HINT})")


# ------------------------------------------------------------------------------------ delivery


@dataclass(frozen=True)
class Answer:
    """The receiver's HTTP answer to a delivery."""

    status_code: int
    retry_after: float | None  # seconds the receiver asked us to wait (Retry-After), never negative
    elapsed_ms: int


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds ("120") or an HTTP-date
    ("Wed, 21 Oct 2015 07:28:00 GMT", counted from ``now``; a date past gives 0). None when the
    header is absent or not understood. A naive ``now`` is taken as UTC."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


_default_tls: ssl.SSLContext | None = None


def _tls(verify: ssl.SSLContext | bool) -> ssl.SSLContext | bool:
    """The default certificate store is loaded once per process, not once per delivery."""
    global _default_tls
    if verify is not True:
        return verify
    if _default_tls is None:
        _default_tls = httpx.create_ssl_context()
    return _default_tls


async def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,  # noqa: ASYNC109 - the bound is part of the delivery, callers do not wrap it
    allow_private: bool,
    verify: ssl.SSLContext | bool = True,
) -> Answer:
    """POST ``body`` to ``url`` and return the receiver's answer (any status, 3xx included:
    redirects are not followed).

    The host is resolved now; unless ``allow_private``, RefusedAddress is raised if any of its
    addresses is of a refused class. The request then goes to the first address, pinned: the URL's
    host is replaced by that address, the Host header keeps the name (and port), and for https the
    TLS server name (SNI) and the certificate check use the name. Everything (DNS, connect, send,
    answer) takes at most ``timeout`` seconds; up to 64 KiB of the answer's body is read and
    dropped. Raises DeliveryFailed when no HTTP answer came (timeout, connection refused, TLS or
    protocol error). Content-Type (application/json) and User-Agent are set unless given."""
    started = time.monotonic()
    target = _parse(url.strip())
    host = target.raw_host.decode("ascii")
    port = target.port or _default_port(target)
    deadline = asyncio.get_running_loop().time() + timeout
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                verify=_tls(verify),
                timeout=httpx.Timeout(timeout),
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment: the request goes to the checked address
            )
        )
        try:
            async with asyncio.timeout_at(deadline):
                try:
                    addresses = await resolve(host, port)
                except OSError as error:
                    raise DeliveryFailed(f"host {host} does not resolve") from error
                if not allow_private:
                    _refuse_private(host, addresses, when=" at delivery")
                request = _pinned_request(client, target, addresses[0], body, headers)
                response = await client.send(request, stream=True)
        except TimeoutError as error:
            raise DeliveryFailed(f"timed out after {timeout:g} s") from error
        except httpx.HTTPError as error:
            raise DeliveryFailed(_reason(error, timeout)) from error
        stack.push_async_callback(response.aclose)
        try:
            # The status is the answer: a body cut short or too slow does not change it.
            async with asyncio.timeout_at(deadline):
                await _drain(response)
        except (TimeoutError, httpx.HTTPError):
            pass
    return Answer(
        status_code=response.status_code,
        retry_after=parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC)),
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )


def _pinned_request(
    client: httpx.AsyncClient, target: httpx.URL, address: str, body: bytes, headers: dict[str, str]
) -> httpx.Request:
    """The request to ``address``, saying the URL's name in Host and (for https) in TLS."""
    given = {name.lower() for name in headers}
    sent = {name: value for name, value in headers.items() if name.lower() != "host"}
    if "content-type" not in given:
        sent["Content-Type"] = "application/json"
    if "user-agent" not in given:
        sent["User-Agent"] = USER_AGENT
    sent["Host"] = target.netloc.decode("ascii")  # the name and port as written, not the address
    extensions: dict[str, Any] = {}
    name = target.raw_host.decode("ascii")
    if target.scheme == "https" and _ip_literal(name) is None:
        extensions["sni_hostname"] = name  # the certificate is checked against this name too
    pinned = target.copy_with(host=address.partition("%")[0])
    return client.build_request("POST", pinned, content=body, headers=sent, extensions=extensions)


async def _drain(response: httpx.Response) -> None:
    received = 0
    async for chunk in response.aiter_raw():  # raw: a compressed answer is not inflated
        received += len(chunk)
        if received >= MAX_ANSWER_BYTES:
            return


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it, down the chain (and into exception groups)."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.EADDRNOTAVAIL: "address not available",
}


def _reason(error: httpx.HTTPError, timeout: float) -> str:
    """A short account of why no answer came, built here (never from texts that may quote the URL)."""
    if isinstance(error, httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    causes = list(_causes(error))
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted ({cause.verify_message})"
    if any(isinstance(cause, ssl.SSLError) for cause in causes):
        return "TLS handshake failed"
    for cause in causes:
        if isinstance(cause, OSError) and cause.errno in _ERRNO_REASONS:
            return _ERRNO_REASONS[cause.errno]
    if isinstance(error, httpx.ConnectError):
        return "could not connect"
    if isinstance(error, httpx.RemoteProtocolError):
        if "disconnected" in str(error).lower():
            return "connection closed without an answer"
        return "the answer was not valid HTTP"
    if isinstance(error, httpx.ReadError):
        return "connection lost before an answer"
    if isinstance(error, httpx.WriteError):
        return "connection lost while sending"
    return f"request failed ({type(error).__name__})"
