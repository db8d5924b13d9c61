"""The lane: searches and upserts reach the Milvus Lite sidecar over a Unix socket, without gRPC.

A search through pymilvus costs the API a worker-thread handoff (the event loop cannot call the
blocking client), protobuf packing of every float and a Python object per hit; the sidecar pays
gRPC's thread pool and Lite's protobuf translators before its engine sees the query. On the
2-core box that was most of a search call's time under load (ADR 0006). The lane carries the
same search as one msgpack frame with the vectors as raw float32 bytes, from the event loop
(asyncio streams, no thread), to a small server inside the sidecar that calls Lite's engine
(``Collection.search``) with exactly the arguments its gRPC servicer passes for our request.

Upserts (the write-behind's once a second, from its worker thread) go the same way as columns:
ids, customer ids and the vectors as raw float32 bytes, applied by ``lite_bulk.upsert_columns``
under the sidecar's write lock (the one its gRPC write calls take). Deletes and flushes keep
pymilvus.

Any failure of the lane (no socket, a sidecar restarting, an error answer) makes that call go
through pymilvus, which has the full error handling (reload a released collection, a dropped
partition), and the lane rests for a few seconds; tests run both paths on the same data and
require equal answers.

Frame: a 4-byte big-endian length, then a msgpack array (``LaneSearch`` or ``LaneUpsert``, tagged
by their first element, / ``LaneReply``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import socketserver
import struct
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

log = logging.getLogger("appliance.vectors")

SOCKET_NAME = "search.sock"
MAX_FRAME = 64 * 1024 * 1024
"""A frame larger than this is a protocol error (a batch of 64 queries of 4096-D is 1 MB)."""
REST_SECONDS = 5.0
"""After a failure the lane is not tried for this long (pymilvus serves meanwhile)."""
_HEADER = struct.Struct(">I")
_UNIX_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL


class LaneSearch(msgspec.Struct, array_like=True, frozen=True, tag="search"):
    collection: str
    partition: str
    top_k: int
    metric: str
    params: dict[str, int]
    anns_field: str
    output_field: str
    dim: int
    vectors: bytes
    """``n * dim`` little-endian float32, row-major."""


class LaneUpsert(msgspec.Struct, array_like=True, frozen=True, tag="upsert"):
    collection: str
    partition: str
    dim: int
    ids: list[str]
    customer_ids: list[str]
    vectors: bytes
    """``len(ids) * dim`` little-endian float32, row-major."""


LaneRequest = LaneSearch | LaneUpsert


class LaneReply(msgspec.Struct, array_like=True, frozen=True):
    hits: list[list[tuple[str, str, float]]] = []
    """Per query, best first: (primary key, ``output_field``'s value, distance as Lite reports it)."""
    error: str = ""


class LaneUnavailable(RuntimeError):
    """The lane could not answer this call; the caller searches through pymilvus instead."""


def lane_socket_path(lite_dir: str | Path) -> Path | None:
    """Where the sidecar serving ``lite_dir`` listens, or None when the path is too long for a
    Unix socket (then searches use pymilvus only)."""
    path = Path(lite_dir).absolute().parent / SOCKET_NAME
    return path if len(os.fsencode(path)) <= _UNIX_PATH_MAX else None


# -- the sidecar's side ----------------------------------------------------------------------


def _read_frame(rfile: Any) -> bytes | None:
    header = rfile.read(_HEADER.size)
    if not header:
        return None
    if len(header) != _HEADER.size:
        raise ConnectionError("truncated frame header")
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ConnectionError(f"frame of {size} bytes is too large")
    body: bytes = rfile.read(size)
    if len(body) != size:
        raise ConnectionError("truncated frame")
    return body


def run_search(db: Any, request: LaneSearch) -> LaneReply:
    """One lane search against Lite's engine (``milvus_lite.MilvusLite``), as its gRPC servicer
    runs ours: default database, one partition, the metric resolved by the collection."""
    try:
        collection = db.get_collection(request.collection)
        vectors = np.frombuffer(request.vectors, dtype="<f4").reshape(-1, request.dim)
        results = collection.search(
            query_vectors=list(vectors),
            top_k=request.top_k,
            metric_type=collection.resolve_search_metric(request.anns_field, request.metric),
            partition_names=[request.partition],
            output_fields=[request.output_field],
            anns_field=request.anns_field,
            search_params=request.params,
        )
        field = request.output_field
        return LaneReply(
            hits=[
                [(str(hit["id"]), str(hit["entity"][field]), float(hit["distance"])) for hit in query]
                for query in results
            ]
        )
    except Exception as exc:  # the client falls back to pymilvus, which reports it properly
        return LaneReply(error=f"{type(exc).__name__}: {exc}")


def run_upsert(db: Any, request: LaneUpsert, write_lock: threading.Lock) -> LaneReply:
    """One lane upsert into Lite's engine, under the lock that serialises the sidecar's writes."""
    from appliance.vectors.lite_bulk import upsert_columns

    try:
        vectors = np.frombuffer(request.vectors, dtype="<f4").reshape(-1, request.dim)
        with write_lock:
            collection = db.get_collection(request.collection)
            upsert_columns(collection, request.partition, request.ids, request.customer_ids, vectors)
        return LaneReply()
    except Exception as exc:  # the client writes through pymilvus, which reports it properly
        return LaneReply(error=f"{type(exc).__name__}: {exc}")


def answer(db: Any, request: LaneRequest, write_lock: threading.Lock) -> LaneReply:
    if isinstance(request, LaneUpsert):
        return run_upsert(db, request, write_lock)
    return run_search(db, request)


class LaneServer:
    """A thread per connection, each answering one frame at a time (the API keeps one
    connection per search in flight, and opens one per upsert)."""

    def __init__(self, db: Any, path: Path, write_lock: threading.Lock) -> None:
        """``write_lock`` is the one the sidecar's gRPC writes take: Lite allows one writer."""
        self.db, self.path, self.write_lock = db, path, write_lock
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.unlink(missing_ok=True)  # a previous sidecar's socket (it died without cleaning up)
        db, write_lock = self.db, self.write_lock
        decoder = msgspec.msgpack.Decoder(LaneRequest)
        encoder = msgspec.msgpack.Encoder()

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    while (body := _read_frame(self.rfile)) is not None:
                        try:
                            reply = answer(db, decoder.decode(body), write_lock)
                        except msgspec.DecodeError as exc:
                            reply = LaneReply(error=f"bad request: {exc}")
                        payload = encoder.encode(reply)
                        self.wfile.write(_HEADER.pack(len(payload)) + payload)
                        self.wfile.flush()
                except (ConnectionError, OSError):
                    return  # the client went away; it opens a new connection next time

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        self._server = Server(str(self.path), Handler)
        os.chmod(self.path, 0o600)  # only this user's processes may search
        self._thread = threading.Thread(target=self._server.serve_forever, name="lite-lane", daemon=True)
        self._thread.start()
        log.info("lane listening", extra={"socket": str(self.path)})

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with contextlib.suppress(OSError):
            self.path.unlink()


# -- the API's side --------------------------------------------------------------------------


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LaneClient:
    """Lane searches from an event loop (idle connections are kept per loop and reused) and
    upserts from a worker thread (a connection per call: once a second)."""

    def __init__(self, path: str | Path, timeout: float = 10.0, rest_seconds: float = REST_SECONDS) -> None:
        self.path = str(path)
        self.timeout = timeout
        self.rest_seconds = rest_seconds
        self._idle: dict[int, tuple[asyncio.AbstractEventLoop, list[_Connection]]] = {}
        self._resting_until = 0.0
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(LaneReply)
        self.calls = 0
        self.fallbacks = 0

    def available(self) -> bool:
        return time.monotonic() >= self._resting_until

    async def search(self, request: LaneSearch) -> list[list[tuple[str, str, float]]]:
        """The hits, or :class:`LaneUnavailable` (after a connection failure the lane then rests
        for ``rest_seconds``; an error answer is the request's, not the lane's)."""
        self.calls += 1
        try:
            reply = await self._call(request)
        except LaneUnavailable:
            self._rest()
            raise
        return self._answered(reply).hits

    def upsert(self, request: LaneUpsert) -> None:
        """Apply an upsert (blocking), or raise :class:`LaneUnavailable` as :meth:`search` does."""
        self.calls += 1
        try:
            reply = self._call_blocking(request)
        except LaneUnavailable:
            self._rest()
            raise
        self._answered(reply)

    def _rest(self) -> None:
        self.fallbacks += 1
        self._resting_until = time.monotonic() + self.rest_seconds

    def _answered(self, reply: LaneReply) -> LaneReply:
        if reply.error:
            self.fallbacks += 1
            raise LaneUnavailable(reply.error)
        return reply

    def _idle_connections(self) -> list[_Connection]:
        loop = asyncio.get_running_loop()
        kept = self._idle.get(id(loop))
        if kept is None or kept[0] is not loop:  # (a closed loop's id can be reused)
            kept = self._idle[id(loop)] = (loop, [])
        return kept[1]

    def _call_blocking(self, request: LaneRequest) -> LaneReply:
        payload = self._encoder.encode(request)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                sock.sendall(_HEADER.pack(len(payload)) + payload)
                with sock.makefile("rb") as rfile:
                    body = _read_frame(rfile)
        except OSError as exc:  # socket.timeout included
            raise LaneUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if body is None:
            raise LaneUnavailable("the sidecar closed the connection")
        return self._decode(body)

    def _decode(self, body: bytes) -> LaneReply:
        try:
            return self._decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise LaneUnavailable(f"bad reply: {exc}") from exc

    async def _call(self, request: LaneSearch) -> LaneReply:
        idle = self._idle_connections()
        payload = self._encoder.encode(request)
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = idle.pop() if idle else await asyncio.open_unix_connection(self.path)
                try:
                    writer.write(_HEADER.pack(len(payload)) + payload)
                    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                    if size > MAX_FRAME:
                        raise ConnectionError(f"frame of {size} bytes is too large")
                    body = await reader.readexactly(size)
                except BaseException:
                    writer.close()  # a half-read connection cannot be reused
                    raise
        except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise LaneUnavailable(f"{type(exc).__name__}: {exc}") from exc
        idle.append((reader, writer))
        return self._decode(body)


def probe(path: str | Path, timeout: float = 1.0) -> bool:
    """Whether a lane server accepts connections at ``path`` (blocking; diagnostics and tests)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True
