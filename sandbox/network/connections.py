"""Connections: what a client pays before its first byte reaches the shop, and keep-alive.

Before a client can send a request it needs an open connection to the front of the shop (the
load balancer, or the edge when the CDN is on). Opening one costs, in order:

- a DNS lookup, unless the resolver still holds a fresh answer (`dns.cache`);
- the TCP handshake: SYN out, SYN-ACK back, one round trip before any data may follow;
- with `network.tls=on`, the TLS handshake. The sandbox models TLS 1.3: ClientHello out,
  ServerHello with the certificate back, one more round trip. (TLS 1.2 needed two; 1.3's 0-RTT
  resumption is not modelled.)

With `network.keep_alive=on` the connection stays open after the answer and the client's next
request reuses it, paying none of that again, until it has been idle `network.idle_timeout_s`
(then the server closes it, as nginx closes an idle keep-alive connection after 75 s). With
keep-alive off, every request opens, and pays for, a connection of its own.

The shop is already running when a scenario starts: like the login sessions its shoppers hold,
their browsers hold connections opened earlier (`open_warm`). So in the default model only
a shopper idle for longer than the timeout, or a client the shop has never seen, pays again.
"""

from __future__ import annotations

from sandbox.settings import NetworkSettings

TCP_HANDSHAKE_RTTS = 1  # SYN / SYN-ACK; the ACK goes out with the request itself
TLS13_HANDSHAKE_RTTS = 1  # ClientHello / ServerHello+certificate+Finished


class ConnectionTable:
    """Each client's open connection, if any: when it was last used (simulated ms).

    One connection per client is enough here: a simulated shopper sends one request at a time.
    """

    def __init__(self, settings: NetworkSettings) -> None:
        self._last_used: dict[str, float] = {}
        self.settings = settings

    @property
    def settings(self) -> NetworkSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: NetworkSettings) -> None:
        # Read once here rather than on every request (this table is asked twice a request).
        self._settings = settings
        self._keep_alive = settings.keep_alive
        self._idle_ms = settings.idle_timeout_s * 1000.0

    def reuse(self, client: str, now_ms: float) -> bool:
        """Whether `client` has an open connection it may send on now. A connection idle past
        the timeout has been closed by the server: it is forgotten, and the client must open
        a new one."""
        if not self._keep_alive:
            return False
        last = self._last_used.get(client)
        if last is None:
            return False
        if now_ms - last > self._idle_ms:
            del self._last_used[client]
            return False
        return True

    def done(self, client: str, now_ms: float) -> None:
        """The answer arrived: with keep-alive the connection stays open for the next one."""
        if self._keep_alive:
            self._last_used[client] = now_ms
        else:
            self._last_used.pop(client, None)

    def open_warm(self, clients: list[str], now_ms: float) -> None:
        """Connections opened before the run began (as a running shop's shoppers hold)."""
        if self._keep_alive:
            for client in clients:
                self._last_used.setdefault(client, now_ms)

    def handshake_rtts(self) -> int:
        """Round trips a new connection costs before the request can go out."""
        return TCP_HANDSHAKE_RTTS + (TLS13_HANDSHAKE_RTTS if self.settings.tls else 0)

    @property
    def open_connections(self) -> int:
        return len(self._last_used)
