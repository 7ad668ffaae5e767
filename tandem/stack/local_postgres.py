"""A private PostgreSQL cluster for the local MLflow stack: the distribution's server binaries, a
data directory under the stack directory, TCP on 127.0.0.1 only, one role and database for MLflow.

PostgreSQL refuses to run as root. Started by root, the cluster belongs to the `postgres` system
user (Debian's package creates it) and every server command runs through `runuser`; started by
anyone else, it belongs to that user. The MLflow role logs in over TCP with a password generated at
first start and kept in a libpq password file (mode 600) in the stack directory, so the password
appears in no command line, URI or log. The cluster's owner reaches it as superuser over a Unix
socket in a directory only it can enter (peer authentication), which is how the role and database
are provisioned.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from components.common.errors import TandemError

SYSTEM_USER = "postgres"
ROLE = "mlflow"
DATABASE = "mlflow"
HOST = "127.0.0.1"
INSTALL_HINT = (
    "install Debian's PostgreSQL server: `make setup` does it, or "
    "`apt-get install --no-install-recommends postgresql`"
)
# Linux limits a Unix socket path (sun_path) to 107 bytes.
_SOCKET_PATH_MAX = 107
_SERVER_BINARIES = ("initdb", "pg_ctl", "postgres", "psql")
# Debian's layout: one directory per installed major version.
DEBIAN_ROOT = Path("/usr/lib/postgresql")


@dataclass(frozen=True)
class Cluster:
    """Where one cluster lives: <root>/data (PGDATA), <root>/run (its socket), <root>/postgres.log.
    passfile: the libpq password file for the MLflow role (owned by the caller, not the cluster)."""

    root: Path
    passfile: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def uri(self, port: int) -> str:
        """SQLAlchemy URI of the MLflow database, without the password (libpq reads the file)."""
        return f"postgresql://{ROLE}@{HOST}:{port}/{DATABASE}"


def find_bindir() -> Path:
    """The newest installed server's bin directory: /usr/lib/postgresql/<major>/bin on Debian
    (Debian 12 ships 15, Debian 13 ships 17), else `pg_config --bindir`, else pg_ctl on PATH."""
    candidates = sorted(
        DEBIAN_ROOT.glob("*/bin"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.name)],
        reverse=True,
    )
    if pg_config := shutil.which("pg_config"):
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    if pg_ctl := shutil.which("pg_ctl"):
        candidates.append(Path(pg_ctl).resolve().parent)
    for bindir in candidates:
        if all((bindir / name).is_file() for name in _SERVER_BINARIES):
            return bindir
    raise TandemError(f"PostgreSQL server binaries (initdb, pg_ctl) not found: {INSTALL_HINT}")


def _owner() -> pwd.struct_passwd:
    """The account the cluster runs as: `postgres` under root, else the caller."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise TandemError(
            f"running as root, PostgreSQL needs the `{SYSTEM_USER}` system user: {INSTALL_HINT}"
        ) from None


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SYSTEM_USER, "--", *command]


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """A server command as the cluster's owner, from `/` (the caller's directory may be closed
    to that user)."""
    return subprocess.run(
        _as_owner(command), cwd="/", capture_output=True, text=True, check=False, **kwargs
    )


def _give_to_owner(path: Path, owner: pwd.struct_passwd) -> None:
    if os.geteuid() == 0:
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _prepare_directories(cluster: Cluster, owner: pwd.struct_passwd) -> None:
    """Create the cluster's directories for its owner and check the owner can reach them."""
    socket_file = cluster.socket_dir / ".s.PGSQL.00000"
    if len(str(socket_file)) > _SOCKET_PATH_MAX:
        raise TandemError(
            f"{cluster.root}: too deep for PostgreSQL's Unix socket (at most {_SOCKET_PATH_MAX} "
            "characters); choose a shorter stack directory"
        )
    if os.geteuid() == 0:
        # The stack directory may be private to root (mkdtemp): let `postgres` pass through.
        parent = cluster.root.parent
        parent.chmod(parent.stat().st_mode | 0o011)
    for directory in (cluster.root, cluster.socket_dir, cluster.data_dir):
        directory.mkdir(mode=0o700, exist_ok=True)
        _give_to_owner(directory, owner)
    if _run(["test", "-w", str(cluster.root)]).returncode != 0:
        raise TandemError(
            f"{cluster.root}: the user `{owner.pw_name}` cannot reach it; every directory above "
            "it needs search permission for that user (chmod o+x), or choose another stack "
            "directory"
        )


def _write_passfile(passfile: Path) -> str:
    """The MLflow role's password: generated once, kept in a libpq password file (mode 600)."""
    if passfile.is_file():
        return passfile.read_text().strip().rsplit(":", 1)[1]
    password = secrets.token_urlsafe(24)  # letters, digits, - and _: nothing libpq must escape
    descriptor = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(f"{HOST}:*:{DATABASE}:{ROLE}:{password}\n")
    return password


def _initdb(bindir: Path, cluster: Cluster) -> None:
    result = _run(
        [
            str(bindir / "initdb"),
            "--pgdata",
            str(cluster.data_dir),
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
        ]
    )
    if result.returncode != 0:
        raise TandemError(f"initdb {cluster.data_dir} failed: {result.stderr.strip()}")
    settings = (
        "\n# tandem local stack: TCP on loopback only, the socket in the cluster's own directory\n"
        f"listen_addresses = '{HOST}'\n"
        f"unix_socket_directories = '{cluster.socket_dir}'\n"
    )
    with (cluster.data_dir / "postgresql.conf").open("a") as conf:
        conf.write(settings)


def running_port(cluster: Cluster) -> int | None:
    """The port of the running server, or None when it is not running."""
    if not (cluster.data_dir / "PG_VERSION").is_file():
        return None
    command = [str(find_bindir() / "pg_ctl"), "status", "--pgdata", str(cluster.data_dir)]
    if _run(command).returncode != 0:
        return None
    # postmaster.pid: pid, data directory, start time, port, ... (one per line)
    lines = (cluster.data_dir / "postmaster.pid").read_text().splitlines()
    return int(lines[3])


def start(cluster: Cluster, port: int) -> int:
    """Initialise (first time), start (unless running) and provision the cluster; returns the
    port it listens on — the running server's own when it was already up."""
    bindir = find_bindir()
    owner = _owner()
    _prepare_directories(cluster, owner)
    password = _write_passfile(cluster.passfile)
    if not (cluster.data_dir / "PG_VERSION").is_file():
        _initdb(bindir, cluster)
    current = running_port(cluster)
    if current is None:
        command = [str(bindir / "pg_ctl"), "start", "--pgdata", str(cluster.data_dir)]
        options = ["--wait", "--timeout=60", f"--log={cluster.log_file}", f"--options=-p {port}"]
        result = _run([*command, *options])
        if result.returncode != 0:
            raise TandemError(
                f"PostgreSQL did not start on {HOST}:{port}; see {cluster.log_file} "
                f"({result.stderr.strip() or result.stdout.strip()})"
            )
        current = port
    _provision(bindir, cluster, current, password)
    return current


def _provision(bindir: Path, cluster: Cluster, port: int, password: str) -> None:
    """Create the MLflow role and database when missing and set the role's password to the one in
    the password file (idempotent). The SQL goes through stdin: the password stays off argv."""
    sql = f"""
SELECT 'CREATE ROLE {ROLE} LOGIN' WHERE NOT EXISTS
  (SELECT FROM pg_roles WHERE rolname = '{ROLE}') \\gexec
ALTER ROLE {ROLE} WITH LOGIN PASSWORD '{password}';
SELECT 'CREATE DATABASE {DATABASE} OWNER {ROLE}' WHERE NOT EXISTS
  (SELECT FROM pg_database WHERE datname = '{DATABASE}') \\gexec
"""
    command = [str(bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    target = ["-h", str(cluster.socket_dir), "-p", str(port), "-d", "postgres"]
    result = _run([*command, *target], input=sql)
    if result.returncode != 0:
        raise TandemError(f"could not create the {ROLE} role and database: {result.stderr.strip()}")


def stop(cluster: Cluster) -> bool:
    """Stop the server (fast shutdown: open sessions are ended); False when it was not running."""
    if running_port(cluster) is None:
        return False
    command = [str(find_bindir() / "pg_ctl"), "stop", "--pgdata", str(cluster.data_dir)]
    result = _run([*command, "--mode=fast", "--wait", "--timeout=60"])
    if result.returncode != 0:
        raise TandemError(
            f"PostgreSQL did not stop: {result.stderr.strip()}; see {cluster.log_file}"
        )
    return True
