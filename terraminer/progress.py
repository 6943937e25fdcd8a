"""What a long command shows while it works: one line per step with its seconds, a live status
line while it runs (on a terminal), and the full detail in a log file whose path is printed.

:class:`Reporter` is the terminal side; :class:`DagsterRunWatcher` follows a Dagster run's event
log (in a thread) and turns it into step lines, dbt node counts and rows per second, writing every
event to the log file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.markup import escape

TAIL_LINES = 25
MAX_TAIL_CHARS = 300


class Step:
    """A running step: ``update`` changes the live status line, ``result`` ends its summary line."""

    def __init__(self, title: str, status):
        self.title = title
        self.result = ""
        self._status = status

    def update(self, detail: str) -> None:
        if self._status is not None:
            self._status.update(f"{escape(self.title)}: {escape(detail)}")


class Reporter:
    """Prints step lines to ``stream``; a spinner with live detail only where it is a terminal."""

    def __init__(self, stream: TextIO | None = None, *, live: bool = True):
        self.console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
        self.live = live and self.console.is_terminal

    def line(self, text: str = "") -> None:
        self.console.print(escape(text))

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[Step]:
        started = time.perf_counter()
        status = self.console.status(escape(title)) if self.live else contextlib.nullcontext()
        with status as live_status:
            handle = Step(title, live_status)
            try:
                yield handle
            except BaseException:
                self.line(f"✗ {title} (failed after {time.perf_counter() - started:.1f} s)")
                raise
        detail = f": {handle.result}" if handle.result else ""
        self.line(f"✓ {title}{detail} ({time.perf_counter() - started:.1f} s)")


def new_log_path(home: Path, command: str) -> Path:
    """``<TERRAMINER_HOME>/logs/<command>-<UTC timestamp>.log`` (the folder is created)."""
    folder = home / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{command}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.log"


@contextlib.contextmanager
def library_output_to(log_file: TextIO) -> Iterator[None]:
    """Route what libraries print (Python logging of MLflow, alembic, dbt adapters; warnings;
    dagster-dbt's copy of dbt's log on ``sys.stdout``) to ``log_file`` instead of the terminal for
    the duration of the block. A :class:`Reporter` made before keeps the real terminal. Loggers
    that libraries configure later (at their first import) keep their own handlers: import those
    libraries first."""
    handler = logging.StreamHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.handlers[:], logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers = []
        logger.propagate = True
    logging.getLogger().handlers = [handler]
    logging.captureWarnings(True)
    try:
        with contextlib.redirect_stdout(log_file), contextlib.redirect_stderr(log_file):
            yield
    finally:
        logging.captureWarnings(False)
        for logger, handlers, propagate in saved:
            logger.handlers = handlers
            logger.propagate = propagate


class DagsterRunWatcher:
    """Follows one run's event log: writes each event to ``log_file``, prints a line when a step
    ends (with rows per second for ingestion steps) and keeps the live line on the dbt node
    counts. Use as a context manager around the run; ``tail(step)`` gives a failed step's lines."""

    def __init__(self, instance, run_id: str, reporter: Reporter, step: Step, log_file: TextIO,
                 poll_seconds: float = 1.0):
        self.instance, self.run_id = instance, run_id
        self.reporter, self.step, self.log_file = reporter, step, log_file
        self.poll_seconds = poll_seconds
        self.cursor: str | None = None
        self.failed_steps: list[tuple[str, str]] = []
        self._lines: dict[str | None, list[str]] = {}
        self._rows: dict[str, tuple[int, int, float]] = {}
        self._nodes = {"models": 0, "tests": 0}
        self._running: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dagster-run-watcher", daemon=True)

    def __enter__(self) -> DagsterRunWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()  # whatever arrived after the last tick

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            with contextlib.suppress(Exception):  # the run may not exist yet; the next tick retries
                self.poll()

    def poll(self) -> None:
        """Read the events written since the last poll (by cursor: a poll costs what is new)."""
        while True:
            page = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, limit=1000)
            for record in page.records:
                self._handle(record.event_log_entry)
            self.cursor = page.cursor or self.cursor
            if not page.has_more:
                break
        self.log_file.flush()

    def tail(self, step_key: str | None, lines: int = TAIL_LINES) -> list[str]:
        """A failed step's last telling lines: warnings, errors, failed checks, info (not the
        debug chatter of every output Dagster yields), one line each."""
        return self._lines.get(step_key, [])[-lines:]

    def _handle(self, record) -> None:
        stamp = dt.datetime.fromtimestamp(record.timestamp, dt.UTC).strftime("%H:%M:%S")
        level = logging.getLevelName(record.level)
        message = record.user_message or (record.dagster_event.message if record.dagster_event else "")
        line = f"{stamp} {level:<7} {record.step_key or '-'}: {message}"
        self.log_file.write(line + "\n")
        if record.level >= logging.INFO or "did not pass" in message:
            first = " ".join(message.split())[:MAX_TAIL_CHARS]
            self._lines.setdefault(record.step_key, []).append(f"{stamp} {level:<7} {first}")
        event = record.dagster_event
        if event is None:
            return
        kind, key = event.event_type_value, record.step_key
        if kind == "STEP_START":
            self._running.add(key)
        elif kind == "ASSET_MATERIALIZATION":
            self._count_output(key, event)
        elif kind == "ASSET_CHECK_EVALUATION" and key and "dbt" in key:
            self._nodes["tests"] += 1
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            self._running.discard(key)
            seconds = (event.event_specific_data.duration_ms or 0) / 1000 if kind == "STEP_SUCCESS" else None
            self._step_line(key, kind == "STEP_SUCCESS", seconds)
            if kind == "STEP_FAILURE":
                error = event.event_specific_data.error
                self.failed_steps.append((key, " ".join(error.message.split())[:MAX_TAIL_CHARS] if error else ""))
        if self._running:
            self.step.update(self._live_text())

    def _count_output(self, key: str | None, event) -> None:
        if key and key.startswith("ingest_"):
            metadata = event.event_specific_data.materialization.metadata

            def number(name: str) -> float:
                entry = metadata.get(name)
                return float(entry.value) if entry is not None and entry.value is not None else 0.0

            self._rows[key] = (int(number("files")), int(number("rows_loaded")), number("seconds"))
        elif key and "dbt" in key:
            self._nodes["models"] += 1

    def _live_text(self) -> str:
        running = ", ".join(sorted(self._running))
        if any("dbt" in key for key in self._running):
            return f"{running} ({self._nodes['models']} nodes built, {self._nodes['tests']} tests done)"
        return running

    def _step_line(self, key: str, ok: bool, seconds: float | None) -> None:
        detail = ""
        if key in self._rows:
            files, rows, load_seconds = self._rows[key]
            rate = f", {rows / load_seconds:,.0f} rows/s" if rows and load_seconds > 0 else ""
            detail = f"  {files:,} files, {rows:,} rows loaded{rate}" if files else "  no new files"
        elif "dbt" in key:
            detail = f"  {self._nodes['models']} nodes built, {self._nodes['tests']} tests"
            self._nodes = {"models": 0, "tests": 0}
        took = f" ({seconds:.1f} s)" if seconds is not None else ""
        self.reporter.line(f"    {'✓' if ok else '✗'} {key}{took}{detail}")
