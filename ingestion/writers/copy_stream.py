"""The COPY writer both PostgreSQL paths use: pipelined and safe from notice floods.

- **No deadlock on notices.** ``COPY … (ON_ERROR ignore, LOG_VERBOSITY verbose)`` sends a NOTICE
  per skipped row while the client is still sending. psycopg's own writer waits only for the socket
  to be writable: once the server blocks writing notices into a full socket, both sides wait
  forever (a 300k-row file of type errors hung the loader). This writer waits for read *or* write
  readiness and reads what the server sent (libpq parses the notices at the next put).
- **Pipelined.** A worker thread sends the chunks (libpq releases the GIL) while the main thread
  reads and prepares the next one, through a queue of a few chunks (bounded memory: psycopg's own
  queued writer holds up to 1,024).
"""

from __future__ import annotations

from queue import Queue

from psycopg import errors
from psycopg.copy import QueuedLibpqWriter
from psycopg.generators import fetch_many
from psycopg.pq import ExecStatus
from psycopg.waiting import Ready, Wait

QUEUE_CHUNKS = 4  # chunks (≤ 1 MiB each) waiting for the worker


def _copy_to(pgconn, buffer, flush: bool):
    while pgconn.put_copy_data(buffer) == 0:
        ready = yield Wait.RW
        if ready & Ready.R:
            pgconn.consume_input()
    if not flush:
        return
    while True:
        ready = yield Wait.RW
        if ready & Ready.R:
            pgconn.consume_input()
        if ready & Ready.W and pgconn.flush() == 0:
            return


def _copy_end(pgconn, error: bytes | None):
    while pgconn.put_copy_end(error) == 0:
        ready = yield Wait.RW
        if ready & Ready.R:
            pgconn.consume_input()
    while True:
        ready = yield Wait.RW
        if ready & Ready.R:
            pgconn.consume_input()
        if ready & Ready.W and pgconn.flush() == 0:
            break
    (result,) = yield from fetch_many(pgconn)
    if result.status != ExecStatus.COMMAND_OK:
        raise errors.error_from_result(result, encoding=pgconn._encoding)
    return result


class CopyWriter(QueuedLibpqWriter):
    """``cursor.copy(statement, writer=CopyWriter(cursor))``."""

    def __init__(self, cursor):
        super().__init__(cursor)
        self._queue = Queue(maxsize=QUEUE_CHUNKS)

    def _put(self, data) -> None:
        self._unflushed += len(data)
        flush = self._unflushed >= self.flush_threshold
        if flush:
            self._unflushed = 0
        self.connection.wait(_copy_to(self._pgconn, data, flush))

    def finish(self, exc: BaseException | None = None) -> None:
        self._queue.put(b"")
        if self._worker:
            self._worker.join()
            self._worker = None
        if self._worker_error:
            raise self._worker_error
        message = None
        if exc:
            message = f"error from Python: {type(exc).__qualname__} - {exc}".encode(self._pgconn._encoding, "replace")
        try:
            result = self.connection.wait(_copy_end(self._pgconn, message))
        except errors.QueryCanceled:  # expected after a CopyFail: the Python exception matters more
            if not message:
                raise
        else:
            self.cursor._results = [result]
