"""The editor under the switch list: what the highlighted key does, and the widget to change it.

Booleans get a Switch, choices a list of every choice drawn inside the panel (a dropdown's
overlay would cover the panel's border and the key bar), everything else an Input checked
with `parse_value` as you type. A valid edit posts `SettingEditor.Changed`; an invalid one
shows the SettingsError message under the field and is not applied (the key keeps its last
good value).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.message import Message
from textual.widgets import Input, Label, OptionList, Static, Switch
from textual.widgets.option_list import Option

from sandbox.errors import SettingsError
from sandbox.settings import KeySpec, format_value, parse_value


class ChoiceList(OptionList):
    """A choice key's values, all on view; the current one is marked, enter picks the
    highlighted one. Moving the highlight changes nothing."""

    @dataclass
    class Picked(Message):
        """Enter on a choice."""

        value: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(compact=True, id=id)
        self.choices: tuple[str, ...] = ()
        self.value = ""

    def show(self, choices: tuple[str, ...], value: str) -> None:
        """List `choices` with `value` marked and highlighted."""
        self.choices, self.value = choices, value
        self.set_options(Option(f"{'●' if c == value else ' '} {escape(c)}", id=c) for c in choices)
        self.highlighted = choices.index(value) if value in choices else 0

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Picked(event.option.id))


class SettingEditor(Vertical):
    """Edits one key at a time; `show(spec, value)` picks the key."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back to the list")]

    @dataclass
    class Changed(Message):
        """A valid new value for `key` (already parsed to its type)."""

        editor: SettingEditor
        key: str
        value: Any

        @property
        def control(self) -> SettingEditor:
            return self.editor

    @dataclass
    class Done(Message):
        """The learner finished with the editor (enter or escape): focus the list again."""

        editor: SettingEditor

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec: KeySpec | None = None
        self.value: Any = None
        self.error = ""  # the message shown under the field, or empty

    def compose(self) -> ComposeResult:
        yield Static("", id="setting-about")
        with Horizontal(id="setting-field"):
            yield Switch(id="setting-switch")
            yield Label("", id="setting-switch-state")
            yield Input(compact=True, id="setting-input")
        yield ChoiceList(id="setting-choices")
        yield Label("", id="setting-error")

    @property
    def key(self) -> str | None:
        return self.spec.key if self.spec else None

    def show(self, spec: KeySpec, value: Any) -> None:
        """Edit `spec`'s key, whose current value is `value`."""
        same_key = self.spec is not None and self.spec.key == spec.key
        if same_key and value == self.value:
            return
        self.spec, self.value = spec, value
        self._about()
        kind = spec.kind
        switch, choices = self.query_one(Switch), self.query_one(ChoiceList)
        field = self.query_one(Input)
        switch.display = kind == "bool"
        self.query_one("#setting-switch-state", Label).display = kind == "bool"
        choices.display = kind == "choice"
        self.query_one("#setting-field").display = kind != "choice"
        field.display = kind not in ("bool", "choice")
        with self.prevent(Switch.Changed, Input.Changed):
            if kind == "bool":
                switch.value = bool(value)
                self._switch_state()
            elif kind == "choice":
                choices.show(spec.choices, str(value))
            elif not same_key or self.error == "":
                field.value = format_value(value)
                field.placeholder = {"indexes": "none | default | a,b", "text": "empty: fakeredis"}.get(
                    kind, spec.describe())
        if not same_key:
            self._show_error("")

    def widget(self) -> Switch | ChoiceList | Input:
        """The widget that edits the current key."""
        kind = self.spec.kind if self.spec else "text"
        if kind == "bool":
            return self.query_one(Switch)
        if kind == "choice":
            return self.query_one(ChoiceList)
        return self.query_one(Input)

    def activate(self) -> None:
        """Enter on the list: flip a boolean at once, otherwise put the cursor in the field."""
        widget = self.widget()
        if isinstance(widget, Switch):
            widget.toggle()
            return
        widget.focus()
        if isinstance(widget, Input):
            widget.select_all()

    def _about(self) -> None:
        spec = self.spec
        assert spec is not None
        default = format_value(spec.default)
        accepts = "" if spec.kind in ("bool", "choice") else f"\n[dim]accepts {escape(spec.describe())}[/dim]"
        self.query_one("#setting-about", Static).update(
            f"[b]{escape(spec.key)}[/b] [dim]· default {escape(default or 'empty')}[/dim]\n"
            f"{escape(spec.help)}{accepts}")

    def _switch_state(self) -> None:
        self.query_one("#setting-switch-state", Label).update(format_value(bool(self.value)))

    def _show_error(self, message: str) -> None:
        self.error = message
        still = format_value(self.value) if self.value is not None else ""
        self.query_one("#setting-error", Label).update(
            f"✗ {escape(message)}; still {escape(still or 'empty')}" if message else "")
        self.set_class(bool(message), "-invalid")
        self.query_one(Input).set_class(bool(message), "-invalid")

    def _apply(self, value: Any) -> None:
        self._show_error("")
        if self.spec is None or value == self.value:
            return
        self.value = value
        if self.spec.kind == "bool":
            self._switch_state()
        self.post_message(self.Changed(self, self.spec.key, value))

    @on(Switch.Changed)
    def _switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        self._apply(event.value)

    @on(ChoiceList.Picked)
    def _choice_picked(self, event: ChoiceList.Picked) -> None:
        event.stop()
        self._apply(event.value)
        if self.spec is not None:
            self.query_one(ChoiceList).show(self.spec.choices, event.value)
        self.post_message(self.Done(self))

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.spec is None:
            return
        try:
            value = parse_value(self.spec, event.value)
        except SettingsError as exc:
            self._show_error(str(exc))
            return
        self._apply(value)

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.error:
            self.post_message(self.Done(self))

    def action_back(self) -> None:
        self.post_message(self.Done(self))
