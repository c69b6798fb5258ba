"""Text made safe for a terminal: the two ways outside text could take over the screen.

- `printable` for plain output (logs, the serve log): control characters such as ESC,
  newline, DEL or a bidi override become visible escapes like `\\x1b`, so a URL cannot colour
  the screen or forge a second log line.
- `escape` for Rich markup: `[bold]` in a file name or a student's message is shown as it is,
  not obeyed. Rich is imported on first use, so commands that start fast stay fast.

Standard library only: the lowest floor, importable from anywhere.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """`text` with every non-printable character written as its escape (`\\x1b`, `\\n`)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def escape(text: str) -> str:
    """Rich's markup escape, imported on first use."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)
