"""Hand this machine's pip configuration to an image build without baking any of it in.

A build reaches the package indexes the host reaches: `build_pip_config` turns the host's
effective pip settings (`pip config list`, environment included) into a pip.conf for the build,
passed as the build secret `pip.conf` (the Dockerfiles mount it at /etc/pip.conf; buildah removes
it after each step). The host's CA bundle, when pip is configured with one, goes as the secret
`pip-ca.crt`. Local indexes and wheel folders (`file://` URLs, plain paths) cannot be seen from
inside the build, so `serve_local_indexes` serves them read-only on 127.0.0.1 for the build's
duration (chroot isolation shares the host's network) and the pip.conf names those URLs. No host
name, path or credential ends up in the repository or in an image layer.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Where the Dockerfiles' `--mount=type=secret,id=pip-ca.crt` puts the CA bundle.
CA_SECRET_PATH = "/run/secrets/pip-ca.crt"
# The settings that decide where packages come from and how they are fetched; the rest
# (constraints, cache, version check) is the host's own business.
LOCATION_KEYS = ("index-url", "extra-index-url", "find-links")
PASSED_KEYS = (*LOCATION_KEYS, "trusted-host", "timeout", "default-timeout", "retries")
_LINE = re.compile(r"^(?P<scope>[^.]*)\.(?P<key>[^=]+)='(?P<value>.*)'$")


@dataclass(frozen=True)
class BuildPipConfig:
    """The pip.conf text for the build, the CA bundle to pass (if any), and the local folders
    the text points at through the loopback server (URL prefix → folder)."""

    text: str
    ca_bundle: Path | None
    served: dict[str, Path]


def host_pip_settings(python: str = sys.executable) -> dict[str, str]:
    """pip's effective settings on this host: config files, overridden by PIP_* variables."""
    listing = subprocess.run(
        [python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    files, environment = {}, {}
    for line in listing.splitlines():
        match = _LINE.match(line.strip())
        if match:
            target = environment if match["scope"] == ":env:" else files
            target[match["key"]] = match["value"]
    return files | environment


def _local_folder(location: str) -> Path | None:
    """The folder a `file://` URL or a plain path names; None for a network URL."""
    parts = urlsplit(location)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "" and Path(location).exists():
        return Path(location)
    return None


def build_pip_config(settings: dict[str, str], server_url: str) -> BuildPipConfig:
    """Rewrite `settings` for a build that reaches local folders at `server_url`/<n>/."""
    served: dict[str, Path] = {}
    lines = ["[global]"]
    for key in PASSED_KEYS:
        if key not in settings:
            continue
        values = settings[key].split() if key in LOCATION_KEYS else [settings[key]]
        rewritten = []
        for value in values:
            folder = _local_folder(value) if key in LOCATION_KEYS else None
            if folder is None:
                rewritten.append(value)
                continue
            prefix = str(len(served))
            if key == "find-links" and folder.is_dir():
                served[prefix] = folder.resolve()
                rewritten.append(f"{server_url}/{prefix}/")
            else:
                # An index's pages link to files beside it (PEP 503 `../../files/…`), and a
                # find-links file is named in its folder: serve the parent.
                served[prefix] = folder.parent.resolve()
                rewritten.append(f"{server_url}/{prefix}/{folder.name}")
        lines.append(f"{key} = {' '.join(rewritten)}")
    ca_bundle = Path(settings["cert"]) if settings.get("cert") else None
    if ca_bundle is not None:
        lines.append(f"cert = {CA_SECRET_PATH}")
    return BuildPipConfig("\n".join(lines) + "\n", ca_bundle, served)


class _FolderHandler(SimpleHTTPRequestHandler):
    """GET/HEAD of `/<prefix>/<path>` from the folder registered under `prefix`, nothing else."""

    def __init__(self, *args, folders: dict[str, Path], **kwargs) -> None:
        self.folders = folders
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        prefix, _, rest = unquote(urlsplit(path).path).lstrip("/").partition("/")
        folder = self.folders.get(prefix)
        if folder is None:
            return "/nonexistent"
        target = (folder / rest).resolve()
        return str(target) if target.is_relative_to(folder) else "/nonexistent"

    def log_message(self, format: str, *args) -> None:
        """pip's requests are not the user's business."""


@contextmanager
def serve_local_indexes(settings: dict[str, str]) -> Iterator[BuildPipConfig]:
    """The build's pip config, with the loopback server for its local folders running until the
    block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_FolderHandler, folders={}))
    config = build_pip_config(settings, f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = partial(_FolderHandler, folders=config.served)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield config
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
