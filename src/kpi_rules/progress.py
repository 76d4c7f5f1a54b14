"""Progress of long runs: a rich bar on a terminal, nothing anywhere else.

The engine never draws anything: long-running functions take an optional ``progress`` callback
(``advance(n)``, called as work gets done) and the command line decides whether a bar is shown.
It is shown only when standard error is a terminal and ``--quiet`` was not given, so logs, pipes
and CI output stay clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

#: ``advance(n)``: n more units of work (records, pages, files) are done.
Advance = Callable[[int], None]


def _ignore(_: int) -> None:
    return None


def shows_progress(console: Console, quiet: bool) -> bool:
    """Whether a bar would be drawn: on a terminal and not asked to be quiet."""
    return not quiet and console.is_terminal


@contextmanager
def progress_bar(console: Console, label: str, total: int | None, *, quiet: bool = False) -> Iterator[Advance]:
    """Yield an ``advance`` callback; draw a transient bar on ``console`` when it is a terminal.

    ``total`` may be ``None`` when the amount of work is not known in advance (the bar then
    pulses). When no bar is shown the callback does nothing, so callers never test for it.
    """
    if not shows_progress(console, quiet):
        yield _ignore
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        yield advance
