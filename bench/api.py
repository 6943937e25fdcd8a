"""Data API benchmark: property lookups (``GET /v1/properties/{id}``: attributes, sales, valuation,
comparables, provenance) under ``wrk`` (Debian's HTTP load generator) at ``--clients`` connections,

- with the Redis cache warm (every id of the mix requested once before the timed run),
- with the cache off (``TERRAMINER_API_CACHE=false``: every request runs the warehouse queries),
- and, the baseline in the same run, the same queries straight through a psycopg pool from
  ``--clients`` threads in one process (no HTTP, no JSON over the wire: the service layer's
  uncached path), as lookups per second.

The warehouse is the demo's: a fresh ``terraminer demo`` in a throw-away home under /tmp (about
5 minutes on 2 cores), or an existing one with ``--home`` (e.g. ``.terraminer`` after ``make demo``).
The API runs as ``terraminer api --workers N`` (default 2, one per core). Last line:

    cached_rps=R1 cached_p99_ms=P1 uncached_rps=R2 uncached_p99_ms=P2 direct_sql_qps=Q cache_speedup=S errors=E clients=C

S = R1 / R2; E = non-2xx responses and socket errors of both HTTP runs. Targets (issue 17): E = 0,
R1 >= 1,000 req/s with P1 <= 50 ms at 32 clients on 2 cores, S >= 3.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import free_port, write_result  # noqa: E402

CLEAN_PREFIXES = ("TERRAMINER_", "DBT_", "PG", "DAGSTER_", "MLFLOW_")

WRK_SCRIPT = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local counter = 0
wrk.headers["Authorization"] = "Bearer %(key)s"
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter * 7919) %% #paths + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%%d seconds=%%.3f non2xx=%%d socket_errors=%%d p50_ms=%%.3f p99_ms=%%.3f\\n",
    summary.requests, summary.duration / 1e6, summary.errors.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def clean_env(home: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEAN_PREFIXES)}
    env.update(TERRAMINER_HOME=str(home), TERRAMINER_PROJECT_DIR=str(Path(__file__).resolve().parents[1]),
               OMP_NUM_THREADS="1", **extra)
    return env


def terraminer(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "terraminer.cli", *args], env=env, capture_output=True,
                            text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"terraminer {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result


@contextlib.contextmanager
def api_server(env: dict, port: int, workers: int):
    proc = subprocess.Popen([sys.executable, "-m", "terraminer.cli", "api", "--port", str(port), "--workers",
                             str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=2) as response:
                    if response.status == 200:
                        break
            if proc.poll() is not None:
                raise SystemExit(f"the API did not start: {proc.stderr.read()[-2000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        if proc.poll() is None:
            proc.kill()


def get(url: str, key: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response.status


def wrk(base: str, key: str, paths_file: Path, clients: int, seconds: int, threads: int, workdir: Path) -> dict:
    script = workdir / "mix.lua"
    script.write_text(WRK_SCRIPT % {"paths": paths_file, "key": key})
    proc = subprocess.run(["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--latency", "--timeout", "10s",
                           "-s", str(script), base], capture_output=True, text=True)
    match = re.search(r"RESULT (.*)", proc.stdout)
    if proc.returncode != 0 or not match:
        raise SystemExit(f"wrk failed: {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    fields = dict(item.split("=") for item in match.group(1).split())
    out = {k: float(v) for k, v in fields.items()}
    out["rps"] = out["requests"] / out["seconds"]
    out["errors"] = int(out["non2xx"] + out["socket_errors"])
    return out


def direct_sql(env_home: Path, ids: list[str], clients: int, seconds: float) -> dict:
    """The same property lookups through the service layer's uncached path: a psycopg pool of
    ``clients`` connections, ``clients`` threads, as the API's role."""
    from api.cache import Cache
    from api.service import DataService
    from api.service.db import make_pool
    from core.settings import Settings

    settings = Settings(home=env_home, api_pool_size=clients)
    pool = make_pool(settings, open_wait=True)
    service = DataService(pool, Cache(None))
    service.data_version()
    done = [0] * clients
    stop = time.perf_counter() + seconds

    def worker(n: int) -> None:
        rng = random.Random(n)
        while time.perf_counter() < stop:
            service.property_detail(rng.choice(ids))
            done[n] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    pool.close()
    return {"lookups": sum(done), "seconds": elapsed, "qps": sum(done) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="an existing demo TERRAMINER_HOME (default: a fresh demo)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    parser.add_argument("--ids", type=int, default=500, help="distinct properties in the mix")
    parser.add_argument("--wrk-threads", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    workdir = Path(tempfile.mkdtemp(prefix="tmb-api-", dir="/tmp"))
    home = args.home.resolve() if args.home else workdir / "home"
    fresh = args.home is None
    env = clean_env(home)
    try:
        if fresh:
            print(f"building the demo warehouse in {home} (terraminer demo) ...", flush=True)
            started = time.perf_counter()
            terraminer("demo", env=env)
            print(f"  demo built in {time.perf_counter() - started:.0f} s", flush=True)
        terraminer("up", env=env)
        terraminer("roles", env=env)
        name = f"bench-{os.getpid()}"
        key = terraminer("api-key", "create", "--name", name, "--scopes", "properties,valuations",
                         "--rate-limit", "1000000000", "--rate-window", "1", env=env).stdout.strip().splitlines()[-1]
        import psycopg

        from core.settings import Settings

        settings = Settings(home=home)
        with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
            ids = [r[0] for r in conn.execute(
                "select property_id from marts.mart_property_valuations order by md5(property_id) limit %s",
                (args.ids,))]
        paths = workdir / "paths.txt"
        paths.write_text("".join(f"/v1/properties/{i}\n" for i in ids))
        results: dict = {"clients": args.clients, "seconds": args.seconds, "workers": args.workers,
                         "distinct_properties": len(ids)}

        port = free_port()
        with api_server(env, port, args.workers) as base:
            for i in ids:  # warm: every id of the mix once
                get(f"{base}/v1/properties/{i}", key)
            results["cached"] = wrk(base, key, paths, args.clients, args.seconds, args.wrk_threads, workdir)
            print(f"cached:   {results['cached']['rps']:.0f} req/s, p99 {results['cached']['p99_ms']:.1f} ms, "
                  f"errors {results['cached']['errors']}", flush=True)
        port = free_port()
        with api_server(clean_env(home, TERRAMINER_API_CACHE="false"), port, args.workers) as base:
            get(f"{base}/v1/properties/{ids[0]}", key)
            results["uncached"] = wrk(base, key, paths, args.clients, args.seconds, args.wrk_threads, workdir)
            print(f"uncached: {results['uncached']['rps']:.0f} req/s, p99 {results['uncached']['p99_ms']:.1f} ms, "
                  f"errors {results['uncached']['errors']}", flush=True)
        results["direct_sql"] = direct_sql(home, ids, args.clients, args.seconds)
        print(f"direct:   {results['direct_sql']['qps']:.0f} lookups/s through a psycopg pool", flush=True)
        terraminer("api-key", "revoke", name, env=env, check=False)

        cached, uncached = results["cached"], results["uncached"]
        speedup = cached["rps"] / uncached["rps"] if uncached["rps"] else float("inf")
        line = (f"cached_rps={cached['rps']:.0f} cached_p99_ms={cached['p99_ms']:.1f} "
                f"uncached_rps={uncached['rps']:.0f} uncached_p99_ms={uncached['p99_ms']:.1f} "
                f"direct_sql_qps={results['direct_sql']['qps']:.0f} cache_speedup={speedup:.1f} "
                f"errors={cached['errors'] + uncached['errors']} clients={args.clients}")
        results["line"] = line
        write_result("api", results)
        print(line, flush=True)
    finally:
        if fresh:
            terraminer("down", env=env, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
