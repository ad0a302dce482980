"""Rate limits: candidate links, staff sign-in and bearer tokens, per client address or account.

Moving windows (the `limits` library) in memory: one API process here; several API processes would
share them through `limits`' Redis storage.

What is throttled is failure, never a genuine credential: a valid candidate link works whatever
else came from its address (behind NAT or a proxy many candidates share one), while links that do
not verify are answered 429 once an address has sent too many, so tokens cannot be guessed by
trying them. Sign-in attempts count per account and address, per account and per address, before
any password is hashed: a throttled guess costs the server nothing, and one person guessing cannot
lock a colleague out from another address (the per-account ceiling is much higher).

The client address is the connection's, unless that connection comes from a trusted proxy
(`TRUSTED_PROXIES`): then it is the nearest address in X-Forwarded-For that is not a trusted proxy.
"""

from __future__ import annotations

import ipaddress
import math
import time

from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api.errors import TooManyRequests
from offhours.settings import Settings


def client_address(request: Request, settings: Settings) -> str:
    """Who is at the other end, as a rate-limit key: the connection's address, or, from a trusted
    proxy, the nearest untrusted address it forwarded for. IPv6 clients count by /64 (one host
    holds a whole /64 to rotate through); IPv4-mapped addresses count as IPv4."""
    peer = _ip(request.client.host if request.client else "")
    proxies = settings.trusted_proxies
    client = peer
    if peer is not None and proxies and _within(peer, proxies):
        forwarded = [a for h in request.headers.getlist("x-forwarded-for") for a in h.split(",")]
        for hop in reversed(forwarded):
            ip = _ip(hop)
            if ip is None:
                break  # garbage from here on: the last trustworthy address is the one before
            client = ip
            if not _within(ip, proxies):
                break
    if client is None:
        return "unknown"
    if client.version == 6:
        return str(ipaddress.ip_network(f"{client}/64", strict=False))
    return str(client)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as a proxy or the server may write it: bare, `[v6]`, with a port, IPv4-mapped."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _within(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> bool:
    return any(ip.version == network.version and ip in network for network in networks)


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.requests: RateLimitItem = parse(settings.CANDIDATE_RATE_LIMIT)
        self.bad_links: RateLimitItem = parse(settings.BAD_LINK_RATE_LIMIT)
        self.logins: RateLimitItem = parse(settings.LOGIN_RATE_LIMIT)
        self.login_addresses: RateLimitItem = parse(settings.LOGIN_ADDRESS_RATE_LIMIT)
        self.login_accounts: RateLimitItem = parse(settings.LOGIN_ACCOUNT_RATE_LIMIT)
        self.bad_tokens: RateLimitItem = parse(settings.BAD_TOKEN_RATE_LIMIT)

    def address(self, request: Request) -> str:
        return client_address(request, self.settings)

    def _refuse(self, item: RateLimitItem, keys: tuple[str, ...], what: str) -> TooManyRequests:
        reset = self.limiter.get_window_stats(item, *keys).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        return TooManyRequests(
            f"{what}; try again in {wait} seconds", headers={"Retry-After": str(wait)}, retry_after=wait
        )

    # ------------------------------------------------------------------------ candidate links

    def check(self, link: str) -> None:
        """Count a request made with a genuine link; refuse it when that link is over its limit.
        Counted per link (application and generation), not per address: candidates behind one
        address do not share it, and a retired link cannot spend the current one's."""
        keys = ("request", link)
        if not self.limiter.hit(self.requests, *keys):
            raise self._refuse(self.requests, keys, "too many requests with this link")

    def bad_link(self, request: Request) -> TooManyRequests | None:
        """Count a link that did not verify (tampered, or naming no application) and answer the 429
        to send instead of the usual 401 once the address is over its limit. An expired link is
        genuine, so it is not counted: it cannot have been guessed."""
        keys = ("bad-link", self.address(request))
        if not self.limiter.hit(self.bad_links, *keys):
            return self._refuse(
                self.bad_links, keys, "too many links that are not valid came from your address"
            )
        return None

    # ------------------------------------------------------------------------ staff sign-in

    def login_attempt(self, request: Request, email: str) -> None:
        """Count a sign-in attempt before its password is hashed, and refuse it (429) once the
        account from this address, the account from anywhere, or the address has tried too often.
        Counted up front, not once the hash says it failed, so that attempts sent at once are
        counted one by one; a member of staff signs in a few times a day, far below the limits."""
        account = email.strip().lower()
        address = self.address(request)
        for item, keys, what in (
            (self.logins, ("login", account, address), "too many sign-in attempts for this account"),
            (self.login_accounts, ("login-account", account), "too many sign-in attempts for this account"),
            (self.login_addresses, ("login-address", address), "too many sign-in attempts from your address"),
        ):
            if not self.limiter.hit(item, *keys):
                raise self._refuse(item, keys, what)

    # ------------------------------------------------------------------------ bearer tokens

    def token_failed(self, request: Request) -> TooManyRequests | None:
        """Count a bearer token that is not valid; the 429 to answer once the address is over."""
        keys = ("bad-token", self.address(request))
        if not self.limiter.hit(self.bad_tokens, *keys):
            return self._refuse(
                self.bad_tokens, keys, "too many tokens that are not valid came from your address"
            )
        return None
