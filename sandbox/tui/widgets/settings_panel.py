"""The switches panel: every settings key grouped by section, a filter, a reset, an editor.

The list shows every key and its value (● marks the ones not at their default); the editor
below changes the highlighted one with the right widget. `SettingEditor.Changed` bubbles up to
the screen, which applies it to the app's settings and calls `show()` back with the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, Input, OptionList, Static

from sandbox.settings import Settings, key_spec
from sandbox.tui.runs import changed_from_defaults
from sandbox.tui.widgets.setting_editor import SettingEditor
from sandbox.tui.widgets.switch_list import SwitchList

EDITOR_FOLLOWS_S = 0.15  # the editor shows the key under the cursor once it rests this long


class SettingsPanel(Vertical):
    """Every switch. `show(settings)` brings the list and the editor in line with `settings`."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "clear_filter", "Clear the filter")]

    @dataclass
    class ResetRequested(Message):
        """The learner asked to put every switch back to its default."""

        panel: SettingsPanel

        @property
        def control(self) -> SettingsPanel:
            return self.panel

    def __init__(self, settings: Settings, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.settings = settings
        self.border_title = "switches"
        self._pending_key: str | None = None  # highlighted; the editor shows it on resting
        self._pending_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="switches-top"):
            yield Input(placeholder="find a switch…", id="switch-filter", compact=True)
            yield Button("reset", id="switch-reset", compact=True)
        yield Static("", id="switches-summary")
        yield SwitchList(self.settings, id="switch-list")
        yield SettingEditor(id="setting-editor")

    def on_mount(self) -> None:
        self._summarise()

    @property
    def switch_list(self) -> SwitchList:
        return self.query_one(SwitchList)

    @property
    def editor(self) -> SettingEditor:
        return self.query_one(SettingEditor)

    def show(self, settings: Settings) -> None:
        """Bring the list, the editor and the summary in line with `settings`."""
        self.settings = settings
        self.switch_list.show(settings)
        key = self.editor.key
        if key is not None:
            self.editor.show(key_spec(key), settings.get(key))
        self._summarise()

    def edit(self, key: str) -> SettingEditor:
        """Highlight `key` in the list and show it in the editor (tests and `/` use this)."""
        if self._pending_timer is not None:  # an earlier cursor's editor is not wanted now
            self._pending_timer.stop()
        self._pending_key = None
        self.switch_list.highlight_key(key)
        self.editor.show(key_spec(key), self.settings.get(key))
        return self.editor

    def _summarise(self) -> None:
        changed = changed_from_defaults(self.settings)
        summary = self.query_one("#switches-summary", Static)
        if changed:
            summary.update(f"[b $warning]● {len(changed)}[/] changed from defaults")
        else:
            summary.update("[dim]all at defaults · flip one, then run[/dim]")
        self.border_subtitle = f"{len(changed)} changed" if changed else ""

    @on(OptionList.OptionHighlighted, "#switch-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        key = event.option.id
        if key is not None and not event.option.disabled:
            # The editor follows once the cursor rests: each arrow key's frame shows the
            # moved cursor at once, without re-laying out the screen for the editor below
            # (new help text, another widget for another kind of value), and keys pressed
            # in a row (or held) lay it out once at the end.
            if self._pending_timer is not None:
                self._pending_timer.stop()
            if key == self.editor.key:  # shown already (`edit`, or back where it started):
                self._pending_key = None  # a late re-show would undo a value being chosen
                return
            self._pending_key = key
            self._pending_timer = self.set_timer(EDITOR_FOLLOWS_S, self._show_pending)

    def _show_pending(self) -> None:
        key, self._pending_key = self._pending_key, None
        if key is not None:
            self.editor.show(key_spec(key), self.settings.get(key))

    @on(OptionList.OptionSelected, "#switch-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._show_pending()  # enter right after an arrow key edits the key now highlighted
        if event.option.id is not None and not event.option.disabled:
            self.editor.activate()

    @on(SettingEditor.Done)
    def _editor_done(self, event: SettingEditor.Done) -> None:
        event.stop()
        self.switch_list.focus()

    @on(Input.Changed, "#switch-filter")
    def _filter(self, event: Input.Changed) -> None:
        event.stop()
        self.switch_list.filter(event.value)

    @on(Input.Submitted, "#switch-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        key = self.switch_list.first_key()
        if key is None:
            return
        editor = self.edit(key)
        if key_spec(key).kind == "bool":
            self.switch_list.focus()  # space flips it
        else:
            editor.activate()

    def action_clear_filter(self) -> None:
        self.query_one("#switch-filter", Input).value = ""
        self.switch_list.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return bool(self.query_one("#switch-filter", Input).value)
        return True

    @on(Button.Pressed, "#switch-reset")
    def _reset(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.ResetRequested(self))
