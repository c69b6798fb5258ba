"""Small modal dialogs the screens open (a yes / no question before anything is lost)."""

from sandbox.tui.dialogs.confirm import ConfirmDialog

__all__ = ["ConfirmDialog"]
