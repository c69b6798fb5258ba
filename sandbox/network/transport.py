"""An httpx transport that carries ordinary httpx requests through the simulated network.

    async with httpx.AsyncClient(transport=SandboxTransport(sandbox.network),
                                 base_url="http://shop.sandbox") as client:
        response = await client.get("/products/1")
        trace = response.extensions["sandbox.trace"]
"""

from __future__ import annotations

import httpx

from sandbox.network.dns import UnknownHost
from sandbox.network.path import Network, SimRequest

CLIENT_HEADER = "x-sandbox-client"  # names the simulated client (its address, in effect)


class SandboxTransport(httpx.AsyncBaseTransport):
    """Sends each request through DNS, balancer, gateway and an app instance.

    Args:
        network: the sandbox's network.
        client: the simulated client's name, unless a request says otherwise in the
            `X-Sandbox-Client` header.
    """

    def __init__(self, network: Network, client: str = "client-1") -> None:
        self.network = network
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = [
            (k.lower(), v) for k, v in request.headers.raw if k.lower() != CLIENT_HEADER.encode()
        ]
        client = request.headers.get(CLIENT_HEADER, self.client)
        sim = SimRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=headers,
            body=body,
            client=client,
            host=request.url.host,
        )
        try:
            response = await self.network.deliver(sim)
        except UnknownHost as exc:
            raise httpx.ConnectError(f"DNS: no such host '{exc}'", request=request) from None
        return httpx.Response(
            response.status,
            headers=response.headers,
            content=response.body,
            request=request,
            extensions={"sandbox.trace": response.trace},
        )
