"""Rich helpers every benchmark prints with: a progress bar, median (min-max), target verdicts."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


def progress(console: Console | None) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def median_range(summary: dict | None, digits: int = 2, suffix: str = "") -> str:
    """'median (min-max)' of a stats.summary, or '-' when not measured."""
    if summary is None:
        return "-"
    fmt = f"{{:,.{digits}f}}"
    median, low, high = (fmt.format(summary[key]) for key in ("median", "min", "max"))
    if len(summary["values"]) == 1:
        return f"{median}{suffix}"
    return f"{median}{suffix} ({low}-{high})"


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def verdict(target: dict) -> str:
    """A target dict {description, met, measured, ...} as one rich line."""
    met = target.get("met")
    measured = target.get("measured")
    shown = "" if measured is None else f" (measured {measured:,.3g})"
    if met is None:
        state = "[yellow]not measured[/yellow]"
    elif met:
        state = "[green]met[/green]"
    else:
        state = "[red]NOT met[/red]"
    return f"Target: {target['description']}: {state}{shown}"


def target(description: str, measured: float | None, goal: float, higher_is_better: bool) -> dict:
    """A target's JSON: met is None when it was not measured (e.g. a quick run's sizes)."""
    met = None
    if measured is not None:
        met = measured >= goal if higher_is_better else measured <= goal
    return {"description": description, "goal": goal, "measured": measured, "met": met}
