"""The simulated network: DNS, load balancer, gateway and the hops between them.

Only the network is simulated: the app behind it is a real ASGI application.
"""

from sandbox.network.path import Network, SimRequest, SimResponse
from sandbox.network.transport import SandboxTransport

__all__ = ["Network", "SandboxTransport", "SimRequest", "SimResponse"]
