"""The outside e-mail provider's side of a send: one e-mail per idempotency key.

A side effect that leaves the system cannot be rolled back or deduplicated by our database: once
an e-mail is sent, it is sent. Providers (and payment APIs) therefore take an *idempotency key*
with each request and remember the keys they have served: a request whose key they have seen
is answered "done" without being done again. The shop keys each confirmation e-mail by its
order, so the customer gets one e-mail per order however often a worker is told to send it.

The network hop to the provider (its latency, failures, the breaker) is a `Dependency`; this
class is what happens at the far end when a call gets through.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EmailProvider:
    """Counts what the provider really sent, and what it recognised as a repeat."""

    sent: int = 0  # e-mails that went out: what customers received
    repeats: int = 0  # requests with a key already served: answered, nothing sent
    _served: set[str] = field(default_factory=set)

    def send(self, key: str) -> bool:
        """Send the e-mail for `key` unless one went out with this key before; True if sent now."""
        if key in self._served:
            self.repeats += 1
            return False
        self._served.add(key)
        self.sent += 1
        return True
