"""``rosetta serve`` in a subprocess, ready when its ``/healthz`` answers: for benchmarks, browser checks and a
user's own integration tests.

>>> free_port() > 0
True
>>> rss_mb(-1)  # no such process: 0
0.0
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from typing import Iterator, Mapping


@dataclass(frozen=True)
class Service:
    """A started service: its base URL and process (``proc.pid`` for its memory)."""

    url: str
    proc: subprocess.Popen


def free_port() -> int:
    """A TCP port free on localhost now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of process ``pid`` in MB (``field``: ``VmRSS`` now, ``VmHWM`` its peak); 0 when gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextlib.contextmanager
def running_service(*args: str, env: Mapping[str, str] | None = None, ready_s: float = 300.0) -> Iterator[Service]:
    """``rosetta serve --port P ARGS...`` in a subprocess (``env`` added to this process's environment); yields
    it once ``/healthz`` answers (the models load before the port opens) and stops it on exit. Raises
    RuntimeError, with the end of the service's log, when it exits or is not ready within ``ready_s`` seconds.

    >>> with running_service("--threads", "1") as service:  # doctest: +SKIP
    ...     httpx.post(service.url + "/v1/read", files={"file": open("sign.jpg", "rb")}).json()
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "rosetta", "serve", "--port", str(port), *args],
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        try:
            deadline = time.monotonic() + ready_s
            while True:
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    state = f"exited with {proc.returncode}" if proc.poll() is not None else f"not ready in {ready_s} s"
                    raise RuntimeError(f"rosetta serve {state}:\n{log.read()[-3000:]}")
                time.sleep(0.1)
            yield Service(url, proc)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


__all__ = ["Service", "free_port", "rss_mb", "running_service"]
