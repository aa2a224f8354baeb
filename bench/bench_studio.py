"""The studio under 100 visitors, through the gate, side by side with the gate's limits off.

    .venv/bin/python bench/bench_studio.py [--latency 5] [--visitors 100] [--rounds 10] [--profile DIR]

Two servers, each in its own process: the whole app (create_app), served as `atelier serve`
serves it (ui/gate/server.py), on the fixed-latency test double of tests/support/servers.py:
every job sleeps `--latency` seconds, as a remote GPU would take, and its record says it took
that long, so the web side is all that is measured and every GPU budget is really charged.

- gate on: the limits of a public deployment, none of which refuses these visitors: 10
  generations a minute per visitor, 3600 GPU-seconds an hour each, 120 requests a minute,
  1000 results each (ATELIER_*: ui/settings.py); the body and header caps are always on.
- gate off: every limit that can be is 0 (off).

Each visitor is a gradio_client session with an address of its own (X-Forwarded-For, read
through ATELIER_CLIENT_IP_HEADER), so the gate counts 100 visitors, as it would count 100
people. Sessions are opened first, one generation each, as a page load would (not timed).
Then, in rounds that alternate between the two servers (on, off, on, off, ...): one visitor
alone (the single wait), then every visitor at once (images and music alternating).

Reported per server: the single wait; the median and slowest wait of the crowd; the slowest
as a multiple of the single (1.0x = no visitor waited for another); the server's CPU time
per request in the crowd, and the load generator's (this process, whose sessions share the
machine with the servers); the server's resident memory after each round, so its growth over
`rounds` x `visitors` requests shows. Then the gate's own CPU per request, measured
in-process on its layers alone (the head check, the request guard, admission, the ticket).
With --profile DIR, each server runs under cProfile and leaves its statistics there.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from bench.machine import RESULTS, cpu_name, write_table  # noqa: E402

GATE_ON = {"ATELIER_GENERATION_RATE_LIMIT": "10", "ATELIER_VISITOR_GPU_SECONDS": "3600", "ATELIER_RATE_LIMIT": "120",
           "ATELIER_RESULTS_PER_VISITOR": "1000"}
GATE_OFF = {"ATELIER_GENERATION_RATE_LIMIT": "0", "ATELIER_VISITOR_GPU_SECONDS": "0", "ATELIER_RATE_LIMIT": "0"}


def serve(port: int, latency: float, profile: str | None) -> None:
    """The server process: the whole app on the test double, as `atelier serve` runs it."""
    import cProfile

    import uvicorn

    from tests.support.servers import FixedLatencyBackend
    from ui.gate.server import config
    from ui.store import ResultStore
    from ui.web import create_app

    store = ResultStore(Path(tempfile.mkdtemp(prefix="bench-studio-")))
    app = create_app(FixedLatencyBackend(latency=latency, steps=10, charged=latency), store)
    server = uvicorn.Server(config(app, "127.0.0.1", port, log_level="warning", timeout_graceful_shutdown=2))
    # uvicorn passes SIGTERM on once it has shut down: end in Python, so the profile is written.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    try:
        server.run()
    finally:
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)


def start_server(latency: float, env: dict, profile: str | None) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, __file__, "--serve", str(port), "--latency", str(latency)]
    if profile:
        command += ["--profile", profile]
    server = subprocess.Popen(command, env={**os.environ, "ATELIER_CLIENT_IP_HEADER": "X-Forwarded-For", **env})
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/api/health").status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("a studio server did not start")
        time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Crowd:
    """`n` visitors of one server, each a gradio_client session with an address of its own."""

    def __init__(self, url: str, n: int, workdir: Path, pool: concurrent.futures.ThreadPoolExecutor):
        from gradio_client import Client

        self.pool = pool

        def open_session(i: int) -> Client:
            client = Client(url, verbose=False, analytics_enabled=False, download_files=str(workdir / f"s{i}"),
                            headers={"X-Forwarded-For": f"198.51.{100 + i // 250}.{i % 250 + 1}"})
            client.predict("warm up", api_name="/generate_image")  # as a page load would: the session exists
            return client

        self.clients = list(pool.map(open_session, range(n)))

    def visit(self, i: int) -> float:
        """Visitor i asks for one generation: seconds until their result."""
        asked = time.monotonic()
        self.clients[i].predict(f"visitor {i}", api_name="/generate_music" if i % 2 else "/generate_image")
        return time.monotonic() - asked

    def close(self) -> None:
        for client in self.clients:
            client.close()


def round_of(crowd: Crowd, pid: int) -> dict:
    """One visitor alone, then everyone at once."""
    single = crowd.visit(0)
    cpu_before, client_before = cpu_seconds(pid), time.process_time()
    waits = list(crowd.pool.map(crowd.visit, range(len(crowd.clients))))
    cpu, client = cpu_seconds(pid) - cpu_before, time.process_time() - client_before
    return {"single": single, "median": statistics.median(waits), "slowest": max(waits),
            "cpu_ms": 1000 * cpu / len(waits), "client_ms": 1000 * client / len(waits), "rss": rss_mib(pid),
            "load": os.getloadavg()[0]}


def gate_cost_us(n: int = 20_000) -> tuple[float, float]:
    """CPU microseconds per request of the gate's layers alone, in-process: the head check and the
    request guard in front of a studio call, admission, the ticket's place and its charge; and of
    the same request with none of them, for comparison."""
    from ui.api.security import Guard
    from ui.gate import Gate, HeaderLimits
    from ui.settings import ApiSettings

    settings = ApiSettings(generation_rate_limit=10**9, rate_limit=10**9, visitor_gpu_seconds=10**9,
                           client_ip_header="x-forwarded-for")
    gate = Gate(settings)
    body = b'{"data": ["a fox", null, null], "fn_index": 8, "session_hash": "abcdef"}'

    async def app(scope, receive, send):
        await receive()
        visitor = gate.visitor({k.decode(): v.decode() for k, v in scope["headers"]}, scope["client"][0])
        ticket = gate.admit(visitor)
        with ticket.running():
            ticket.spend({"seconds": {"generate": 0.5}})

    async def plain(scope, receive, send):
        await receive()

    async def requests(handler, count: int) -> float:
        started = time.process_time()
        for i in range(count):
            scope = {"type": "http", "method": "POST", "path": "/gradio_api/queue/join", "raw_path": b"/gradio_api/queue/join",
                     "query_string": b"", "client": ("127.0.0.1", 5000),
                     "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                 (b"x-forwarded-for", f"198.51.100.{i % 250}".encode()), (b"user-agent", b"bench")]}

            async def receive():
                return {"type": "http.request", "body": body, "more_body": False}

            await handler(scope, receive, None)
        return (time.process_time() - started) / count * 1e6

    gated = HeaderLimits(Guard(app, settings))
    return asyncio.run(requests(gated, n)), asyncio.run(requests(plain, n))


def table(rows: dict[str, list[dict]], latency: float, visitors: int, rounds: int, gate_us: tuple[float, float]) -> str:
    lines = [f"# The studio under {visitors} visitors, through the gate ({datetime.date.today()})", "",
             f"Device: {cpu_name()}, {os.cpu_count()} cores (no GPU: the fixed-latency double, {latency:g} s a job); "
             f"`bench/bench_studio.py --latency {latency:g} --visitors {visitors} --rounds {rounds}`. Both servers and "
             "the load generator share the machine.", "",
             "| gate | single wait | crowd median | crowd slowest | slowest / single | server CPU per request "
             "| load generator CPU per request | RSS after round 1 → last | load average (rounds) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, runs in rows.items():
        med = {k: statistics.median(r[k] for r in runs) for k in ("single", "median", "slowest", "cpu_ms", "client_ms")}
        ratios = [r["slowest"] / r["single"] for r in runs]
        each = ", ".join(f"{x:.2f}" for x in ratios)
        loads = ", ".join(f"{r['load']:.1f}" for r in runs)
        lines.append(f"| {name} | {med['single']:.2f} s | {med['median']:.2f} s | {med['slowest']:.2f} s | "
                     f"{statistics.median(ratios):.2f}x (rounds: {each}) | "
                     f"{med['cpu_ms']:.1f} ms | {med['client_ms']:.1f} ms | {runs[0]['rss']:.0f} → {runs[-1]['rss']:.0f} MiB | "
                     f"{loads} |")
    lines += ["", f"The gate's layers alone, in-process: {gate_us[0]:.1f} µs of CPU per request, against "
                  f"{gate_us[1]:.1f} µs for the same request with none of them ({gate_us[0] - gate_us[1]:.1f} µs "
                  "of gate)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=5.0, help="seconds each job takes in the test double")
    parser.add_argument("--visitors", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10, help="rounds per server (each: one alone, then everyone)")
    parser.add_argument("--profile", metavar="DIR", help="run each server under cProfile, statistics into DIR")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # a server process
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.latency, args.profile)

    servers = {}
    for name, env in (("on", GATE_ON), ("off", GATE_OFF)):
        profile = str(Path(args.profile) / f"studio-gate-{name}.prof") if args.profile else None
        servers[name] = start_server(args.latency, env, profile)
    rows: dict[str, list[dict]] = {name: [] for name in servers}
    os.nice(10)  # the load generator shares the machine's cores: the servers come first
    try:
        with tempfile.TemporaryDirectory() as tmp, \
                concurrent.futures.ThreadPoolExecutor(args.visitors) as pool:
            crowds = {name: Crowd(url, args.visitors, Path(tmp) / name, pool) for name, (_, url) in servers.items()}
            for _ in range(args.rounds):
                for name, (server, _) in servers.items():
                    rows[name].append(round_of(crowds[name], server.pid))
            for crowd in crowds.values():
                crowd.close()
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(timeout=60)
    out = RESULTS / f"studio-{datetime.date.today()}.md"
    write_table(table(rows, args.latency, args.visitors, args.rounds, gate_cost_us()), out)


if __name__ == "__main__":
    main()
