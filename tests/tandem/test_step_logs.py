"""Step logs: a step's output from every source lands in its log, tandem's consoles keep the
terminal, and everything is put back afterwards."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest
from rich.console import Console

from components.common.errors import TandemError
from tandem.step_logs import LOGS_DIR, TAIL_LINES, StepLogs, output_to, tail

CHILD = textwrap.dedent(
    """
    import os, sys
    print("child stdout line")
    print("child stderr line", file=sys.stderr)
    os.write(2, b"child fd 2 line\\n")
    """
)


def _logs(tmp_path, verbose: bool = False) -> StepLogs:
    return StepLogs(
        tmp_path, "group-1", Console(stderr=True, width=200), Console(width=200), verbose
    )


def _descriptor_targets() -> tuple[tuple[int, int], ...]:
    return tuple((os.fstat(fd).st_dev, os.fstat(fd).st_ino) for fd in (1, 2))


def test_every_source_of_output_goes_to_the_log_and_the_consoles_to_the_terminal(tmp_path, capfd):
    logs = _logs(tmp_path)
    before = _descriptor_targets()
    streams = sys.stdout, sys.stderr
    imported_earlier = logging.StreamHandler(sys.__stderr__)
    with logs.step("train"):
        subprocess.run([sys.executable, "-c", CHILD], check=True)
        os.write(2, b"a write to fd 2, as C++ logging does\n")
        print("a print")
        library = logging.getLogger("tandem-test-library")
        library.propagate = False
        configured_in_step = logging.StreamHandler()
        for handler in (imported_earlier, configured_in_step):
            library.addHandler(handler)
        library.warning("a library warning")
        for handler in (imported_earlier, configured_in_step):
            library.removeHandler(handler)
        logs.console.print("tandem's display line")
        logs.summary.print("tandem's summary line")
    os.write(1, b"after the step\n")
    terminal = capfd.readouterr()
    log = (tmp_path / LOGS_DIR / "group-1" / "train.log").read_text()
    for line in (
        "child stdout line",
        "child stderr line",
        "child fd 2 line",
        "a write to fd 2, as C++ logging does",
        "a print",
    ):
        assert line in log
        assert line not in terminal.out + terminal.err
    assert log.count("a library warning") == 2
    assert "a library warning" not in terminal.err
    assert "tandem's display line" in terminal.err
    assert "tandem's summary line" in terminal.out
    assert "tandem's" not in log
    assert terminal.out.endswith("after the step\n")
    assert _descriptor_targets() == before
    assert (sys.stdout, sys.stderr) == streams
    assert logs.files == [tmp_path / LOGS_DIR / "group-1" / "train.log"]


def test_python_output_under_a_spinner_started_in_the_step_goes_to_the_log(tmp_path, capfd):
    """A rich status spinner on a terminal console redirects sys.stdout and sys.stderr onto
    that console while it spins; inside a step they stay on the log."""
    logs = StepLogs(
        tmp_path, "group-1", Console(stderr=True, force_terminal=True), Console(width=200)
    )
    with logs.step("compare"), logs.console.status("comparing"):
        print("a print under the spinner")
        # What warnings.showwarning does: write to sys.stderr as it is at the time.
        print("RuntimeWarning: nearly identical data", file=sys.stderr)
        assert sys.stdout.encoding == sys.__stdout__.encoding
    terminal = capfd.readouterr()
    log = (tmp_path / LOGS_DIR / "group-1" / "compare.log").read_text()
    assert "a print under the spinner" in log
    assert "RuntimeWarning: nearly identical data" in log
    assert "comparing" in terminal.err
    assert "under the spinner" not in terminal.out + terminal.err
    assert "nearly identical" not in terminal.out + terminal.err


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_descriptors_and_streams_come_back_when_the_step_raises(tmp_path, capfd, error):
    before = _descriptor_targets()
    streams = sys.stdout, sys.stderr
    with pytest.raises(type(error)), output_to(tmp_path / "step.log"):
        os.write(1, b"inside\n")
        raise error
    os.write(1, b"outside\n")
    assert capfd.readouterr().out == "outside\n"
    assert _descriptor_targets() == before
    assert (sys.stdout, sys.stderr) == streams
    assert (tmp_path / "step.log").read_text() == "inside\n"


def test_a_failing_step_prints_the_end_of_its_log_and_its_path(tmp_path, capfd):
    logs = _logs(tmp_path)
    with pytest.raises(RuntimeError, match="kfp task failed"), logs.step("pytorch-seed0"):
        for number in range(1, 31):
            print(f"library line {number}")
        raise RuntimeError("kfp task failed")
    terminal = capfd.readouterr().err
    path = tmp_path / LOGS_DIR / "group-1" / "pytorch-seed0.log"
    assert f"the last {TAIL_LINES} lines of {path}:" in terminal
    shown = [line.strip() for line in terminal.splitlines() if "library line" in line]
    assert shown == [f"library line {number}" for number in range(11, 31)]


def test_a_tandem_error_stays_one_line_and_names_the_log(tmp_path, capfd):
    logs = _logs(tmp_path)
    with pytest.raises(TandemError) as raised, logs.step("ingest"):
        print("beam chatter")
        raise TandemError("data.csv: the file is empty")
    path = tmp_path / LOGS_DIR / "group-1" / "ingest.log"
    assert str(raised.value) == f"data.csv: the file is empty (log: {path})"
    terminal = capfd.readouterr()
    assert terminal.out == terminal.err == ""


def test_verbose_streams_everything_and_writes_no_log(tmp_path, capfd):
    logs = _logs(tmp_path, verbose=True)
    with logs.step("ingest"):
        subprocess.run([sys.executable, "-c", CHILD], check=True)
    terminal = capfd.readouterr()
    assert "child stdout line" in terminal.out
    assert "child fd 2 line" in terminal.err
    assert logs.files == []
    assert not (tmp_path / LOGS_DIR).exists()


def test_the_tail_shows_each_line_as_its_last_redraw(tmp_path):
    path = tmp_path / "progress.log"
    path.write_text("".join(f"line {n}\n" for n in range(25)) + "10%\r50%\r100% done\n")
    assert tail(path) == [*(f"line {n}" for n in range(6, 25)), "100% done"]
