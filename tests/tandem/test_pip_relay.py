"""The build's pip configuration (tandem/deploy/pip_relay.py): the host's settings rewritten so a
build reaches local indexes through 127.0.0.1, proven with a real pip download through the
loopback server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tandem.deploy.pip_relay import (
    CA_SECRET_PATH,
    build_pip_config,
    host_pip_settings,
    serve_local_indexes,
)


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal valid wheel (metadata only) pip can download and inspect."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


def _index(root: Path, wheel: Path) -> Path:
    """A PEP 503 index at root/simple whose page links ../../files/<wheel>, as the host's do."""
    files = root / "files"
    files.mkdir(parents=True)
    target = files / wheel.name
    target.write_bytes(wheel.read_bytes())
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    page = root / "simple" / wheel.name.split("-")[0]
    page.mkdir(parents=True)
    link = f'<a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a>'
    (page / "index.html").write_text(f"<html><body>{link}</body></html>")
    return root / "simple"


def test_local_locations_are_served_and_the_rest_passes_through(tmp_path: Path) -> None:
    settings = {
        "index-url": "https://pypi.example/simple",
        "extra-index-url": f"file://{tmp_path}/pypi/simple https://more.example/simple",
        "find-links": str(tmp_path),
        "cert": "/etc/ssl/certs/host-bundle.crt",
        "constraint": "/etc/xdg/pip/constraints.txt",
        "default-timeout": "180",
    }
    config = build_pip_config(settings, "http://127.0.0.1:9")
    assert config.text.splitlines() == [
        "[global]",
        "index-url = https://pypi.example/simple",
        "extra-index-url = http://127.0.0.1:9/0/simple https://more.example/simple",
        "find-links = http://127.0.0.1:9/1/",
        "default-timeout = 180",
        f"cert = {CA_SECRET_PATH}",
    ]
    assert config.served == {"0": (tmp_path / "pypi").resolve(), "1": tmp_path.resolve()}
    assert config.ca_bundle == Path("/etc/ssl/certs/host-bundle.crt")


def test_a_build_pip_downloads_through_the_loopback_server(tmp_path: Path) -> None:
    built = tmp_path / "built"
    built.mkdir()
    index = _index(tmp_path / "pypi", _wheel(built, "tandemprobe", "1.0"))
    links = tmp_path / "links"
    links.mkdir()
    _wheel(links, "tandemlinked", "2.0")
    settings = {"index-url": f"file://{index}", "find-links": str(links)}
    with serve_local_indexes(settings) as config:
        conf = tmp_path / "pip.conf"
        conf.write_text(config.text)
        env = {**os.environ, "PIP_CONFIG_FILE": str(conf)}
        for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
            env.pop(name, None)
        downloads = tmp_path / "downloads"
        for requirement in ("tandemprobe==1.0", "tandemlinked==2.0"):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-d",
                    str(downloads),
                    requirement,
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            assert done.returncode == 0, done.stderr[-2000:]
        port = config.text.split("127.0.0.1:")[1].split("/")[0]
        with pytest.raises(urllib.error.HTTPError) as escaped:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/1/../../../etc/passwd", timeout=5)
        assert escaped.value.code == 404
    assert sorted(p.name for p in downloads.iterdir()) == [
        "tandemlinked-2.0-py3-none-any.whl",
        "tandemprobe-1.0-py3-none-any.whl",
    ]


def test_pip_variables_override_the_config_files(tmp_path: Path, monkeypatch) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nfind-links = /from/the/file\ntimeout = 7\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_FIND_LINKS", "/from/the/environment")
    settings = host_pip_settings()
    assert settings["find-links"] == "/from/the/environment"
    assert settings["timeout"] == "7"
