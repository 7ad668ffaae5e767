"""One `tandem serve` process tree under a bounded HTTP load (`benchmarks.serving_bench`).

The server is the real command in a session of its own; the load is an asyncio client (httpx)
that keeps `concurrency` requests in flight until `requests` have been sent, timing each one;
a thread samples the RSS of the server's whole process tree meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from benchmarks.launch import stop_group

READY_S = 300.0
STOP_S = 15.0
REQUEST_TIMEOUT_S = 60.0
RSS_SAMPLE_S = 0.05
TANDEM = Path(sys.executable).parent / "tandem"


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen
    url: str
    startup_s: float


def start_server(framework: str, output_dir: Path, port: int, log: Path) -> Server:
    """`tandem serve` for this framework's champion, returned once /ping answers."""
    command = [str(TANDEM), "serve", "--framework", framework, "--output-dir", str(output_dir)]
    started = time.perf_counter()
    with log.open("w") as sink:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tandem serve --framework {framework} exited: {log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/ping", timeout=5).status_code == 200:
                return Server(process, url, time.perf_counter() - started)
        time.sleep(0.2)
    stop_group(process, STOP_S)
    raise RuntimeError(f"tandem serve --framework {framework} not ready in {READY_S} s")


class TreePeakRss:
    """The peak summed RSS of a process and its descendants while the block runs."""

    def __init__(self, pid: int) -> None:
        self._root = psutil.Process(pid)
        self._stop = threading.Event()
        self.peak_bytes = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for process in [self._root, *self._root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += process.memory_info().rss
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(RSS_SAMPLE_S)

    def __enter__(self) -> TreePeakRss:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def _load(url: str, bodies: list[bytes], requests: int, concurrency: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Content-Type": "application/json"}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < requests:
            body = bodies[sent % len(bodies)]
            sent += 1
            began = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append(time.perf_counter() - began)
            if response.status_code != 200:
                errors.append(f"HTTP {response.status_code}: {response.text[:200]}")

    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else []
    return {
        "requests": requests,
        "wall_s": wall,
        "requests_per_s": requests / wall,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_ms": 1000 * cuts[98] if cuts else None,
        "errors": len(errors),
        "first_errors": errors[:3],
    }


def run_load(server: Server, bodies: list[bytes], requests: int, concurrency: int) -> dict:
    """`requests` POSTs to /invocations, `concurrency` in flight, cycling through `bodies`."""
    with TreePeakRss(server.process.pid) as rss:
        figures = asyncio.run(_load(f"{server.url}/invocations", bodies, requests, concurrency))
    return {**figures, "peak_rss_mb": rss.peak_bytes / 2**20}
