"""Rate limits on candidate-link endpoints, per client address.

Two moving windows (the `limits` library): one on every request to a link endpoint, one on links
that fail to verify. Once an address has sent too many bad links it is refused for the rest of the
window even with a good one, so tokens cannot be guessed by trying them. Counters live in memory:
one API process here; several API processes would share them through `limits`' Redis storage.
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api.errors import TooManyRequests
from offhours.settings import Settings


class CandidateRateLimits:
    def __init__(self, settings: Settings) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.requests: RateLimitItem = parse(settings.CANDIDATE_RATE_LIMIT)
        self.bad_links: RateLimitItem = parse(settings.BAD_LINK_RATE_LIMIT)

    @staticmethod
    def address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def _refuse(self, item: RateLimitItem, key: str, what: str) -> TooManyRequests:
        reset = self.limiter.get_window_stats(item, key).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        return TooManyRequests(
            f"{what}; try again in {wait} seconds", headers={"Retry-After": str(wait)}, retry_after=wait
        )

    def check(self, request: Request) -> None:
        """Count a request; refuse it when the address is over either limit."""
        key = self.address(request)
        if not self.limiter.test(self.bad_links, "bad-link", key):
            raise self._refuse(
                self.bad_links, key, "too many links that are not valid came from your address"
            )
        if not self.limiter.hit(self.requests, "request", key):
            raise self._refuse(self.requests, key, "too many requests from your address")

    def bad_link(self, request: Request) -> None:
        """Count a link that did not verify (tampered, or naming no application). An expired link is
        genuine, so it is not counted: it cannot have been guessed."""
        self.limiter.hit(self.bad_links, "bad-link", self.address(request))
