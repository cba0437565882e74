#!/usr/bin/env python3
"""End-to-end load benchmark of studio-gate, its connection-memory probe and its regression check.

Commands, run from the repository root on Linux with at least 2 cores. The script uses only the
standard library (tested with Python 3.11) and needs `cargo`, `wrk` and `taskset`:

    python3 benches/load.py run results.json          # throughput and latency per scenario
    python3 benches/load.py connections conns.json    # server RSS with 10,000 idle keep-alive connections
    python3 benches/load.py check                     # rerun, compare ratios with benches/baseline.json
    python3 benches/load.py record-baseline           # rerun and rewrite benches/baseline.json

Each command builds the release binary with `cargo build --release`, then starts its own servers
on 127.0.0.1 with a fixed API_KEY, a temporary STUDIO_DIR and RUST_LOG=error, pinned to core 0.
wrk runs pinned to core 1 with one thread and keep-alive connections. Every scenario checks the
status of every response. Every server this script starts is stopped by its PID when the command
ends, fails or is interrupted.

Absolute figures depend on the machine and on whatever else runs on it, so the regression check
compares ratios to the public route measured in the same run. The scenarios are interleaved in
short rounds so that background load spreads over all of them. The check prints two ratios per
scenario: requests/s over the public route's, and the public route's server CPU time per request
over the scenario's. By default only the CPU ratios (and the criterion codec ratio) can fail the
check, because requests/s depends on how much of each core other work takes. When a ratio misses
its limit, the check measures again, up to --attempts times, and judges the pooled figures, so
that a burst of background load is not taken for a regression.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
WRK_SCRIPT = REPO_ROOT / "benches" / "wrk" / "statuses.lua"
BASELINE_PATH = REPO_ROOT / "benches" / "baseline.json"

SERVER_CORE = 0
CLIENT_CORE = 1
API_KEY = "load-bench-api-key-0123456789abcdef"
WRONG_API_KEY = "load-bench-wrong-key"
LOGIN_BODY = json.dumps({"api_key": WRONG_API_KEY})

# The server's login limiter returns 401 for the first MAX_FAILURES wrong keys of an address
# (src/login_limiter.rs) and 429 after that.
LOGIN_FAILURES_BEFORE_LIMIT = 10

# trillium-server-common 0.7.11 accepts at most 75% of the soft RLIMIT_NOFILE as connections.
TRILLIUM_CONNECTION_SHARE = 0.75

# The regression check fails when a ratio is worse than its baseline by more than this share.
DEFAULT_TOLERANCE = 0.10

# The micro-benchmark ratio the regression check also tracks: the session codec's work per
# cookie-authenticated request over the bare keyed BLAKE3 it is built on. Lower is better.
CODEC_RATIO_NAME = "codec_reseal_over_mac"
CODEC_NUMERATOR = "13_open_and_reseal"
CODEC_DENOMINATOR = "01_blake3_keyed_mac_input"


class BenchmarkError(Exception):
    """A benchmark that could not run, or whose responses had an unexpected status."""


# ---------------------------------------------------------------------------------------------
# Scenarios


@dataclasses.dataclass(frozen=True)
class Request:
    """One request shape, sent over and over by one wrk process."""

    path: str
    method: str = "GET"
    headers: tuple[str, ...] = ()
    body: str | None = None
    expected_status: int = 200
    # Statuses allowed besides the expected one, at most this many times per server in total.
    tolerated_statuses: tuple[tuple[int, int], ...] = ()
    # True: every response must carry Set-Cookie. False: none may. None: not checked.
    set_cookie: bool | None = False


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A named load: a main request measured for latency and throughput, and optionally a
    second request driven at the same time by another wrk process on the client core."""

    name: str
    description: str
    request: Request
    # "main" or "flood". Rejected logins limit 127.0.0.1 for 5 minutes, and a limited address
    # gets 429 even for a correct X-API-Key, so they go to a second server of the same build.
    server: str = "main"
    background: Request | None = None
    # Included in the regression check's ratios.
    tracked: bool = True


def build_scenarios(cookie: str) -> list[Scenario]:
    """Return the scenarios in the order they run within each round."""
    key_header = f"X-API-Key: {API_KEY}"
    cookie_header = f"Cookie: session={cookie}"
    status = "/api/admin/system/status"
    # An API path no route serves: authenticated requests get 404 from the router, so these
    # scenarios measure the auth gate without the status route's own work.
    absent = "/api/load-bench/absent"
    rejected_login = Request(
        path="/api/auth/login",
        method="POST",
        headers=("Content-Type: application/json",),
        body=LOGIN_BODY,
        expected_status=429,
        tolerated_statuses=((401, LOGIN_FAILURES_BEFORE_LIMIT),),
    )
    return [
        Scenario("health_public", "GET /api/health, public route (the reference)",
                 Request("/api/health")),
        Scenario("status_api_key", "GET /api/admin/system/status with X-API-Key",
                 Request(status, headers=(key_header,))),
        Scenario("status_cookie", "GET /api/admin/system/status with the session cookie",
                 Request(status, headers=(cookie_header,), set_cookie=True)),
        Scenario("absent_api_key", "GET of an unrouted /api path with X-API-Key (404)",
                 Request(absent, headers=(key_header,), expected_status=404)),
        Scenario("absent_cookie", "GET of an unrouted /api path with the session cookie (404)",
                 Request(absent, headers=(cookie_header,), expected_status=404, set_cookie=True)),
        Scenario("status_anonymous", "GET /api/admin/system/status without credentials (401)",
                 Request(status, expected_status=401)),
        Scenario("login_rejected", "POST /api/auth/login, wrong key, limited address (429)",
                 rejected_login, server="flood"),
        Scenario("health_during_login_flood",
                 "GET /api/health while a second wrk sends rejected logins",
                 Request("/api/health"), server="flood", background=rejected_login,
                 tracked=False),
    ]


# ---------------------------------------------------------------------------------------------
# Processes


def build_release() -> Path:
    """Build the release binary and return its path."""
    print("building: cargo build --release", file=sys.stderr, flush=True)
    subprocess.run(["cargo", "build", "--release"], cwd=REPO_ROOT, check=True)
    binary = cargo_target_dir() / "release" / "studio-gate"
    if not binary.is_file():
        raise BenchmarkError(f"cargo build succeeded but {binary} does not exist")
    return binary


def require_tools() -> None:
    """Raise BenchmarkError naming the first missing tool."""
    for tool in ("cargo", "wrk", "taskset"):
        if shutil.which(tool) is None:
            raise BenchmarkError(f"{tool} not found on PATH. Install it to run the benchmark.")
    if (os.cpu_count() or 1) < 2:
        raise BenchmarkError("the benchmark pins the server and wrk to separate cores, "
                             "but this machine has only one")


def free_local_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def raise_nofile_limit(needed: int) -> None:
    """Raise this process's soft RLIMIT_NOFILE to at least `needed` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise BenchmarkError(
            f"RLIMIT_NOFILE hard limit is {hard}, below the {needed} file descriptors needed. "
            f"Raise it (ulimit -Hn, or LimitNOFILE for a service) or ask for fewer connections.")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def niceness_setter(niceness: int):
    """Return a preexec_fn that sets the child's nice value, or None to leave it inherited."""
    if niceness == 0:
        return None
    return lambda: os.setpriority(os.PRIO_PROCESS, 0, niceness)


class Server:
    """A studio-gate process on 127.0.0.1 with its own temporary STUDIO_DIR, pinned to
    SERVER_CORE. Use it as a context manager: leaving the block stops it by PID."""

    def __init__(self, binary: Path, label: str, niceness: int = 0):
        self.binary = binary
        self.label = label
        # Applied to the server and to the wrk processes that drive it.
        self.niceness = niceness
        self.port = free_local_port()
        self.process: subprocess.Popen | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix=f"studio-gate-load-{label}-"))
        self.log_path = self.workdir / "server.log"

    def __enter__(self) -> "Server":
        env = dict(os.environ)
        env.update({
            "API_KEY": API_KEY,
            "STUDIO_DIR": str(self.workdir / "studio"),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "RUST_LOG": "error",
        })
        for variable in ("TRUSTED_PROXIES", "UPDATE_REPO", "SESSION_IDLE_SECS",
                         "SESSION_LIFETIME_SECS", "COOKIE_SECURE"):
            env.pop(variable, None)
        try:
            # The log goes to a file because an unread pipe would fill up and block the server.
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    ["taskset", "-c", str(SERVER_CORE), str(self.binary)],
                    env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    preexec_fn=niceness_setter(self.niceness),
                )
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_ready(self, timeout_secs: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_secs
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkError(
                    f"the {self.label} server exited with status {self.process.returncode} "
                    f"at start:\n{self.log_tail()}")
            try:
                status, _, _ = self.request("GET", "/api/health")
                if status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise BenchmarkError(f"the {self.label} server did not respond to /api/health within "
                             f"{timeout_secs:.0f} s:\n{self.log_tail()}")

    def request(self, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        """Send one request on a new connection and return status, headers and body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def log_in(self) -> str:
        """Log in with the API key and return the session cookie's value."""
        status, headers, body = self.request(
            "POST", "/api/auth/login", body=json.dumps({"api_key": API_KEY}),
            headers={"Content-Type": "application/json"})
        if status != 200:
            raise BenchmarkError(f"login with the right key returned {status}: {body[:200]!r}")
        for value in headers.get_all("Set-Cookie") or []:
            match = re.match(r"session=([^;]+);", value)
            if match:
                return match.group(1)
        raise BenchmarkError("login returned 200 without a session cookie")

    def memory_kb(self) -> dict[str, int]:
        """Return VmRSS and VmHWM (peak RSS) of the server, in kB."""
        figures = {}
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    figures[name] = int(value.split()[0])
        return figures

    def reset_peak_rss(self) -> bool:
        """Reset VmHWM to the current RSS (Linux 4.0+, clear_refs value 5). Return False if
        the kernel rejects the write."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
            return True
        except OSError:
            return False

    def cpu_seconds(self) -> tuple[float, float]:
        """Return the user and system CPU time the server has used so far, threads that have
        exited included, in seconds (clock-tick resolution, usually 10 ms)."""
        with open(f"/proc/{self.pid}/stat") as stat:
            # The command name in field 2 may contain spaces, so count fields after its ")".
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks_per_second = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / ticks_per_second, int(fields[12]) / ticks_per_second

    def open_files_limit(self) -> int:
        """Return the server's soft RLIMIT_NOFILE."""
        with open(f"/proc/{self.pid}/limits") as limits:
            for line in limits:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
        raise BenchmarkError(f"no 'Max open files' line in /proc/{self.pid}/limits")

    def open_file_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """Stop the server by PID (SIGTERM, then SIGKILL after 5 s) and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# wrk


def start_wrk(server: Server, request: Request, seconds: int, connections: int) -> subprocess.Popen:
    command = ["taskset", "-c", str(CLIENT_CORE), "wrk", "--latency",
               "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
               "-s", str(WRK_SCRIPT)]
    for header in request.headers:
        command += ["-H", header]
    command += [server.url + request.path, "--", request.method]
    if request.body is not None:
        command.append(request.body)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=niceness_setter(server.niceness))


def finish_wrk(process: subprocess.Popen) -> dict:
    """Wait for a wrk process and return the result line its Lua script printed."""
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise BenchmarkError("wrk did not finish within 120 s")
    if process.returncode != 0:
        raise BenchmarkError(f"wrk exited with status {process.returncode}: {stderr.strip()}")
    for line in stdout.splitlines():
        if line.startswith("LOAD_RESULT "):
            result = json.loads(line[len("LOAD_RESULT "):])
            result["statuses"] = {int(code): count for code, count in result["statuses"].items()}
            return result
    raise BenchmarkError(f"wrk printed no LOAD_RESULT line:\n{stdout}\n{stderr}")


class WrkGroup:
    """wrk processes running at once. Any still running when the block ends are killed by PID."""

    def __init__(self):
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> "WrkGroup":
        return self

    def start(self, *args) -> subprocess.Popen:
        process = start_wrk(*args)
        self.processes.append(process)
        return process

    def __exit__(self, *exc_info) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


# ---------------------------------------------------------------------------------------------
# Checking responses


class StatusLedger:
    """Counts the statuses each server returned and rejects any response a scenario did not expect.

    Tolerated statuses (the first wrong logins of an address get 401 before the limit starts)
    are allowed a fixed number of times per server, summed over warm-up and measured runs."""

    def __init__(self):
        self.tolerated_used: dict[tuple[str, int], int] = {}

    def verify(self, scenario_name: str, server_label: str, request: Request, result: dict) -> None:
        errors = {kind: count for kind, count in result["socket_errors"].items() if count}
        if errors:
            raise BenchmarkError(f"{scenario_name}: wrk reported socket errors {errors}")
        if result["requests"] == 0:
            raise BenchmarkError(f"{scenario_name}: wrk completed no request")

        tolerated = dict(request.tolerated_statuses)
        for status, count in result["statuses"].items():
            if status == request.expected_status:
                continue
            if status not in tolerated:
                raise BenchmarkError(
                    f"{scenario_name}: expected status {request.expected_status} for every "
                    f"{request.method} {request.path}, got {result['statuses']}")
            used = self.tolerated_used.get((server_label, status), 0) + count
            if used > tolerated[status]:
                raise BenchmarkError(
                    f"{scenario_name}: status {status} is allowed at most {tolerated[status]} "
                    f"times per server, got {used}; statuses {result['statuses']}")
            self.tolerated_used[(server_label, status)] = used

        responses = sum(result["statuses"].values())
        if request.set_cookie is True and result["set_cookie"] != responses:
            raise BenchmarkError(
                f"{scenario_name}: expected a re-issued session cookie on every response, got "
                f"{result['set_cookie']} of {responses}")
        if request.set_cookie is False and result["set_cookie"] != 0:
            raise BenchmarkError(
                f"{scenario_name}: expected no Set-Cookie, got {result['set_cookie']} "
                f"of {responses} responses")


# ---------------------------------------------------------------------------------------------
# Load run


@dataclasses.dataclass
class RunSettings:
    duration_secs: int
    warmup_secs: int
    rounds: int
    connections: int
    niceness: int = 0


def run_segment(scenario: Scenario, server: Server, seconds: int, connections: int,
                ledger: StatusLedger) -> dict:
    """Drive one scenario for `seconds` and return its wrk results with the server's peak RSS
    and CPU time."""
    peak_reset = server.reset_peak_rss()
    user_before, system_before = server.cpu_seconds()
    with WrkGroup() as group:
        main = group.start(server, scenario.request, seconds, connections)
        background = None
        if scenario.background is not None:
            background = group.start(server, scenario.background, seconds, connections)
        main_result = finish_wrk(main)
        background_result = finish_wrk(background) if background is not None else None
    user_after, system_after = server.cpu_seconds()

    ledger.verify(scenario.name, scenario.server, scenario.request, main_result)
    if background_result is not None:
        ledger.verify(scenario.name + " (background)", scenario.server, scenario.background,
                      background_result)
    return {
        "main": main_result,
        "background": background_result,
        "peak_rss_kb": server.memory_kb()["VmHWM"],
        "peak_rss_is_per_segment": peak_reset,
        "cpu_user_secs": user_after - user_before,
        "cpu_system_secs": system_after - system_before,
    }


def summarize(scenario: Scenario, segments: list[dict]) -> dict:
    """Combine a scenario's rounds into one row.

    Requests/s pools all rounds. wrk reports percentiles per run only, so p50 is the median of
    the rounds' p50s and p99 the highest round p99, an upper bound of the pooled p99."""
    def pooled(part: str) -> dict:
        results = [segment[part] for segment in segments]
        requests = sum(result["requests"] for result in results)
        seconds = sum(result["duration_us"] for result in results) / 1e6
        statuses: dict[int, int] = {}
        for result in results:
            for status, count in result["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
        return {
            "requests": requests,
            "seconds": round(seconds, 3),
            "requests_per_sec": requests / seconds,
            "p50_us": statistics.median(result["latency_us"]["p50"] for result in results),
            "p99_us": max(result["latency_us"]["p99"] for result in results),
            "max_us": max(result["latency_us"]["max"] for result in results),
            "statuses": {str(status): count for status, count in sorted(statuses.items())},
            "set_cookie": sum(result["set_cookie"] for result in results),
        }

    row = {
        "name": scenario.name,
        "description": scenario.description,
        "method": scenario.request.method,
        "path": scenario.request.path,
        "expected_status": scenario.request.expected_status,
        "server": scenario.server,
        **pooled("main"),
        "peak_rss_kb": max(segment["peak_rss_kb"] for segment in segments),
        **server_cpu_per_request(segments),
        "rounds": [
            {
                "requests": segment["main"]["requests"],
                "seconds": segment["main"]["duration_us"] / 1e6,
                "requests_per_sec": segment["main"]["requests"] / (segment["main"]["duration_us"] / 1e6),
                "p50_us": segment["main"]["latency_us"]["p50"],
                "p99_us": segment["main"]["latency_us"]["p99"],
            }
            for segment in segments
        ],
    }
    if scenario.background is not None:
        row["background"] = {
            "method": scenario.background.method,
            "path": scenario.background.path,
            "expected_status": scenario.background.expected_status,
            **pooled("background"),
        }
    return row


def server_cpu_per_request(segments: list[dict]) -> dict:
    """Return the server's CPU time per request served, background requests included.

    It depends less than requests/s on how much of the core other processes take, but cache
    sharing and how many requests each wake-up finds still move it between runs."""
    requests = sum(segment[part]["requests"] for segment in segments
                   for part in ("main", "background") if segment[part] is not None)
    user = sum(segment["cpu_user_secs"] for segment in segments)
    system = sum(segment["cpu_system_secs"] for segment in segments)
    return {
        "cpu_seconds": user + system,
        "requests_served": requests,
        "cpu_us_per_request": (user + system) / requests * 1e6,
        "cpu_user_us_per_request": user / requests * 1e6,
        "cpu_system_us_per_request": system / requests * 1e6,
    }


def run_load(binary: Path, settings: RunSettings) -> dict:
    """Run every scenario against fresh servers and return the results document."""
    started = time.time()
    load_before = os.getloadavg()
    ledger = StatusLedger()
    segment_secs = settings.duration_secs // settings.rounds

    with Server(binary, "main", settings.niceness) as main_server, \
            Server(binary, "flood", settings.niceness) as flood_server:
        servers = {"main": main_server, "flood": flood_server}
        cookie = main_server.log_in()
        scenarios = build_scenarios(cookie)
        idle_rss = {label: server.memory_kb()["VmRSS"] for label, server in servers.items()}

        for scenario in scenarios:
            print(f"warm-up: {scenario.name} ({settings.warmup_secs} s)", file=sys.stderr, flush=True)
            run_segment(scenario, servers[scenario.server], settings.warmup_secs,
                        settings.connections, ledger)

        # Every ratio divides by the reference, so it runs twice per round, at the start and
        # halfway, for twice the data and less time between it and the other scenarios.
        reference = scenarios[0]
        round_order = scenarios[:len(scenarios) // 2] + [reference] + scenarios[len(scenarios) // 2:]
        segments: dict[str, list[dict]] = {scenario.name: [] for scenario in scenarios}
        for round_index in range(settings.rounds):
            print(f"round {round_index + 1}/{settings.rounds}", file=sys.stderr, flush=True)
            for scenario in round_order:
                segments[scenario.name].append(run_segment(
                    scenario, servers[scenario.server], segment_secs, settings.connections, ledger))

        rows = [summarize(scenario, segments[scenario.name]) for scenario in scenarios]
        per_segment_peak = all(segment["peak_rss_is_per_segment"]
                               for scenario_segments in segments.values()
                               for segment in scenario_segments)

    public = rows[0]["requests_per_sec"]
    public_cpu = rows[0]["cpu_us_per_request"]
    for row in rows:
        row["ratio_to_public"] = row["requests_per_sec"] / public
        row["cpu_ratio_to_public"] = public_cpu / row["cpu_us_per_request"]
        if "background" in row:
            row["combined_ratio_to_public"] = (
                row["requests_per_sec"] + row["background"]["requests_per_sec"]) / public
    tracked = {scenario.name for scenario in scenarios if scenario.tracked}

    return {
        "benchmark": "studio-gate end-to-end load (benches/load.py run)",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "machine": machine_description(load_before),
        "settings": {
            **dataclasses.asdict(settings),
            "server_core": SERVER_CORE,
            "client_core": CLIENT_CORE,
            "wrk_threads": 1,
            "rust_log": "error",
        },
        "idle_rss_kb": idle_rss,
        "peak_rss_scope": "per segment (VmHWM reset before each)" if per_segment_peak
                          else "cumulative since server start (the kernel rejected the VmHWM reset)",
        "scenarios": rows,
        "tracked": [row["name"] for row in rows[1:] if row["name"] in tracked],
    }


def machine_description(load_before: tuple[float, float, float]) -> dict:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_load_table(results: dict) -> None:
    print(f"{'scenario':<26} {'status':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>8} "
          f"{'ratio':>6} {'CPU us/req':>10} {'CPU ratio':>9} {'peak RSS MB':>11}")
    for row in results["scenarios"]:
        print(f"{row['name']:<26} {row['expected_status']:>6} {row['requests_per_sec']:>8.0f} "
              f"{row['p50_us'] / 1000:>7.3f} {row['p99_us'] / 1000:>8.3f} "
              f"{row['ratio_to_public']:>6.3f} {row['cpu_us_per_request']:>10.1f} "
              f"{row['cpu_ratio_to_public']:>9.3f} {row['peak_rss_kb'] / 1024:>11.1f}")
        if "background" in row:
            background = row["background"]
            print(f"  + background {background['method']} {background['path']}: "
                  f"{background['requests_per_sec']:.0f} req/s ({background['expected_status']}), "
                  f"p99 {background['p99_us'] / 1000:.3f} ms; both together "
                  f"{row['combined_ratio_to_public']:.3f}x the public route's req/s")
    settings = results["settings"]
    machine = results["machine"]
    print(f"{settings['connections']} connections, {settings['duration_secs']} s per scenario in "
          f"{settings['rounds']} interleaved rounds, health_public twice per round. ratio: req/s "
          f"over health_public's. CPU: "
          f"server user+system time per request; CPU ratio: health_public's over the row's. "
          f"p50: median of the rounds' p50s; p99: highest round p99. Peak RSS: "
          f"{results['peak_rss_scope']}. Load average before/after: "
          f"{machine['load_average_before']} / {machine['load_average_after']}.")


# ---------------------------------------------------------------------------------------------
# Connections mode


def read_one_response(connection: socket.socket) -> int:
    """Read one HTTP/1.1 response with a Content-Length body and return its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            raise BenchmarkError("the server closed a connection before its response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(body) < length:
        chunk = connection.recv(length - len(body))
        if not chunk:
            raise BenchmarkError("the server closed a connection in the middle of a body")
        body += chunk
    return status


def count_closed(connections: list[socket.socket]) -> int:
    """Count connections the server has closed, without blocking."""
    closed = 0
    for connection in connections:
        # With a timeout set, Python waits for readability before recv even with MSG_DONTWAIT.
        connection.setblocking(False)
        try:
            if connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


def run_connections(binary: Path, count: int, settle_secs: float) -> dict:
    """Hold `count` keep-alive connections open, each after one complete request, and
    measure the server's RSS before, while they are held and after they are closed."""
    # This process needs a descriptor per socket plus a few. The server inherits the limit and
    # trillium accepts only TRILLIUM_CONNECTION_SHARE of it as connections.
    client_limit = count + 256
    server_limit = int(count / TRILLIUM_CONNECTION_SHARE) + 256
    raise_nofile_limit(max(client_limit, server_limit))

    request = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    connections: list[socket.socket] = []
    with Server(binary, "connections") as server:
        server_files_limit = server.open_files_limit()
        if server_files_limit * TRILLIUM_CONNECTION_SHARE < count:
            raise BenchmarkError(f"the server's RLIMIT_NOFILE is {server_files_limit}, so trillium "
                                 f"would accept fewer than {count} connections")
        time.sleep(settle_secs)
        idle_memory = server.memory_kb()
        idle_files = server.open_file_count()
        try:
            for _ in range(count):
                connection = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                connections.append(connection)
                connection.sendall(request)
                status = read_one_response(connection)
                if status != 200:
                    raise BenchmarkError(f"GET /api/health returned {status} on connection "
                                         f"{len(connections)}")
            time.sleep(settle_secs)
            held_memory = server.memory_kb()
            held_files = server.open_file_count()
            closed = count_closed(connections)
            if closed:
                raise BenchmarkError(f"the server closed {closed} of {count} idle connections")
        finally:
            for connection in connections:
                connection.close()
        time.sleep(settle_secs)
        closed_memory = server.memory_kb()

    return {
        "benchmark": "studio-gate idle keep-alive connections (benches/load.py connections)",
        "connections": count,
        "request": "each connection sends GET /api/health HTTP/1.1 with only a Host header and "
                   "reads the 200 response before it is held",
        "server_rlimit_nofile": server_files_limit,
        "idle_rss_kb": idle_memory["VmRSS"],
        "held_rss_kb": held_memory["VmRSS"],
        "held_peak_rss_kb": held_memory["VmHWM"],
        "after_close_rss_kb": closed_memory["VmRSS"],
        "per_connection_kb": (held_memory["VmRSS"] - idle_memory["VmRSS"]) / count,
        "server_open_files_idle": idle_files,
        "server_open_files_held": held_files,
        "machine": machine_description(os.getloadavg()),
    }


def print_connections(results: dict) -> None:
    print(f"connections held: {results['connections']} (server open files "
          f"{results['server_open_files_idle']} idle, {results['server_open_files_held']} held)")
    print(f"RSS idle:          {results['idle_rss_kb'] / 1024:8.2f} MB")
    print(f"RSS with all held: {results['held_rss_kb'] / 1024:8.2f} MB "
          f"(peak {results['held_peak_rss_kb'] / 1024:.2f} MB)")
    print(f"RSS after closing: {results['after_close_rss_kb'] / 1024:8.2f} MB")
    print(f"per connection:    {results['per_connection_kb']:8.2f} kB")


# ---------------------------------------------------------------------------------------------
# Micro-benchmark ratio


def run_codec_ratio(target_dir: Path) -> dict:
    """Run the two criterion benchmarks of the codec ratio, pinned to the client core, and
    return their medians (ns) and the ratio."""
    pattern = f"^codec/({CODEC_DENOMINATOR}|{CODEC_NUMERATOR})$"
    print(f"micro-benchmarks: cargo bench --bench decisions -- '{pattern}'",
          file=sys.stderr, flush=True)
    subprocess.run(["cargo", "bench", "--bench", "decisions", "--no-run"], cwd=REPO_ROOT, check=True)
    started = time.time()
    bench = subprocess.run(
        ["taskset", "-c", str(CLIENT_CORE), "cargo", "bench", "--bench", "decisions", "--",
         "--warm-up-time", "1", "--measurement-time", "5", pattern],
        cwd=REPO_ROOT, capture_output=True, text=True)
    if bench.returncode != 0:
        raise BenchmarkError(f"cargo bench failed with status {bench.returncode}:\n"
                             f"{bench.stderr[-2000:]}")

    medians = {}
    for name in (CODEC_NUMERATOR, CODEC_DENOMINATOR):
        estimates = target_dir / "criterion" / "codec" / name / "new" / "estimates.json"
        try:
            if estimates.stat().st_mtime < started:
                raise BenchmarkError(f"criterion did not update {estimates}. Check that "
                                     f"benches/decisions.rs still has codec/{name}.")
            medians[name] = json.loads(estimates.read_text())["median"]["point_estimate"]
        except (OSError, KeyError, ValueError) as error:
            raise BenchmarkError(f"cannot read the criterion result {estimates}: {error}")
    return {
        "median_ns": medians,
        "ratio": medians[CODEC_NUMERATOR] / medians[CODEC_DENOMINATOR],
    }


def cargo_target_dir() -> Path:
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True,
    )
    return Path(json.loads(metadata.stdout)["target_directory"])


# ---------------------------------------------------------------------------------------------
# Regression check


# Kinds of tracked ratio. The name of a ratio is "<kind>/<scenario>", or "micro/<name>".
THROUGHPUT = "throughput"
CPU = "cpu"
MICRO = "micro"


class RatioSamples:
    """The measurements behind the tracked ratios, pooled over every attempt so far.

    For each tracked scenario, two ratios to health_public:
    - throughput: requests/s over health_public's, from requests and seconds summed over all
      rounds of all attempts;
    - cpu: health_public's server CPU time per request over the scenario's, which is the
      throughput ratio the server would reach with a core of its own.
    The codec ratio is the median of the attempts' ratios, because one run of a 75 ns benchmark
    can be off by 30% on a busy machine. More attempts shrink the noise of other work on the
    machine, while a real regression stays."""

    def __init__(self):
        self.totals: dict[str, dict[str, float]] = {}
        self.tracked: list[str] = []
        self.codec_ratios: list[float] = []
        self.raw: list[dict] = []

    def add_load(self, load: dict) -> None:
        self.raw.append({"load": load})
        for row in load["scenarios"]:
            totals = self.totals.setdefault(row["name"], dict.fromkeys(
                ("requests", "seconds", "cpu_seconds", "requests_served"), 0.0))
            for field in totals:
                totals[field] += row[field]
        self.tracked = load["tracked"]

    def add_codec(self, micro: dict) -> None:
        self.raw[-1]["micro"] = micro
        self.codec_ratios.append(micro["ratio"])

    def ratios(self) -> dict[str, tuple[float, str]]:
        """Return {name: (value, "higher" or "lower" is better)}."""
        def throughput(name: str) -> float:
            return self.totals[name]["requests"] / self.totals[name]["seconds"]

        def cpu_per_request(name: str) -> float:
            return self.totals[name]["cpu_seconds"] / self.totals[name]["requests_served"]

        public = "health_public"
        ratios = {}
        for name in self.tracked:
            ratios[f"{THROUGHPUT}/{name}"] = (throughput(name) / throughput(public), "higher")
        for name in self.tracked:
            ratios[f"{CPU}/{name}"] = (cpu_per_request(public) / cpu_per_request(name), "higher")
        if self.codec_ratios:
            ratios[f"{MICRO}/{CODEC_RATIO_NAME}"] = (statistics.median(self.codec_ratios), "lower")
        return ratios


def measure_attempt(samples: RatioSamples, binary: Path, settings: RunSettings,
                    with_micro: bool) -> None:
    load = run_load(binary, settings)
    print_load_table(load)
    samples.add_load(load)
    if with_micro:
        micro = run_codec_ratio(cargo_target_dir())
        print(f"codec/{CODEC_NUMERATOR} {micro['median_ns'][CODEC_NUMERATOR]:.1f} ns, "
              f"codec/{CODEC_DENOMINATOR} {micro['median_ns'][CODEC_DENOMINATOR]:.1f} ns "
              f"(criterion medians): ratio {micro['ratio']:.3f}")
        samples.add_codec(micro)


def compare_with_baseline(ratios: dict, baseline: dict, gated_kinds: set[str]) -> bool:
    """Print each ratio beside its baseline and verdict. Return True if no ratio of a gated
    kind is worse than its limit."""
    tolerance = baseline.get("tolerance", DEFAULT_TOLERANCE)
    passed = True
    print(f"\n{'ratio':<34} {'value':>7} {'baseline':>8} {'limit':>9}  verdict")
    for name, entry in baseline["ratios"].items():
        better = entry["better"]
        reference = entry["value"]
        if better == "higher":
            limit = reference * (1 - tolerance)
            bound = f">={limit:.3f}"
        else:
            limit = reference * (1 + tolerance)
            bound = f"<={limit:.3f}"
        gated = name.split("/", 1)[0] in gated_kinds
        if name not in ratios:
            print(f"{name:<34} {'-':>7} {reference:>8.3f} {bound:>9}  FAIL (not measured)")
            passed = passed and not gated
            continue

        value = ratios[name][0]
        ok = value >= limit if better == "higher" else value <= limit
        change = (value / reference - 1) * 100
        if gated:
            verdict = "ok" if ok else "FAIL"
            passed = passed and ok
        else:
            verdict = "within limit, not gated" if ok else "outside limit, not gated"
        print(f"{name:<34} {value:>7.3f} {reference:>8.3f} {bound:>9}  {verdict} ({change:+.1f}%)")
    print(f"tolerance {tolerance:.0%}: higher-is-better ratios fail below baseline x "
          f"{1 - tolerance:.2f}, lower-is-better ones above baseline x {1 + tolerance:.2f}; "
          f"gated: {', '.join(sorted(gated_kinds))}")
    return passed


def run_check(binary: Path, settings: RunSettings, baseline_path: Path, attempts: int,
              with_micro: bool, gated_kinds: set[str]) -> tuple[bool, RatioSamples]:
    """Measure until every gated ratio passes, pooling attempts, or until `attempts` are used
    up."""
    try:
        baseline = json.loads(baseline_path.read_text())
    except (OSError, ValueError) as error:
        raise BenchmarkError(f"cannot read the baseline {baseline_path}: {error}. "
                             "Create it with `python3 benches/load.py record-baseline`.")
    samples = RatioSamples()
    for attempt in range(1, attempts + 1):
        print(f"\nattempt {attempt} of at most {attempts}", flush=True)
        measure_attempt(samples, binary, settings, with_micro)
        if compare_with_baseline(samples.ratios(), baseline, gated_kinds):
            return True, samples
        if attempt < attempts:
            print("some gated ratios are outside their limit; measuring again and pooling the "
                  "results to tell noise from a regression", flush=True)
    return False, samples


def write_baseline(path: Path, samples: RatioSamples, settings: RunSettings) -> None:
    first_load = samples.raw[0]["load"]
    document = {
        "description": "Ratios tracked by `python3 benches/load.py check`. throughput/<scenario>: "
                       "the scenario's requests/s over GET /api/health's in the same run. "
                       "cpu/<scenario>: GET /api/health's server CPU time per request over the "
                       f"scenario's. micro/{CODEC_RATIO_NAME}: the criterion median of "
                       f"codec/{CODEC_NUMERATOR} over codec/{CODEC_DENOMINATOR}. All are pooled "
                       "over several measurements, as the check does. Rewrite with "
                       "`python3 benches/load.py record-baseline`.",
        "tolerance": DEFAULT_TOLERANCE,
        "recorded_at": first_load["started_at"],
        "recorded_with": {**dataclasses.asdict(settings), "attempts_pooled": len(samples.raw),
                          "machine": first_load["machine"]},
        "ratios": {name: {"value": round(value, 4), "better": better}
                   for name, (value, better) in samples.ratios().items()},
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# Command line


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text}")
    return value


def add_binary_options(command: argparse.ArgumentParser) -> None:
    choice = command.add_mutually_exclusive_group()
    choice.add_argument("--no-build", action="store_true",
                        help="use the existing release binary instead of building it")
    choice.add_argument("--binary", type=Path,
                        help="benchmark this studio-gate executable instead of building one, "
                             "for example to compare two builds")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    # wrk takes whole seconds, so the duration must split into whole-second rounds.
    def add_load_options(command: argparse.ArgumentParser, duration: int, rounds: int) -> None:
        command.add_argument("--duration", type=positive_int, default=duration,
                             help=f"measured seconds per scenario (default {duration})")
        command.add_argument("--rounds", type=positive_int, default=rounds,
                             help="interleaved rounds the duration is split into, each a whole "
                                  f"number of seconds (default {rounds})")
        command.add_argument("--warmup", type=positive_int, default=2,
                             help="warm-up seconds per scenario before the rounds (default 2)")
        command.add_argument("--connections", type=positive_int, default=32,
                             help="keep-alive connections per wrk process (default 32)")
        command.add_argument("--nice", type=int, default=0, dest="niceness",
                             help="nice value of the server and wrk processes, from -20 to 19 "
                                  "(default 0). A negative value (root only) gives them priority "
                                  "over other work on the machine, which can steady the "
                                  "figures but slows that work down while the benchmark runs")
        add_binary_options(command)

    run = commands.add_parser("run", help="measure every scenario and write JSON results")
    run.add_argument("output", type=Path, help="path of the JSON results file")
    add_load_options(run, duration=10, rounds=5)

    connections = commands.add_parser(
        "connections", help="measure server RSS with many idle keep-alive connections")
    connections.add_argument("output", type=Path, help="path of the JSON results file")
    connections.add_argument("--count", type=int, default=10_000,
                             help="connections to hold (default 10000)")
    connections.add_argument("--settle", type=positive_float, default=1.0,
                             help="seconds to wait before each RSS reading (default 1)")
    add_binary_options(connections)

    for name, help_text in (("check", "rerun and compare the ratios with the baseline"),
                            ("record-baseline", "rerun and rewrite the baseline")):
        command = commands.add_parser(name, help=help_text)
        add_load_options(command, duration=5, rounds=5)
        command.add_argument("--baseline", type=Path, default=BASELINE_PATH,
                             help="baseline file (default benches/baseline.json)")
        command.add_argument("--output", type=Path,
                             help="also write the measured results as JSON to this path")
        command.add_argument("--skip-micro", action="store_true",
                             help="leave out the criterion codec ratio")
        command.add_argument("--gate", choices=("cpu", "throughput", "both"), default="cpu",
                             help="check: which load ratios fail the check (default cpu). "
                                  "Throughput ratios move by 20%% or more between runs when other "
                                  "work shares the cores; the CPU ones much less. All are printed, "
                                  "and the codec ratio is always gated")
        command.add_argument("--attempts", type=positive_int, default=3,
                             help="check: the maximum number of measurements to pool before a ratio below "
                                  "its limit counts as a regression; record-baseline: the "
                                  "measurements to pool into the baseline (default 3)")

    arguments = parser.parse_args(argv)
    if hasattr(arguments, "rounds") and arguments.duration % arguments.rounds:
        parser.error(f"--duration {arguments.duration} does not split into "
                     f"{arguments.rounds} rounds of whole seconds")
    return arguments


def locate_binary(arguments: argparse.Namespace) -> Path:
    if arguments.binary is not None:
        if not arguments.binary.is_file():
            raise BenchmarkError(f"--binary {arguments.binary} is not a file")
        return arguments.binary.resolve()
    if not arguments.no_build:
        return build_release()
    binary = cargo_target_dir() / "release" / "studio-gate"
    if not binary.is_file():
        raise BenchmarkError(f"{binary} not found. Run without --no-build to build it.")
    return binary


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    # SIGTERM unwinds like Ctrl-C, so the servers and wrk processes are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    require_tools()
    binary = locate_binary(arguments)

    if arguments.command == "connections":
        results = run_connections(binary, arguments.count, arguments.settle)
        arguments.output.write_text(json.dumps(results, indent=2) + "\n")
        print_connections(results)
        return 0

    settings = RunSettings(arguments.duration, arguments.warmup, arguments.rounds,
                           arguments.connections, arguments.niceness)
    if arguments.command == "run":
        results = run_load(binary, settings)
        arguments.output.write_text(json.dumps(results, indent=2) + "\n")
        print_load_table(results)
        return 0

    with_micro = not arguments.skip_micro
    if arguments.command == "record-baseline":
        samples = RatioSamples()
        for attempt in range(1, arguments.attempts + 1):
            print(f"\nmeasurement {attempt} of {arguments.attempts}", flush=True)
            measure_attempt(samples, binary, settings, with_micro)
        write_output(arguments.output, samples.raw)
        write_baseline(arguments.baseline, samples, settings)
        for name, (value, better) in samples.ratios().items():
            print(f"{name:<34} {value:7.3f} ({better} is better)")
        print(f"wrote {arguments.baseline}")
        return 0

    gated_kinds = {MICRO}
    gated_kinds |= {THROUGHPUT, CPU} if arguments.gate == "both" else {arguments.gate}
    passed, samples = run_check(binary, settings, arguments.baseline, arguments.attempts,
                                with_micro, gated_kinds)
    write_output(arguments.output, samples.raw)
    print("regression check: passed" if passed else "regression check: FAILED")
    return 0 if passed else 1


def write_output(path: Path | None, document) -> None:
    if path is not None:
        path.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchmarkError as error:
        print(f"load.py: {error}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as error:
        print(f"load.py: {' '.join(map(str, error.cmd))} failed with status {error.returncode}",
              file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("load.py: interrupted", file=sys.stderr)
        sys.exit(130)
