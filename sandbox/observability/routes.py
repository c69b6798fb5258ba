"""A request's route template (`/products/{product_id}`), the label metrics and logs group by.

Grouping by the raw path would make one time series per product id, and one per path an
attacker cares to invent: a metrics store keeps every label value it ever sees. A template
is one of the shop's own routes, so the set of values is fixed before the first request.
"""

from __future__ import annotations

import re

from starlette.routing import compile_path

from sandbox.backend.app import ROUTES

UNMATCHED = "unmatched"  # every path no route answers shares this one label value
OTHER_METHOD = "OTHER"   # HTTP lets a client invent methods; labels keep the standard ones
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes a load balancer or Kubernetes sends every few seconds: they are not the shop's
# traffic, and counting them would dilute its error rate and latency.
PROBES = frozenset({"/health", "/ready"})


class RouteTemplates:
    """Finds the template of a path the way the shop's router does (Starlette's own path
    compiler: `{product_id:int}` matches digits only)."""

    def __init__(self) -> None:
        self._static: dict[str, str] = {}
        self._patterns: list[tuple[re.Pattern[str], str]] = []
        for path in ROUTES:
            regex, template, convertors = compile_path(path)
            if convertors:
                self._patterns.append((regex, template))
            else:
                self._static[path] = template

    def template(self, path: str) -> str:
        """`/products/42` -> `/products/{product_id}`; a path no route answers -> `unmatched`."""
        found = self._static.get(path)
        if found is not None:
            return found
        for regex, template in self._patterns:
            if regex.match(path):
                return template
        return UNMATCHED


def method_label(method: str) -> str:
    """The method as a label: one of the standard ones, or `OTHER`."""
    return method if method in METHODS else OTHER_METHOD
