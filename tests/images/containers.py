"""Running commands inside the built images: `buildah run --isolation chroot`, the isolation that
works on this machine kind (podman's OCI runtime is refused setting rlimits here). The host's
network is shared, so a server started inside listens on the host's 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

# The Dockerfiles' USER; `buildah run` does not apply it by itself.
IMAGE_USER = "10001:10001"


@contextmanager
def container(image: str, hosts: dict[str, str] | None = None) -> Iterator[str]:
    """A working container of `image` (with `hosts` as extra /etc/hosts entries), removed
    afterwards."""
    create = ["buildah", "from", "--pull=never", "--quiet"]
    for host, address in (hosts or {}).items():
        create += ["--add-host", f"{host}:{address}"]
    name = (
        subprocess.run([*create, image], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    try:
        yield name
    finally:
        subprocess.run(["buildah", "rm", name], capture_output=True)


def run_argv(
    name: str,
    argv: list[str],
    volumes: dict[Path, str] | None = None,
    env: Mapping[str, str] | None = None,
    user: str = IMAGE_USER,
    hostname: str | None = None,
) -> list[str]:
    """The `buildah run` command line for `argv` in container `name`, host folders mounted
    read-write (host path → path in the container), as a pod mounts its volumes."""
    command = ["buildah", "run", "--isolation", "chroot", "--user", user]
    if hostname:
        command += ["--hostname", hostname]
    for host, inside in (volumes or {}).items():
        command += ["--volume", f"{host}:{inside}"]
    for key, value in (env or {}).items():
        command += ["--env", f"{key}={value}"]
    return [*command, name, "--", *argv]


def run_in(name: str, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run `argv` in the container and capture its output (never raises on exit status)."""
    return subprocess.run(run_argv(name, argv, **kwargs), capture_output=True, text=True)


def commands_found(name: str, commands: list[str]) -> list[str]:
    """The paths of those of `commands` the container's PATH has (`command -v` for each)."""
    script = 'for c in "$@"; do command -v "$c"; done'
    return run_in(name, ["sh", "-c", script, "sh", *commands]).stdout.split()


def make_writable(directory: Path, user: str = IMAGE_USER) -> None:
    """Give `directory` to the image's user (as root), else open it to everyone: a folder the
    containers write to, as a volume mounted with the pod's fsGroup is."""
    if os.geteuid() == 0:
        uid, gid = (int(part) for part in user.split(":"))
        os.chown(directory, uid, gid)
    else:
        directory.chmod(0o777)
