"""Keyboard first: the scenario picker has a key, and scenarios and switches are in ctrl+p."""

from __future__ import annotations

from textual.widgets import Input, Select
from tui_helpers import WIDE, RecordingApp, playground

from sandbox.scenarios import PATTERNS
from sandbox.settings import all_keys
from sandbox.tui.widgets.settings_panel import SettingsPanel


async def test_every_scenario_and_switch_is_a_palette_command_that_does_its_thing() -> None:
    app = RecordingApp()
    async with app.run_test(size=WIDE) as pilot:
        screen = playground(app)
        commands = {c.title: c for c in app.get_system_commands(screen)}
        assert {f"Scenario: {name}" for name in PATTERNS} <= set(commands)
        assert {f"Switch: {spec.key}" for spec in all_keys()} <= set(commands)

        commands["Scenario: spike"].callback()
        await pilot.pause()
        assert screen.query_one("#run-scenario", Select).value == "spike"
        assert screen.query_one("#run-requests", Input).value == str(PATTERNS["spike"].requests)

        commands["Switch: cache.ttl_s"].callback()
        await pilot.pause()
        assert screen.query_one(SettingsPanel).editor.key == "cache.ttl_s"
        assert screen.query_one("#switch-list").has_focus

        await pilot.press("g")  # the picker, from the keyboard
        await pilot.pause()
        picker = screen.query_one("#run-scenario", Select)
        assert picker.expanded
        assert not app.errors()
