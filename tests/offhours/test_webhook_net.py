"""Webhook delivery's network side (offhours/webhooks/net.py): which URLs an employer may give,
which addresses a delivery may reach, and what a real receiver gets.

Everything is real (the receivers are HTTP and HTTPS servers on 127.0.0.1, the certificate is made
here) except DNS: names cannot be registered from a test, so the `dns` fixture answers for the
module instead of the system resolver. It is the only fake in this file."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from offhours.webhooks import net
from offhours.webhooks.net import (
    Answer,
    DeliveryFailed,
    RefusedAddress,
    check_url,
    parse_retry_after,
    post,
    refused_class,
    resolve,
)

# ------------------------------------------------------------------------------------ fake DNS


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """FAKE DNS (the one fake here): a name maps to the addresses it resolves to; any other name
    does not resolve. Change an entry between two calls to play a rebinding attacker."""
    answers: dict[str, list[str]] = {}

    async def getaddrinfo(host: str, port: int, **options: int) -> list[tuple[Any, ...]]:
        assert options == {"type": socket.SOCK_STREAM}
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        found: list[tuple[Any, ...]] = []
        for text in answers[host]:
            if ipaddress.ip_address(text).version == 6:
                found.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (text, port, 0, 0)))
            else:
                found.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (text, port)))
        return found

    monkeypatch.setattr(net, "getaddrinfo", getaddrinfo)
    return answers


# ----------------------------------------------------------------------------- real receivers


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]  # names lowercased
    body: bytes


@dataclass
class Receiver:
    """A small HTTP/1.1 server on 127.0.0.1: it records each request, then answers as told."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    silent: bool = False  # read the request, never answer
    hang_up: bool = False  # read the request, close without a word
    raw: bytes | None = None  # answer these bytes instead of HTTP
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    server_names: list[str | None] = field(default_factory=list)  # TLS SNI seen
    port: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await self._exchange(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away (a cut-short answer, a refused certificate)
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ")
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Received(method, target, headers, body))
        if self.silent:
            await asyncio.Event().wait()  # until the test ends and cancels it
        if self.hang_up:
            return
        if self.raw is not None:
            writer.write(self.raw)
        else:
            extra = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
            writer.write(
                f"HTTP/1.1 {self.status} Answer\r\nContent-Length: {len(self.body)}\r\n"
                f"Connection: close\r\n{extra}\r\n".encode("latin-1")
                + self.body
            )
        await writer.drain()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _serve(receiver: Receiver, tls: ssl.SSLContext | None) -> AsyncIterator[Receiver]:
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0, ssl=tls)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        await receiver.stop()
        await server.wait_closed()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for running in _serve(Receiver(), None):
        yield running


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path
    pem: str

    def trusted(self) -> ssl.SSLContext:
        """A client context trusting only this certificate."""
        return ssl.create_default_context(cadata=self.pem)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for the name receiver.test."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "receiver.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("receiver.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    (folder / "cert.pem").write_text(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(folder / "cert.pem", folder / "key.pem", pem)


@pytest.fixture
async def tls_receiver(certificate: Certificate) -> AsyncIterator[Receiver]:
    receiver = Receiver()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert_file, certificate.key_file)

    def note_server_name(_sock: ssl.SSLObject, server_name: str | None, _context: ssl.SSLContext) -> None:
        receiver.server_names.append(server_name)

    context.sni_callback = note_server_name
    async for running in _serve(receiver, context):
        yield running


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------ address classes

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("100.64.0.1", "shared (carrier-grade NAT)"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.1", "documentation"),
    ("2001:db8::1", "documentation"),
    # IPv6 forms carrying an IPv4 address are judged by it.
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("::127.0.0.1", "loopback"),  # IPv4-compatible
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
]

PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "2001:4860:4860::8888", "::ffff:93.184.216.34"]


def _in_url(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize(("address", "name"), REFUSED)
def test_an_address_of_each_refused_class_is_named_by_its_class(address: str, name: str) -> None:
    assert refused_class(ipaddress.ip_address(address)) == name


@pytest.mark.parametrize(("address", "name"), REFUSED)
def test_a_url_naming_a_refused_address_is_refused_with_its_class(address: str, name: str) -> None:
    with pytest.raises(RefusedAddress) as refused:
        check_url(f"https://{_in_url(address)}/hook", allow_private=False, development=False)
    message = str(refused.value)
    assert f"{name} address" in message
    assert "OFFHOURS_WEBHOOK_ALLOW_PRIVATE=true" in message
    # Development lifts only the https rule, never the address rule.
    with pytest.raises(RefusedAddress, match="address"):
        check_url(f"http://{_in_url(address)}/hook", allow_private=False, development=True)


def test_the_refusal_says_what_to_fix() -> None:
    with pytest.raises(RefusedAddress) as refused:
        check_url("https://10.0.0.5/hook", allow_private=False, development=False)
    assert str(refused.value) == (
        "webhook URL host 10.0.0.5 is a private address; offhours delivers only to public addresses "
        "(set OFFHOURS_WEBHOOK_ALLOW_PRIVATE=true for development and tests)"
    )


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_address_is_accepted_over_https(address: str) -> None:
    assert refused_class(ipaddress.ip_address(address)) is None
    url = f"https://{_in_url(address)}:8443/hooks/offhours?tenant=7"
    assert check_url(url, allow_private=False, development=False) == url


def test_surrounding_whitespace_is_removed() -> None:
    url = check_url("  https://93.184.216.34/hook \n", allow_private=False, development=False)
    assert url == "https://93.184.216.34/hook"


# ------------------------------------------------------------------------------- the URL's form


def test_plain_http_is_only_for_development_or_private_delivery() -> None:
    with pytest.raises(RefusedAddress, match=r"https://.*OFFHOURS_ENVIRONMENT=development"):
        check_url("http://93.184.216.34/hook", allow_private=False, development=False)
    assert check_url("http://93.184.216.34/hook", allow_private=False, development=True)
    assert check_url("http://93.184.216.34/hook", allow_private=True, development=False)


def test_allowing_private_addresses_accepts_a_local_receiver() -> None:
    url = "http://127.0.0.1:1234/x"
    assert check_url(url, allow_private=True, development=False) == url
    assert check_url("http://[::1]:1234/x", allow_private=True, development=False)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://93.184.216.34/hook", "must start with https:// (got ftp://)"),
        ("file:///etc/passwd", "must start with https://"),
        ("93.184.216.34/hook", "must start with https://"),
        ("https://user:secret@93.184.216.34/hook", "user name or password"),
        ("https://user@93.184.216.34/hook", "user name or password"),
        ("https://93.184.216.34/hook#part", "fragment"),
        ("https:///hook", "no host"),
        ("https://93.184.216.34/" + "a" * 2000, "longer than 2000"),
        ("https://93.184.216.34/a b", "spaces"),
        ("https://evil.test\\@93.184.216.34/", "backslashes"),
        ("https://93.184.216.34:99999/", "port 99999"),
        ("", "empty"),
    ],
)
def test_a_malformed_url_is_refused_whatever_the_settings(url: str, says: str) -> None:
    for allow_private, development in ((False, False), (True, True)):
        with pytest.raises(RefusedAddress) as refused:
            check_url(url, allow_private=allow_private, development=development)
        assert says in str(refused.value)


# --------------------------------------------------------------------------- names, resolved


def test_a_name_resolving_to_loopback_is_refused(dns: dict[str, list[str]]) -> None:
    dns["internal.test"] = ["127.0.0.1"]
    with pytest.raises(RefusedAddress) as refused:
        check_url("https://internal.test/hook", allow_private=False, development=False)
    assert "internal.test resolves to 127.0.0.1, a loopback address" in str(refused.value)


def test_a_name_is_refused_if_any_of_its_addresses_is(dns: dict[str, list[str]]) -> None:
    dns["mixed.test"] = ["93.184.216.34", "2606:4700::1111", "10.0.0.1"]
    with pytest.raises(RefusedAddress, match=r"10\.0\.0\.1, a private address"):
        check_url("https://mixed.test/hook", allow_private=False, development=False)


def test_a_name_resolving_to_public_addresses_is_accepted(dns: dict[str, list[str]]) -> None:
    dns["public.test"] = ["93.184.216.34", "2606:4700::1111"]
    url = "https://public.test/hook"
    assert check_url(url, allow_private=False, development=False) == url


@pytest.mark.usefixtures("dns")
def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(RefusedAddress, match=r"nowhere\.test does not resolve"):
        check_url("https://nowhere.test/hook", allow_private=False, development=False)


async def test_the_url_is_checked_from_async_code_too(dns: dict[str, list[str]]) -> None:
    # check_url resolves on a loop of its own, so an API handler's running loop is no obstacle.
    dns["public.test"] = ["93.184.216.34"]
    assert check_url("https://public.test/", allow_private=False, development=False)
    with pytest.raises(RefusedAddress):
        check_url("https://nowhere.test/", allow_private=False, development=False)


async def test_resolve_gives_each_address_once(dns: dict[str, list[str]]) -> None:
    dns["twice.test"] = ["93.184.216.34", "93.184.216.34", "2606:4700::1111"]
    assert await resolve("twice.test", 443) == ["93.184.216.34", "2606:4700::1111"]
    assert await resolve("[::1]", 80) == ["::1"]
    assert await resolve("127.0.0.1", 80) == ["127.0.0.1"]
    with pytest.raises(socket.gaierror, match="not known"):
        await resolve("nowhere.test", 443)


# ------------------------------------------------------------------------------- Retry-After

NOW = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sat, 01 Mar 2025 12:01:30 GMT", 90.0),
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),  # a date past: retry now, never negative
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_retry_after_is_read_in_both_forms(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


# --------------------------------------------------------------------------- real deliveries


async def test_the_receiver_gets_the_exact_body_and_headers(receiver: Receiver) -> None:
    receiver.status = 202
    body = b'{"event":"application.submitted","name":"Zo\xc3\xab"}'
    answer = await post(
        f"http://127.0.0.1:{receiver.port}/hooks/offhours?tenant=7",
        body,
        {"X-Offhours-Signature": "t=1,v1=abc", "X-Offhours-Event": "application.submitted"},
        timeout=5,
        allow_private=True,
    )
    assert answer.status_code == 202
    assert answer.retry_after is None
    assert 0 <= answer.elapsed_ms < 5000
    [got] = receiver.requests
    assert (got.method, got.target, got.body) == ("POST", "/hooks/offhours?tenant=7", body)
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == "offhours-webhooks/1"
    assert got.headers["x-offhours-signature"] == "t=1,v1=abc"
    assert got.headers["x-offhours-event"] == "application.submitted"
    assert got.headers["content-length"] == str(len(body))
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"


async def test_given_content_type_and_user_agent_are_kept(receiver: Receiver) -> None:
    await post(
        f"http://127.0.0.1:{receiver.port}/",
        b"{}",
        {"content-type": "application/cloudevents+json", "User-Agent": "acme/2"},
        timeout=5,
        allow_private=True,
    )
    [got] = receiver.requests
    assert got.headers["content-type"] == "application/cloudevents+json"
    assert got.headers["user-agent"] == "acme/2"


async def test_a_redirect_is_an_answer_not_followed(receiver: Receiver) -> None:
    receiver.status = 302
    receiver.headers = {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}
    answer = await post(f"http://127.0.0.1:{receiver.port}/hook", b"{}", {}, timeout=5, allow_private=True)
    assert answer.status_code == 302
    assert [request.target for request in receiver.requests] == ["/hook"]


async def test_retry_after_in_seconds_is_passed_on(receiver: Receiver) -> None:
    receiver.status = 503
    receiver.headers = {"Retry-After": "120"}
    answer = await post(f"http://127.0.0.1:{receiver.port}/", b"{}", {}, timeout=5, allow_private=True)
    assert (answer.status_code, answer.retry_after) == (503, 120.0)


async def test_retry_after_as_a_date_is_counted_from_now(receiver: Receiver) -> None:
    receiver.status = 429
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    receiver.headers = {"Retry-After": email.utils.format_datetime(later, usegmt=True)}
    answer = await post(f"http://127.0.0.1:{receiver.port}/", b"{}", {}, timeout=5, allow_private=True)
    assert answer.status_code == 429
    assert answer.retry_after is not None
    assert 110 <= answer.retry_after <= 120


async def test_a_large_answer_is_not_read_to_its_end(receiver: Receiver) -> None:
    receiver.body = b"x" * (8 * 1024 * 1024)
    answer = await post(f"http://127.0.0.1:{receiver.port}/", b"{}", {}, timeout=5, allow_private=True)
    assert answer == Answer(200, None, answer.elapsed_ms)


async def test_a_receiver_that_never_answers_fails_within_the_timeout(receiver: Receiver) -> None:
    receiver.silent = True
    started = time.monotonic()
    with pytest.raises(DeliveryFailed) as failed:
        await post(f"http://127.0.0.1:{receiver.port}/", b"{}", {}, timeout=0.5, allow_private=True)
    assert time.monotonic() - started < 1.5
    assert failed.value.reason == "timed out after 0.5 s"
    assert len(receiver.requests) == 1


async def test_a_closed_port_fails_without_telling_the_url(closed_port: int) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await post(
            f"http://127.0.0.1:{closed_port}/secret-path?token=hunter2",
            b"{}",
            {},
            timeout=5,
            allow_private=True,
        )
    assert failed.value.reason == "connection refused"
    assert "secret" not in str(failed.value)
    assert "hunter2" not in str(failed.value)


async def test_a_receiver_hanging_up_fails_the_delivery(receiver: Receiver) -> None:
    receiver.hang_up = True
    with pytest.raises(DeliveryFailed, match="connection closed without an answer"):
        await post(f"http://127.0.0.1:{receiver.port}/", b"{}", {}, timeout=5, allow_private=True)


async def test_an_answer_that_is_not_http_fails_the_delivery(receiver: Receiver) -> None:
    receiver.raw = b"SSH-2.0-OpenSSH_9.6\r\n\r\n"
    with pytest.raises(DeliveryFailed, match="not valid HTTP"):
        await post(f"http://127.0.0.1:{receiver.port}/", b"{}", {}, timeout=5, allow_private=True)


@pytest.mark.usefixtures("dns")
async def test_a_name_that_no_longer_resolves_fails_the_delivery() -> None:
    with pytest.raises(DeliveryFailed, match=r"host gone\.test does not resolve"):
        await post("https://gone.test/hook", b"{}", {}, timeout=5, allow_private=False)


# ------------------------------------------------------------------- rebinding and pinning


async def test_dns_rebinding_is_refused_at_delivery(receiver: Receiver, dns: dict[str, list[str]]) -> None:
    dns["rebind.test"] = ["93.184.216.34"]
    url = f"http://rebind.test:{receiver.port}/hook"
    assert check_url(url, allow_private=False, development=True) == url
    dns["rebind.test"] = ["127.0.0.1"]  # the attacker's DNS answers differently at delivery
    with pytest.raises(
        RefusedAddress, match=r"rebind\.test resolves at delivery to 127\.0\.0\.1, a loopback"
    ):
        await post(url, b"{}", {}, timeout=5, allow_private=False)
    assert receiver.connections == 0


async def test_a_private_literal_is_refused_at_delivery(receiver: Receiver) -> None:
    with pytest.raises(RefusedAddress, match="loopback"):
        await post(f"http://127.0.0.1:{receiver.port}/", b"{}", {}, timeout=5, allow_private=False)
    assert receiver.connections == 0


async def test_the_connection_is_pinned_and_host_keeps_the_name(
    receiver: Receiver, dns: dict[str, list[str]]
) -> None:
    dns["receiver.test"] = ["127.0.0.1"]
    answer = await post(
        f"http://receiver.test:{receiver.port}/hook", b"{}", {}, timeout=5, allow_private=True
    )
    assert answer.status_code == 200
    [got] = receiver.requests
    assert got.headers["host"] == f"receiver.test:{receiver.port}"
    assert got.target == "/hook"


async def test_an_ipv6_address_is_bracketed_when_pinned(
    receiver: Receiver, dns: dict[str, list[str]]
) -> None:
    # ::ffff:127.0.0.1 is an IPv6 address reaching the IPv4 loopback receiver.
    dns["six.test"] = ["::ffff:127.0.0.1"]
    await post(f"http://six.test:{receiver.port}/by-name", b"{}", {}, timeout=5, allow_private=True)
    await post(f"http://[::ffff:127.0.0.1]:{receiver.port}/literal", b"{}", {}, timeout=5, allow_private=True)
    by_name, literal = receiver.requests
    assert (by_name.target, by_name.headers["host"]) == ("/by-name", f"six.test:{receiver.port}")
    assert (literal.target, literal.headers["host"]) == ("/literal", f"[::ffff:127.0.0.1]:{receiver.port}")


async def test_https_is_pinned_with_the_name_in_tls(
    tls_receiver: Receiver, certificate: Certificate, dns: dict[str, list[str]]
) -> None:
    dns["receiver.test"] = ["127.0.0.1"]
    answer = await post(
        f"https://receiver.test:{tls_receiver.port}/hook",
        b'{"ok":true}',
        {},
        timeout=5,
        allow_private=True,
        verify=certificate.trusted(),
    )
    assert answer.status_code == 200
    assert tls_receiver.server_names == ["receiver.test"]
    [got] = tls_receiver.requests
    assert (got.headers["host"], got.body) == (f"receiver.test:{tls_receiver.port}", b'{"ok":true}')


async def test_the_certificate_is_checked_against_the_name(
    tls_receiver: Receiver, certificate: Certificate, dns: dict[str, list[str]]
) -> None:
    dns["impostor.test"] = ["127.0.0.1"]  # same address, but the certificate is receiver.test's
    with pytest.raises(DeliveryFailed) as failed:
        await post(
            f"https://impostor.test:{tls_receiver.port}/hook",
            b"{}",
            {},
            timeout=5,
            allow_private=True,
            verify=certificate.trusted(),
        )
    assert failed.value.reason.startswith("TLS certificate not accepted")
    assert "impostor.test" in failed.value.reason
    assert tls_receiver.requests == []


async def test_an_untrusted_certificate_fails_the_delivery(
    tls_receiver: Receiver, dns: dict[str, list[str]]
) -> None:
    dns["receiver.test"] = ["127.0.0.1"]
    with pytest.raises(DeliveryFailed, match="TLS certificate not accepted"):
        await post(f"https://receiver.test:{tls_receiver.port}/", b"{}", {}, timeout=5, allow_private=True)
    assert tls_receiver.requests == []
