"""Tables for the terminal that fit its width: rich's ``Table`` rendered to text (no colour, no live display).

Numbers never wrap; text cells wrap at spaces, and a word longer than its column is folded onto the next line
rather than cut with an ellipsis, so nothing a cell says is lost. ``WIDTH`` is the width when stdout is not a
terminal (pipes, CI logs): 100 columns.
"""

from __future__ import annotations

import io
import re
import shutil
import textwrap
from collections.abc import Sequence

__all__ = ["WIDTH", "render_table", "terminal_width", "wrap"]

WIDTH = 100


MIN_TEXT = 12  # a text column narrower than this is unreadable: the table is wider than asked instead


def terminal_width() -> int:
    """``WIDTH``, or a narrower terminal's columns (a wider table is harder to read, not easier)."""
    import sys

    if not sys.stdout.isatty():
        return WIDTH
    return min(shutil.get_terminal_size((WIDTH, 24)).columns, WIDTH)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[object]], *, width: int = WIDTH,
                 text_columns: Sequence[int] = (0,), left_columns: Sequence[int] = ()) -> str:
    """``columns`` headers (a space lets a header take two lines); ``text_columns`` the indexes of columns that
    share what width is left and wrap in it; every other column is as wide as its longest value, right-aligned
    (a number) unless in ``left_columns``."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    cells = [[str(x) for x in row] for row in rows]
    # A number column as wide as its longest word (header words wrap onto two lines) or value; the text
    # columns share the rest of the width.
    widths = [max([len(w) for w in name.split()] + [len(r[i]) for r in cells]) for i, name in enumerate(columns)]
    rest = width - sum(w + 1 for i, w in enumerate(widths) if i not in text_columns) - len(text_columns) + 1
    limit = max(rest // len(text_columns), MIN_TEXT)
    table = Table(box=box.SIMPLE_HEAD, padding=0, pad_edge=False, show_edge=False, expand=False)
    for i, name in enumerate(columns):
        if i in text_columns:
            table.add_column(name, overflow="fold", max_width=limit)
        else:
            table.add_column(name, justify="left" if i in left_columns else "right", overflow="fold",
                             width=widths[i])
    for row in cells:
        table.add_row(*(_camel_wrap(c, limit) if i in text_columns else c for i, c in enumerate(row)))
    out = io.StringIO()
    Console(file=out, width=max(width, width - rest + limit * len(text_columns)), color_system=None,
            force_terminal=False, highlight=False, legacy_windows=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def _camel_wrap(text: str, width: int) -> str:
    """A word longer than ``width`` broken where its CamelCase parts meet (``ContributionAdjustments`` ->
    ``Contribution`` / ``Adjustments``), so a mapping type wraps where a reader would break it."""
    out: list[str] = []
    for word in text.split(" "):
        if len(word) <= width:
            out.append(word)
            continue
        line = ""
        for part in re.split(r"(?<=[a-z0-9])(?=[A-Z])", word):
            if line and len(line) + len(part) > width:
                out.append(line)
                line = ""
            line += part
        out.append(line)
    return "\n".join(out) if any(len(w) > width for w in text.split(" ")) else text


def wrap(line: str, width: int = WIDTH, indent: str = "    ") -> str:
    """A long line broken at spaces (never inside a word, a path or a command), continued with ``indent``
    more than the line's own."""
    if len(line) <= width:
        return line
    lead = line[:len(line) - len(line.lstrip())]
    if "  -- " in line:  # SQL with a trailing comment: the comment goes below, every line of it still a comment
        code, comment = line.split("  -- ", 1)
        notes = textwrap.wrap(comment, max(20, width - len(lead) - len(indent) - 3), break_long_words=False)
        return wrap(code, width, indent) + "".join(f"\n{lead}{indent}-- {n}" for n in notes)
    # a `command` in backticks stays on one line (copied as a whole into a shell), however long
    kept = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\x00"), line.lstrip())
    return "\n".join(textwrap.wrap(kept, width, initial_indent=lead, subsequent_indent=lead + indent,
                                   break_long_words=False, break_on_hyphens=False)).replace("\x00", " ")
