"""Screens of the terminal app, one module each."""

from pathlib import Path

# The rules of every screen but home, read when the first of them opens (each names this file
# as its CSS_PATH; Textual reads a path once). Absolute, so subclasses elsewhere work.
SCREENS_CSS = Path(__file__).parent.parent / "screens.tcss"
