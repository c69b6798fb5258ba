"""The list of every settings key, grouped by section, each line showing the key's value.

One OptionList rather than a widget per key keeps the app quick to start and to restyle.
Keys whose value differs from the default are marked with ● and drawn in the warning colour.
Enter or space on a line asks the editor below to change that key.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from sandbox.settings import DEFAULT_INDEXES, KeySpec, Settings, all_keys, format_value

SECTION_BLURB: dict[str, str] = {
    "cache": "a Redis cache in front of the database",
    "db": "SQLite: indexes, query shape, pool, replica",
    "ratelimit": "the gateway's per-client rate limiter",
    "auth": "how callers prove who they are",
    "queue": "follow-up work for orders: inline or queued",
    "topology": "how many app instances, how busy each",
    "lb": "the load balancer in front of the instances",
    "deploy": "rolling restarts and readiness checks",
    "dns": "name lookups by the client",
    "network": "the hops between the parts, and connections",
    "faults": "break things on purpose",
    "resilience": "timeouts, retries, a circuit breaker",
    "redis": "where cache, limiter and queue keep data",
    "cdn": "an edge cache near the clients, for public pages",
}
SECTION_PREFIX = "section:"


def shown_value(spec: KeySpec, value: Any) -> str:
    """A key's value as the list shows it (short forms for the long ones)."""
    if spec.kind == "indexes":
        if value == DEFAULT_INDEXES:
            return "default"
        return format_value(value)
    if spec.kind == "text" and not value:
        return "fakeredis"
    return format_value(value)


class SwitchList(OptionList):
    """Sections (not selectable) and keys (option id = the dotted key)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("space", "select", "Flip / edit", show=False)]

    def __init__(self, settings: Settings, *, id: str | None = None) -> None:
        super().__init__(id=id, compact=True)
        self._settings = settings
        self._needle = ""
        self._width = 40

    def on_mount(self) -> None:
        self._rebuild()

    def on_resize(self) -> None:
        # One column is kept for the scrollbar whether or not it shows, so that a line never
        # outgrows the list when filtering adds or removes the scrollbar.
        width = max(24, self.content_region.width - 1)
        if width != self._width:
            self._width = width
            self._rebuild()

    @property
    def highlighted_key(self) -> str | None:
        option = self.highlighted_option
        return option.id if option is not None and not option.disabled else None

    def show(self, settings: Settings) -> None:
        """Redraw the lines whose values changed."""
        old, self._settings = self._settings, settings
        for key in old.diff(settings):
            if any(o.id == key for o in self.options):
                self.replace_option_prompt(key, self._prompt(self._spec(key)))

    def filter(self, needle: str) -> None:
        """Show only keys whose name or help contains `needle`."""
        self._needle = needle.strip().lower()
        self._rebuild()

    def highlight_key(self, key: str) -> None:
        self.highlighted = self.get_option_index(key)

    def first_key(self) -> str | None:
        return next((o.id for o in self.options if not o.disabled), None)

    # -- building the lines ---------------------------------------------------------------

    def _spec(self, key: str) -> KeySpec:
        return next(s for s in all_keys() if s.key == key)

    def _prompt(self, spec: KeySpec) -> Content:
        value = self._settings.get(spec.key)
        changed = value != spec.default
        shown = shown_value(spec, value)
        room = max(8, self._width - len(spec.name) - 4)
        if len(shown) > room:
            shown = shown[: room - 1] + "…"
        gap = " " * max(1, self._width - len(spec.name) - 2 - len(shown))
        if changed:
            return Content.assemble(("● ", "bold $warning"), (spec.name, "bold $warning"), gap,
                                    (shown, "bold $warning"))
        return Content.assemble("  ", spec.name, gap, (shown, "$foreground 60%"))

    def _rebuild(self) -> None:
        key = self.highlighted_key
        needle = self._needle
        options: list[Option] = []
        for section, specs in groupby(all_keys(), key=lambda s: s.section):
            shown = [s for s in specs if not needle or needle in s.key or needle in s.help.lower()]
            if not shown:
                continue
            blurb = SECTION_BLURB.get(section, "")
            room = max(0, self._width - len(section) - 3)
            if len(blurb) > room:  # cut where the line ends, and say it was cut
                blurb = blurb[: max(0, room - 1)].rstrip(" ,:") + "…"
            title = Content.assemble(" ", (section, "bold $accent"), " ", (blurb, "italic $foreground 60%"))
            options.append(Option(title, id=SECTION_PREFIX + section, disabled=True))
            options.extend(Option(self._prompt(s), id=s.key) for s in shown)
        self.set_options(options)
        keys = [o.id for o in options if not o.disabled and o.id is not None]
        if key is not None and key in keys:
            self.highlight_key(key)
        elif keys:
            self.highlight_key(keys[0])
        self.call_after_refresh(self.scroll_to_highlight)
