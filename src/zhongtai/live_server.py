"""Start Zhongtai in a subprocess on a free loopback port and wait until ``/healthz`` answers.

For benchmarks, browser tests and screenshots: anything that needs the real server (uvicorn,
possibly several worker processes) rather than an in-process ``TestClient``::

    with serve_in_subprocess("sqlite:////tmp/shop.db", workers=2) as base:
        httpx.get(f"{base}/api/v1/...")

The server is ``python -m zhongtai.cli serve`` run by this interpreter, in its own process group,
with the package that holds this module on ``PYTHONPATH`` (so it works from any checkout, installed
or not). It inherits the caller's environment, then gets ``ZHONGTAI_DATABASE_URL``,
``ZHONGTAI_RUN_WORKER=false`` and ``ZHONGTAI_LOG_LEVEL=WARNING``, then the ``env`` given here,
which wins over both. On leaving the block the whole group is terminated, and killed if it has
not exited 10 seconds later.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

__all__ = ["free_port", "serve_in_subprocess"]

HOST = "127.0.0.1"
# The directory that contains the ``zhongtai`` package (``src`` in a checkout).
PACKAGE_PARENT = Path(__file__).resolve().parents[1]
_POLL_S = 0.2
_STOP_GRACE_S = 10.0


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(database_url: str, env: Mapping[str, str] | None) -> dict[str, str]:
    merged = {
        **os.environ,
        "ZHONGTAI_DATABASE_URL": database_url,
        "ZHONGTAI_RUN_WORKER": "false",
        "ZHONGTAI_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    inherited = merged.get("PYTHONPATH")
    merged["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_PARENT), *([inherited] if inherited else [])])
    return merged


def _wait_healthy(proc: subprocess.Popen[bytes], base: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    # trust_env=False: a proxy from the environment must not stand between us and loopback.
    with httpx.Client(timeout=2, trust_env=False) as http:
        while True:
            try:
                if http.get(f"{base}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            code = proc.poll()
            if code is not None:
                raise RuntimeError(f"the Zhongtai server exited with code {code} before {base}/healthz answered")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Zhongtai server (pid {proc.pid}) did not answer {base}/healthz with 200"
                    f" within {timeout_s:g} s"
                )
            time.sleep(_POLL_S)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (uvicorn and its workers), SIGKILL after a grace period."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_STOP_GRACE_S)
    # A supervisor that ignored SIGTERM, or workers left behind by one that has exited.
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextmanager
def serve_in_subprocess(
    database_url: str,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 60,
) -> Iterator[str]:
    """Serve Zhongtai over ``database_url`` and yield its base URL, ``http://127.0.0.1:<port>``.

    ``workers`` is uvicorn's process count; ``env`` adds or overrides environment variables for
    the server (e.g. ``{"ZHONGTAI_DB_POOL_SIZE": "30"}``, or ``{"ZHONGTAI_RUN_WORKER": "true"}``
    to run background jobs in the web process). Raises ``RuntimeError`` (with the exit code if the
    server died) when ``/healthz`` does not answer 200 within ``timeout_s`` seconds. The server's
    output goes to this process's stdout and stderr.
    """
    port = free_port()
    base = f"http://{HOST}:{port}"
    cmd = [
        sys.executable,
        "-m",
        "zhongtai.cli",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    # Its own session and process group: stopping it also stops uvicorn's worker processes.
    proc = subprocess.Popen(cmd, env=_server_env(database_url, env), start_new_session=True)  # noqa: S603
    try:
        _wait_healthy(proc, base, timeout_s)
        yield base
    finally:
        _stop(proc)
