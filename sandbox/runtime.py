"""The sandbox: one mini backend built from settings, with its clock, data, network and apps.

    sandbox = Sandbox(Settings())
    async with sandbox.client() as client:          # an ordinary httpx.AsyncClient
        response = await client.get("/products/1")
    trace = response.extensions["sandbox.trace"]

Everything else (the CLI, scenarios, the terminal app, tests) builds a Sandbox and talks to it.
"""

from __future__ import annotations

import hashlib
import random

import httpx

from sandbox.backend.app import create_app
from sandbox.backend.context import AppContext
from sandbox.backend.database import Database
from sandbox.backend.repositories import Repositories
from sandbox.clock import SimClock
from sandbox.mechanisms.auth import TokenIssuer
from sandbox.network import Network, SandboxTransport, SimRequest, SimResponse
from sandbox.settings import Settings

DATA_SEED = 1  # the shop's data is always the same; `seed` varies traffic and jitter
BASE_URL = "http://shop.sandbox"


class Sandbox:
    """A running mini backend.

    Args:
        settings: the switches; change them later with `apply`.
        seed: seeds traffic, jitter and anything else random, so runs repeat exactly.
    """

    def __init__(self, settings: Settings | None = None, seed: int = 7) -> None:
        self.settings = settings or Settings()
        self.seed = seed
        self.clock = SimClock()
        self.rng = random.Random(seed)
        self.db = Database.open_seeded(DATA_SEED, self.settings.db.indexes)
        secret = hashlib.sha256(f"sandbox-signing-key-{seed}".encode()).digest()
        self.ctx = AppContext(
            settings=self.settings,
            clock=self.clock,
            repos=Repositories(self.db),
            tokens=TokenIssuer(secret),
            rng=self.rng,
        )
        self.network = Network(
            self.clock, lambda: self.settings, lambda: create_app(self.ctx), self.rng,
            self.ctx.log_event,
        )

    def apply(self, settings: Settings) -> None:
        """Switch to new settings live: indexes are created or dropped, instances resized."""
        self.settings = settings
        self.ctx.settings = settings
        if settings.db.indexes != self.db.indexes:
            self.db.set_indexes(settings.db.indexes)
        self.network.configure(settings)

    def client(self, client: str = "client-1") -> httpx.AsyncClient:
        """An ordinary httpx client whose requests travel through the simulated network."""
        return httpx.AsyncClient(
            transport=SandboxTransport(self.network, client), base_url=BASE_URL
        )

    async def deliver(self, request: SimRequest) -> SimResponse:
        """Send one request without httpx (the scenario engine's fast path)."""
        return await self.network.deliver(request)

    def close(self) -> None:
        self.db.close()
