"""The key bar: the screen's keys in one line at the bottom, as Textual's Footer shows them.

Textual's Footer builds one widget per key and builds them all again whenever focus moves, so
on the home screen it was the costliest part of the first frame. This is one widget that draws
one line of text from the screen's active bindings, and redraws it when they change. A click
on a key presses it; a key that is there but not available now is dimmed; the key under the
mouse is highlighted, with its tooltip when the binding has one. Help and the command palette
stay at the right edge however narrow the terminal; the other keys that do not fit whole are
left out (they are all in the help screen and the palette).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget


class KeyCells(NamedTuple):
    """Where one key sits on the line."""

    start: int  # first cell
    end: int  # last cell + 1
    key: str
    enabled: bool
    tooltip: str


class KeyBar(Widget):
    """The keys of the screen it is on (`show=True` bindings), one per action."""

    ALLOW_SELECT = False
    PINNED_ACTIONS: ClassVar[frozenset[str]] = frozenset({"help"})  # always in sight, at the right
    COMPONENT_CLASSES: ClassVar[set[str]] = {"key-bar--key", "key-bar--description",
                                             "key-bar--hover"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    KeyBar > .key-bar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .key-bar--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyBar > .key-bar--hover {
        background: $block-hover-background;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._keys: list[KeyCells] = []
        self._hover: str | None = None  # the key under the mouse

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        description_style = self.get_component_rich_style("key-bar--description")

        def append(line: Text, binding: Binding, enabled: bool, tooltip: str) -> KeyCells:
            start = len(line)
            line.append(f" {self.app.get_key_display(binding)} ", key_style)
            line.append(f"{binding.description} ", description_style)
            if not enabled:
                line.stylize("dim", start)
            return KeyCells(start, len(line), binding.key, enabled, tooltip or binding.tooltip)

        line = Text(no_wrap=True, overflow="crop", end="")
        right = Text(no_wrap=True, end="")  # help and the palette, kept at the right edge
        keys: list[KeyCells] = []
        right_keys: list[KeyCells] = []
        actions: set[str] = set()
        palette = None
        for _node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.key == self.app.COMMAND_PALETTE_BINDING and self.app.ENABLE_COMMAND_PALETTE:
                palette = binding
            elif binding.show and binding.action not in actions:
                actions.add(binding.action)
                if binding.action in self.PINNED_ACTIONS:
                    right_keys.append(append(right, binding, enabled, tooltip))
                else:
                    keys.append(append(line, binding, enabled, tooltip))
        if palette is not None:  # as Textual's Footer has it
            start = len(right)
            right.append_text(Text.assemble(("▏", "dim"),
                                            (self.app.get_key_display(palette), key_style),
                                            (f" {palette.description} ", description_style)))
            right_keys.append(KeyCells(start + 1, len(right), palette.key, True,
                                       palette.tooltip))
        room = self.size.width - len(right)
        if right and room >= 0:  # keys that do not fit whole are left out, not cut mid-word
            keys = [cells for cells in keys if cells.end <= room]
            line.truncate(keys[-1].end if keys else 0)
            line.pad_right(room - len(line))
            keys += [cells._replace(start=cells.start + room, end=cells.end + room)
                     for cells in right_keys]
            line.append_text(right)
        for cells in keys:
            if cells.key == self._hover:
                line.stylize(self.get_component_rich_style("key-bar--hover"),
                             cells.start, cells.end)
        self._keys = keys
        return line

    def _key_at(self, x: int) -> KeyCells | None:
        return next((cells for cells in self._keys if cells.start <= x < cells.end), None)

    def _hover_over(self, cells: KeyCells | None) -> None:
        key = cells.key if cells is not None else None
        if key != self._hover:
            self._hover = key
            self.tooltip = (cells.tooltip or None) if cells is not None else None
            self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._hover_over(self._key_at(event.x))

    def on_leave(self, event: events.Leave) -> None:
        self._hover_over(None)

    def on_click(self, event: events.Click) -> None:
        cells = self._key_at(event.x)
        if cells is None:
            return
        if cells.enabled:
            self.app.simulate_key(cells.key)
        else:
            self.app.bell()
