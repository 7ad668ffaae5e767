"""Just enough Dockerfile parsing for the image tests."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from tandem.deploy.image_requirements import ROOT


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str


def instructions(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    if pending:
        logical.append(pending)
    result = []
    for line in logical:
        keyword, _, value = line.partition(" ")
        result.append(Instruction(keyword.upper(), value.strip()))
    return result


def arg_defaults(parsed: list[Instruction]) -> dict[str, str]:
    """ARG defaults, each expanded with the ARGs declared before it."""
    defaults: dict[str, str] = {}
    for instruction in parsed:
        if instruction.keyword == "ARG":
            name, _, value = instruction.value.partition("=")
            defaults[name] = expand(value.strip('"'), defaults)
    return defaults


def expand(text: str, variables: dict[str, str]) -> str:
    """`${VAR}`, `$VAR` and the shell's `${VAR:+word}` (word when VAR is set and not empty)."""
    text = re.sub(
        r"\$\{(\w+):\+([^}]*)\}",
        lambda m: m[2] if variables.get(m[1]) else "",
        text,
    )
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables[m[1] or m[2]], text)


def env_pairs(parsed: list[Instruction]) -> dict[str, str]:
    pairs = {}
    for instruction in parsed:
        if instruction.keyword == "ENV":
            for token in shlex.split(instruction.value):
                name, _, value = token.partition("=")
                pairs[name] = value
    return pairs


@dataclass(frozen=True)
class PipInstall:
    """One `pip install` command: its options and what it installs."""

    options: list[str]
    requirement_files: list[str]
    constraint_files: list[str]
    requirements: list[str]
    index_url: str | None


def pip_installs(parsed: list[Instruction]) -> list[PipInstall]:
    variables = arg_defaults(parsed)
    installs = []
    for instruction in parsed:
        if instruction.keyword != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", expand(instruction.value, variables)):
            words = shlex.split(command)
            if "pip" not in words or "install" not in words:
                continue
            installs.append(_pip_install(words[words.index("install") + 1 :]))
    return installs


def _pip_install(words: list[str]) -> PipInstall:
    install = PipInstall([], [], [], [], None)
    takes = {
        "-r": install.requirement_files,
        "--requirement": install.requirement_files,
        "-c": install.constraint_files,
        "--constraint": install.constraint_files,
    }
    index_url = None
    remaining = iter(words)
    for word in remaining:
        if word in takes:
            takes[word].append(next(remaining))
        elif word in ("-i", "--index-url"):
            index_url = next(remaining)
        elif word.startswith("-"):
            install.options.append(word)
        else:
            install.requirements.append(word)
    return PipInstall(
        install.options,
        install.requirement_files,
        install.constraint_files,
        install.requirements,
        index_url,
    )


def copied_sources(parsed: list[Instruction], root: Path = ROOT) -> dict[str, Path]:
    """Image path → path under the build context `root` for every single-file COPY from the
    context (a COPY --from another stage copies no context file)."""
    sources = {}
    for instruction in parsed:
        if instruction.keyword == "COPY" and "--from=" not in instruction.value:
            words = [w for w in instruction.value.split() if not w.startswith("--")]
            if len(words) == 2:
                sources[words[1]] = root / words[0]
    return sources
