"""Shared pieces of the benchmarks: an isolated embedded stack, a moto S3 server in its own
process (real HTTP, no GIL sharing with the code under test), machine facts, result files."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"
RESULTS_ENV = "TERRAMINER_BENCH_RESULTS"  # run_all.py --quick points this at a scratch directory


def results_dir() -> Path:
    override = os.environ.get(RESULTS_ENV)
    return Path(override) if override else RESULTS_DIR


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem_gib = round(kb / 1024 / 1024, 1)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem_gib, "python": platform.python_version(),
            "platform": platform.platform()}


def write_result(name: str, payload: dict) -> Path:
    directory = results_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    body = {"benchmark": name, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(), **payload}
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto S3 server in a child process; yields its endpoint URL."""
    port = free_port()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            os.environ.setdefault(key, env[key])
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def peak_rss_mb_of(cmd: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run a command; return it and its peak resident memory in MB (from wait4's rusage)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    result = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    return result, usage.ru_maxrss / 1024


# ----------------------------------------------------------------------------------- memory sampling
def _psutil():
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil ships with the dev extras
        return None
    return psutil


def _tree(psutil, pid: int) -> list:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except (psutil.Error, ValueError):
        return []


def _tree_mb(psutil, pid: int, pss: bool = False) -> float:
    total = 0
    for proc in _tree(psutil, pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_full_info().pss if pss else proc.memory_info().rss
    return total / 1024 / 1024


def postmaster_pid(settings) -> int | None:
    """The embedded PostgreSQL server's pid (first line of postmaster.pid), if it runs."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((Path(settings.pg_data_dir) / "postmaster.pid").read_text().splitlines()[0])
        return pid if pid > 0 else None  # negative: initdb's single-user bootstrap backend, not the server
    return None


class MemorySampler:
    """Polls, every ``interval`` seconds, the summed RSS of a process tree (the command and all its
    descendants, e.g. the dbt subprocess of a Dagster run) and the summed PSS of the warehouse
    server's tree (its own tree: the server is not a child of the client; PSS, not RSS, so PostgreSQL's
    shared buffers count once across backends). Keeps the time series for per-step breakdowns."""

    def __init__(self, pid: int, server_pid: int | Callable[[], int | None] | None = None, interval: float = 0.25):
        """``server_pid``: the server's pid, or a callable asked until it returns one (a server the
        command itself starts)."""
        import threading

        self.pid, self.interval = pid, interval
        self._server = server_pid if callable(server_pid) else (lambda: server_pid)
        self.server_pid: int | None = None
        self.samples: list[tuple[float, float, float]] = []  # (unix time, tree RSS MB, server PSS MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._psutil = _psutil()

    def __enter__(self) -> MemorySampler:
        if self._psutil is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        psutil, tick = self._psutil, 0
        server = 0.0
        while not self._stop.is_set():
            tree = _tree_mb(psutil, self.pid)
            if self.server_pid is None or not psutil.pid_exists(self.server_pid):
                self.server_pid = self._server()
            if self.server_pid and tick % 4 == 0:  # PSS (smaps_rollup) is dearer: every 4th tick
                server = _tree_mb(psutil, self.server_pid, pss=True)
            self.samples.append((time.time(), tree, server))
            tick += 1
            self._stop.wait(self.interval)

    def peaks(self, start: float | None = None, end: float | None = None) -> tuple[float, float]:
        window = [s for s in self.samples if (start is None or s[0] >= start) and (end is None or s[0] <= end)]
        if not window:
            return 0.0, 0.0
        return max(s[1] for s in window), max(s[2] for s in window)


@dataclass
class StepResult:
    name: str
    seconds: float
    returncode: int
    peak_rss_mb: float  # summed RSS of the command's process tree (sampled)
    max_process_rss_mb: float  # the largest single process of the tree (kernel's ru_maxrss via wait4)
    warehouse_peak_pss_mb: float  # PostgreSQL server tree (sampled PSS), 0 when not sampled
    log: str
    cpu_s: float = 0.0  # user + system CPU of the command's own processes (not the warehouse's)

    def as_dict(self) -> dict:
        return {"seconds": round(self.seconds, 2), "cpu_s": round(self.cpu_s, 1), "peak_rss_mb": round(self.peak_rss_mb, 1),
                "max_process_rss_mb": round(self.max_process_rss_mb, 1),
                "warehouse_peak_pss_mb": round(self.warehouse_peak_pss_mb, 1)}


def run_step(name: str, cmd: list[str], *, env: dict | None = None, cwd: Path | str | None = None,
             log_dir: Path, server_pid: int | Callable[[], int | None] | None = None, check: bool = True,
             sampler_out: list | None = None) -> StepResult:
    """Run one benchmark step as a subprocess, output to ``log_dir/<name>.log``; time it and sample
    its memory (and the warehouse's). Raises SystemExit with the log's tail when it fails."""
    log_path = Path(log_dir) / f"{name}.log"
    with open(log_path, "w") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        with MemorySampler(proc.pid, server_pid) as sampler:
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    tree, server = sampler.peaks()
    if sampler_out is not None:
        sampler_out.append(sampler)
    result = StepResult(name, seconds, proc.returncode, max(tree, usage.ru_maxrss / 1024), usage.ru_maxrss / 1024,
                        server, str(log_path), usage.ru_utime + usage.ru_stime)
    if check and proc.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"{name} failed (exit {proc.returncode}): `{' '.join(map(str, cmd))}`\n{tail}")
    return result


class DbtBench:
    """A dbt benchmark's stack (see :func:`dbt_bench_stack`): its settings, landing folder, dbt
    target folder and environment, and the steps run so far (``steps``: name -> StepResult.as_dict)."""

    def __init__(self, settings, work: Path, memory_line: bool):
        from core.dbt import dbt_env
        from core.settings import project_dir

        self.settings, self.work, self.memory_line = settings, work, memory_line
        self.logs, self.target = work / "logs", work / "target"
        self.logs.mkdir()
        self.landing = Path(settings.landing)
        self.env = dbt_env(settings, "ci", TERRAMINER_ENV="ci", TERRAMINER_HOME=str(settings.home_dir),
                           DBT_PROFILES_DIR=str(project_dir()), DBT_TARGET_PATH=str(self.target),
                           DBT_LOG_PATH=str(work / "dbt-logs"), PYTHONUNBUFFERED="1")
        self.server = postmaster_pid(settings)
        self.steps: dict[str, dict] = {}

    def step(self, name: str, cmd: list[str]) -> dict:
        """Run ``cmd`` from the project folder as step ``name`` (timed, memory sampled), print its line."""
        from core.settings import project_dir

        result = run_step(name, cmd, env=self.env, cwd=project_dir(), log_dir=self.logs, server_pid=self.server)
        self.steps[name] = result.as_dict()
        memory = (f" (peak RSS {result.peak_rss_mb:.0f} MB, warehouse PSS {result.warehouse_peak_pss_mb:.0f} MB)"
                  if self.memory_line else "")
        print(f"{name}: {result.seconds:.1f} s{memory}", flush=True)
        return self.steps[name]

    def query(self, sql: str):
        """The first row of ``sql`` on the stack's warehouse."""
        from core.warehouse import connect

        with connect(self.settings) as conn:
            return conn.execute(sql).fetchone()

    def _admin(self):
        from core.warehouse import connect

        return connect(self.settings, conninfo={"dbname": "postgres"}, autocommit=True)

    def keep_state(self, name: str) -> None:
        """Set the warehouse database aside as it is now, under ``name``: :meth:`from_state` starts
        builds from it. (A copy under another database name would make every dbt invocation re-parse
        the project: the profile changed.)"""
        from psycopg import sql

        with self._admin() as conn:
            conn.execute(sql.SQL("alter database {} rename to {}").format(
                sql.Identifier(self.settings.warehouse.dbname), sql.Identifier(name)))

    @contextlib.contextmanager
    def from_state(self, name: str) -> Iterator[None]:
        """The warehouse database re-created from the state kept as ``name`` (``create database ...
        template``, with its grants) for one timed build, dropped afterwards; a checkpoint first,
        so that a build does not pay for the writes of the one before."""
        from psycopg import sql

        warehouse = sql.Identifier(self.settings.warehouse.dbname)
        with self._admin() as conn:
            conn.execute(sql.SQL("create database {} template {}").format(warehouse, sql.Identifier(name)))
            grants = conn.execute(
                "select r.rolname, a.privilege_type from pg_database d, aclexplode(d.datacl) a "
                "join pg_roles r on r.oid = a.grantee where d.datname = %s", (name,)).fetchall()
            for role, privilege in grants:
                conn.execute(sql.SQL("grant {} on database {} to {}").format(
                    sql.SQL(privilege), warehouse, sql.Identifier(role)))
            conn.execute("checkpoint")
        try:
            yield
        finally:
            with self._admin() as conn:
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(warehouse))


@contextlib.contextmanager
def dbt_bench_stack(prefix: str, memory_line: bool = False) -> Iterator[DbtBench]:
    """A temporary embedded stack with its warehouse prepared (roles, schemas) and a scratch folder
    for dbt's target and the steps' logs, for benchmarks that time `terraminer` and dbt commands."""
    import tempfile

    from terraminer import pipeline
    from terraminer.stack import temporary_stack

    with temporary_stack(prefix) as settings, tempfile.TemporaryDirectory(prefix=f"{prefix}work-", dir="/tmp") as tmp:
        bench = DbtBench(settings, Path(tmp), memory_line)
        pipeline.prepare_warehouse(settings)
        yield bench
