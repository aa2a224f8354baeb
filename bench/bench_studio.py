"""How the studio scales with visitors: N concurrent gradio_client sessions, N = 1, 10, 100.

    .venv/bin/python bench/bench_studio.py [--latency 5] [--sessions 1 10 100]

The server runs in its own process (the full app: create_app, studio at "/"), with the
fixed-latency test-double backend from tests/test_studio_support.py: every job sleeps
`--latency` seconds, as a remote GPU would take, so the web side is all that is measured.
Each round opens N sessions first and makes one generation in each, as a page load would
create the visitor's session (not timed); then every session asks for one generation at
once (images and music alternating). Reported: each visitor's wait from their request to
their result (median, slowest), the slowest as a multiple of the single-session wait
(1.0x = no visitor waited for another), when the last result arrived, and the server's
CPU time per request and resident memory at its peak during the round.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def serve(port: int, latency: float) -> None:
    """The server process: the whole app on the test-double backend."""
    import uvicorn

    from tests.support.servers import FixedLatencyBackend
    from ui.store import ResultStore
    from ui.web import create_app

    store = ResultStore(Path(tempfile.mkdtemp(prefix="bench-studio-")))
    app = create_app(FixedLatencyBackend(latency=latency, steps=10), store)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakRss:
    """Samples a process's RSS every 50 ms while in use."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self) -> "PeakRss":
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.05)


def round_of(url: str, n: int, pid: int, workdir: Path) -> dict:
    from gradio_client import Client

    def open_session(i: int) -> Client:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=str(workdir / f"s{i}"))
        client.predict("warm up", api_name="/generate_image")  # as a page load would: the session exists
        return client

    def visit(i: int, client: Client) -> tuple[float, float]:
        """One visitor asks for a generation: (seconds until their result, when it arrived)."""
        asked = time.monotonic()
        client.predict(f"visitor {i}", api_name="/generate_music" if i % 2 else "/generate_image")
        done = time.monotonic()
        return done - asked, done - started

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        clients = list(pool.map(open_session, range(n)))  # not timed
        try:
            with PeakRss(pid) as rss:
                cpu_before, started = cpu_seconds(pid), time.monotonic()
                results = list(pool.map(visit, range(n), clients))
                cpu = cpu_seconds(pid) - cpu_before
        finally:
            for c in clients:
                c.close()
    waits = [wait for wait, _ in results]
    return {"n": n, "all": max(at for _, at in results), "median": statistics.median(waits),
            "slowest": max(waits), "rss": rss.peak, "cpu_ms": 1000 * cpu / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=5.0, help="seconds each job takes in the test double")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.latency)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--latency", str(args.latency)])
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the studio server did not start")
            time.sleep(0.2)
        idle = rss_mib(server.pid)
        os.nice(10)  # the load generator shares the machine's cores: the server comes first, as if it were alone
        with tempfile.TemporaryDirectory() as tmp:
            rows = [round_of(url, n, server.pid, Path(tmp)) for n in args.sessions]
    finally:
        server.terminate()
        server.wait(timeout=30)

    single = rows[0]["slowest"]
    print(f"\nStudio under load: fixed-latency test-double backend, {args.latency:g} s per job; "
          f"server RSS idle {idle:.0f} MiB\n")
    print(f"{'sessions':>8} | {'wait (median)':>13} | {'wait (slowest)':>14} | {'vs one':>7} | {'all done':>8} | "
          f"{'server CPU/request':>18} | {'server RSS peak':>15}")
    print("-|-".join("-" * w for w in (8, 13, 14, 7, 8, 18, 15)))
    for r in rows:
        print(f"{r['n']:>8} | {r['median']:>12.2f}s | {r['slowest']:>13.2f}s | {r['slowest'] / single:>6.2f}x | "
              f"{r['all']:>7.2f}s | {r['cpu_ms']:>15.1f} ms | {r['rss']:>11.0f} MiB")


if __name__ == "__main__":
    main()
