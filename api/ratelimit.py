"""Rate limits: candidate links, staff sign-in and bearer tokens, per client address or account.

Moving windows (the `limits` library) in memory: one API process here; several API processes would
share them through `limits`' Redis storage.

What is throttled is failure, never a genuine credential: a valid candidate link works whatever
else came from its address (behind NAT or a proxy many candidates share one), while links that do
not verify are answered 429 once an address has sent too many, so tokens cannot be guessed by
trying them. Failed sign-ins count per account and per address; a throttled sign-in is refused
before its password is hashed, so guessing costs the server nothing.

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
    """Who is at the other end: the connection's address, or, from a trusted proxy, the nearest
    untrusted address it forwarded for."""
    peer = request.client.host if request.client else "unknown"
    proxies = settings.trusted_proxies
    if not proxies or not _within(peer, proxies):
        return peer
    forwarded = [a.strip() for h in request.headers.getlist("x-forwarded-for") for a in h.split(",")]
    for hop in reversed([a for a in forwarded if a]):
        if not _within(hop, proxies):
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _within(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.requests: RateLimitItem = parse(settings.CANDIDATE_RATE_LIMIT)
        self.bad_links: RateLimitItem = parse(settings.BAD_LINK_RATE_LIMIT)
        self.logins: RateLimitItem = parse(settings.LOGIN_RATE_LIMIT)
        self.login_addresses: RateLimitItem = parse(settings.LOGIN_ADDRESS_RATE_LIMIT)
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

    def check(self, request: Request, application_id: str) -> None:
        """Count a request made with a genuine link; refuse it when that link is over its limit.
        Counted per application, not per address: candidates behind one address do not share it."""
        keys = ("request", application_id)
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

    def check_login(self, request: Request, email: str) -> None:
        """Refuse a sign-in (before its password is hashed) while the account or the address has
        failed too often."""
        account = ("login", email.strip().lower())
        address = ("login-address", self.address(request))
        if not self.limiter.test(self.logins, *account):
            raise self._refuse(self.logins, account, "too many failed sign-ins for this account")
        if not self.limiter.test(self.login_addresses, *address):
            raise self._refuse(self.login_addresses, address, "too many failed sign-ins from your address")

    def login_failed(self, request: Request, email: str) -> None:
        self.limiter.hit(self.logins, "login", email.strip().lower())
        self.limiter.hit(self.login_addresses, "login-address", self.address(request))

    # ------------------------------------------------------------------------ bearer tokens

    def token_failed(self, request: Request) -> TooManyRequests | None:
        """Count a bearer token that is not valid; the 429 to answer once the address is over."""
        keys = ("bad-token", self.address(request))
        if not self.limiter.hit(self.bad_tokens, *keys):
            return self._refuse(
                self.bad_tokens, keys, "too many tokens that are not valid came from your address"
            )
        return None
