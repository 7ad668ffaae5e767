"""Three workarounds for kfp.local, each in force while a local run lasts.

Temporary files: kfp.local leaves a workspace directory per `init` and a `mktemp -d` program
directory per lightweight step behind. `scratch_tmpdir` gives a run (and TMPDIR, for everything
the steps start) a scratch directory it deletes.

Conditions: kfp.local 2.16.1 never runs a `dsl.If` branch on a task output: its condition
evaluator looks for `<task>--<output>` channel names (the compiler writes `<task>-<output>`) and
then `eval`s the condition with neither `inputs` nor `true` defined. `local_conditions` puts an
evaluator in its place that reads the one condition form the DSL compiles
`dsl.If(output == True/False)` to, and refuses any other.

The interpreter: kfp.local 2.16.1 points a step at this interpreter by replacing the text
"python3" in every element of the step's command line, the executor input (JSON holding every
parameter) included, so a parameter such as a spec whose source is
`/venv/lib/python3.11/site-packages/...` reached the step as a broken path. `python_program_only`
replaces only the word `python3` standing alone, as the program name does.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_PYTHON_PROGRAM = re.compile(r"(?<![\w./-])python3(?![\w./-])")
_CONDITION = re.compile(
    r"inputs\.parameter_values\['pipelinechannel--(?P<channel>[\w-]+)'\] == (?P<value>true|false)"
)


def evaluate_condition(condition: str, io_store) -> bool:
    """`inputs.parameter_values['pipelinechannel--<task>-<output>' or '--<param>'] == true` (or
    false), against kfp.local's IOStore of task outputs and pipeline inputs."""
    match = _CONDITION.fullmatch(condition.strip())
    if match is None:
        raise NotImplementedError(f"kfp.local cannot evaluate the condition {condition!r}")
    channel, expected = match["channel"], match["value"] == "true"
    for task, outputs in io_store._task_output_data.items():
        key = channel.removeprefix(f"{task}-")
        if key != channel and key in outputs:
            return outputs[key] == expected
    return io_store.get_parent_input(channel) == expected


@contextmanager
def local_conditions() -> Iterator[None]:
    from kfp.local.orchestrator.enhanced_dag_orchestrator import ConditionEvaluator

    original = ConditionEvaluator.__dict__["evaluate_condition"]
    ConditionEvaluator.evaluate_condition = staticmethod(evaluate_condition)
    try:
        yield
    finally:
        ConditionEvaluator.evaluate_condition = original


def replace_python_program(full_command: list[str], new_executable: str) -> list[str]:
    """Each `python3` program word in the command replaced by `new_executable`; a `python3`
    inside a longer word or path (`python3.11`, `/usr/bin/python3`) stays."""
    return [_PYTHON_PROGRAM.sub(new_executable, element) for element in full_command]


@contextmanager
def python_program_only() -> Iterator[None]:
    from kfp.local import subprocess_task_handler

    original = subprocess_task_handler.replace_python_executable
    subprocess_task_handler.replace_python_executable = replace_python_program
    try:
        yield
    finally:
        subprocess_task_handler.replace_python_executable = original


@contextmanager
def scratch_tmpdir(parent: Path) -> Iterator[Path]:
    """TMPDIR at a fresh directory for the block (inherited by every step), deleted after.
    This process's own tempfile location is fixed first, so it keeps using the old one."""
    tempfile.gettempdir()
    scratch = parent / f"tmp-{uuid.uuid4().hex[:8]}"
    scratch.mkdir(parents=True)
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(scratch)
    try:
        yield scratch
    finally:
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved
        shutil.rmtree(scratch, ignore_errors=True)
