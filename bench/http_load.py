"""An HTTP load generator for the benchmarks: a separate process of client threads on loopback only.

The parent builds every request up front (signed form bodies, headers), so the generator process does
nothing but send them: N threads, each with its own keep-alive `http.client` connection, take the next
request from a shared list until the list is used up or the deadline passes. Each request is timed from
just before it is written to just after its body is read. A request that gets no HTTP answer (refused,
reset, timed out) is recorded with status -1 and the error, never retried: an error is an error.

Bounded on purpose: loopback hosts only, at most MAX_REQUESTS requests per run, a wall-clock deadline
per run (requests not started by then are recorded as status -2, "not sent"), and a per-request socket
timeout.
"""

from __future__ import annotations

import http.client
import multiprocessing
import threading
import time
from dataclasses import dataclass

LOOPBACK = ("127.0.0.1", "::1", "localhost")
MAX_REQUESTS = 50_000
SOCKET_TIMEOUT_SECONDS = 30.0
NO_ANSWER = -1
NOT_SENT = -2


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]
    tag: str = ""


@dataclass(frozen=True)
class Outcome:
    tag: str
    status: int  # HTTP status, NO_ANSWER or NOT_SENT
    seconds: float  # latency of this request
    text: str  # response body (or the error)


@dataclass(frozen=True)
class RunResult:
    outcomes: list[Outcome]  # in the order of the requests given
    wall_seconds: float  # first request written -> last answer read
    clients: int


def _run(host: str, port: int, requests: list[Request], clients: int, deadline_seconds: float) -> RunResult:
    if host not in LOOPBACK:
        raise ValueError(f"the load generator only talks to loopback, not {host!r}")
    if len(requests) > MAX_REQUESTS:
        raise ValueError(f"at most {MAX_REQUESTS} requests per run, got {len(requests)}")
    clients = max(1, min(clients, len(requests) or 1))
    outcomes: list[Outcome | None] = [None] * len(requests)
    next_index = iter(range(len(requests)))
    take = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    started_at: list[float] = []
    finished_at: list[float] = []

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=SOCKET_TIMEOUT_SECONDS)
        barrier.wait()  # all clients start together ("everybody joins at once")
        deadline = time.monotonic() + deadline_seconds
        last = None
        try:
            while True:
                with take:
                    index = next(next_index, None)
                if index is None:
                    break
                request = requests[index]
                if time.monotonic() > deadline:
                    outcomes[index] = Outcome(request.tag, NOT_SENT, 0.0, "deadline passed")
                    continue
                begin = time.perf_counter()
                try:
                    connection.request(
                        request.method, request.path, body=request.body, headers=request.headers
                    )
                    response = connection.getresponse()
                    payload = response.read()
                    end = time.perf_counter()
                    outcomes[index] = Outcome(
                        request.tag, response.status, end - begin, payload.decode("utf-8", "replace")
                    )
                    if response.will_close:
                        connection.close()  # http.client reconnects on the next request
                except (OSError, http.client.HTTPException) as error:
                    end = time.perf_counter()
                    outcomes[index] = Outcome(
                        request.tag, NO_ANSWER, end - begin, f"{type(error).__name__}: {error}"
                    )
                    connection.close()
                last = end
        finally:
            connection.close()
            if last is not None:
                with take:
                    finished_at.append(last)

    threads = [threading.Thread(target=client, name=f"client-{n}", daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started_at.append(time.perf_counter())
    for thread in threads:
        thread.join(deadline_seconds + SOCKET_TIMEOUT_SECONDS + 5)
    wall = (max(finished_at) - started_at[0]) if finished_at else 0.0
    final = [
        o if o is not None else Outcome(r.tag, NOT_SENT, 0.0, "client thread stuck")
        for o, r in zip(outcomes, requests, strict=True)
    ]
    return RunResult(final, wall, clients)


def _serve(connection, host: str, port: int) -> None:
    """The generator process: run each batch the parent sends, answer with its RunResult."""
    while True:
        message = connection.recv()
        if message is None:
            return
        requests, clients, deadline_seconds = message
        try:
            connection.send(_run(host, port, requests, clients, deadline_seconds))
        except Exception as error:  # noqa: BLE001 - report it to the parent instead of dying silently
            connection.send(error)


class Child:
    """A spawned process (it shares nothing with the parent) running `serve(connection, *args)`, which
    answers each message it receives until it receives None; `call` sends one and waits for the answer
    (an exception the child sent back is raised here)."""

    def __init__(self, serve, *args, name: str):
        context = multiprocessing.get_context("spawn")
        self._parent, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, *args), name=name, daemon=True)
        self._process.start()
        child.close()

    def call(self, message, timeout: float, what: str):
        self._parent.send(message)
        if not self._parent.poll(timeout):
            raise TimeoutError(f"{what} did not answer in time")
        result = self._parent.recv()
        if isinstance(result, Exception):
            raise result
        return result

    def close(self) -> None:
        try:
            self._parent.send(None)
        except OSError:
            pass
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


class LoadGenerator:
    """A child process that runs batches of requests."""

    def __init__(self, host: str, port: int):
        if host not in LOOPBACK:
            raise ValueError(f"the load generator only talks to loopback, not {host!r}")
        self._child = Child(_serve, host, port, name="webhook-load")

    def run(self, requests: list[Request], clients: int, deadline_seconds: float = 120.0) -> RunResult:
        budget = deadline_seconds + SOCKET_TIMEOUT_SECONDS + 30
        return self._child.call((requests, clients, deadline_seconds), budget, "the load generator")

    def close(self) -> None:
        self._child.close()
