"""Text made safe for a terminal: the ways outside text could take over the screen.

- `printable` for plain output (logs, the serve log): control characters such as ESC,
  newline, DEL or a bidi override become visible escapes like `\\x1b`, so a URL cannot colour
  the screen or forge a second log line.
- `printable_json` for JSON text (the JSON request log): the same characters become `\\u001b`
  escapes instead, which a JSON parser reads back as the original characters.
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


def printable_json(text: str) -> str:
    """JSON text with each non-printable character written as a `\\uXXXX` escape. JSON escapes
    control characters itself but lets DEL, bidi overrides and the like through raw; outside
    strings JSON has no such characters, so the text still parses to the same values."""
    if text.isprintable():
        return text
    out: list[str] = []
    for c in text:
        if c.isprintable():
            out.append(c)
            continue
        code = ord(c)
        if code > 0xFFFF:  # JSON spells a character beyond 16 bits as a surrogate pair
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)


def escape(text: str) -> str:
    """Rich's markup escape, imported on first use."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)
