"""An install as an ordered list of steps: ``--dry-run`` prints them, a real run runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Echo = Callable[[str], None]


class InstallError(Exception):
    """A step (or a preflight check) that cannot go on; nothing after it runs."""


@dataclass
class Step:
    title: str
    run: Callable[[], str | None] | None = None
    """Does the step; may return a detail line. None: a note only (printed, nothing to do)."""


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)

    def add(self, title: str, run: Callable[[], str | None] | None = None) -> None:
        self.steps.append(Step(title, run))

    def execute(self, *, dry_run: bool, echo: Echo) -> None:
        for number, step in enumerate(self.steps, 1):
            prefix = "would" if dry_run and step.run is not None else "·" if step.run is None else "→"
            echo(f"{number:2d}. {prefix} {step.title}")
            if dry_run or step.run is None:
                continue
            detail = step.run()
            if detail:
                echo(f"      {detail}")
