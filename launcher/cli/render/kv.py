"""Two-column "label  value" tables (the job summary, `describe`) that fit the terminal: values
wrap at spaces, and paths and URIs break only after a '/' (`paths.fold_text`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from launcher.cli.render.console import console
from launcher.cli.render.paths import fold_text
from launcher.context import Environment

if TYPE_CHECKING:
    from rich.text import Text

GAP = 2  # between the columns: one cell of padding on each side
MIN_VALUE_WIDTH = 20


@dataclass
class Rows:
    rows: list[tuple[str, str | Text]] = field(default_factory=list)

    def add(self, label: str, value: str | Text) -> None:
        """A row; `value` is plain text (never markup), or a rich Text (short: it is not folded)."""
        self.rows.append((label, value))

    def print(self, env: Environment) -> None:
        from rich.table import Table
        from rich.text import Text

        if not self.rows:
            return
        out = console(env)
        label_width = max(len(label) for label, _ in self.rows)
        value_width = max(MIN_VALUE_WIDTH, out.width - label_width - GAP)
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for label, value in self.rows:
            table.add_row(Text(label), Text(fold_text(value, value_width))
                          if isinstance(value, str) else value)
        out.print(table)
