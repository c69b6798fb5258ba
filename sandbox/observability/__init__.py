"""What an operator's tools read from the shop: Prometheus metrics and JSON request logs."""

from __future__ import annotations

from sandbox.observability.prometheus import ShopMetrics
from sandbox.observability.request_log import RequestLog, iso_time, json_line, simulated_time
from sandbox.observability.routes import RouteTemplates

__all__ = ["RequestLog", "RouteTemplates", "ShopMetrics", "iso_time", "json_line",
           "simulated_time"]
