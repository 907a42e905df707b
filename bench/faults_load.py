"""The fault benchmark's clients, in a spawned process of their own: slow connections and paced probes.

- **Slow clients**: `count` connections that send a webhook request one byte every `interval` seconds
  and never finish it: half trickle the request head (slowloris), half send the head at once and trickle
  the body (so a server that times out slow heads still waits for the body). One that the server closes
  is opened again at once, as an attacker (or a flaky mobile network behind a retrying client) would;
  openings are counted.
- **Probes**: signed webhook requests, pre-built by the parent, sent on a fixed schedule (`rate` per
  second, on up to `in_flight` connections at once), the way Twilio calls: a request is due at its
  scheduled time whether or not earlier ones were answered. Latency is counted from the scheduled time,
  so time spent waiting for a free connection counts too. A probe without an answer within
  `timeout` seconds (Twilio gives up after 15 s) is an error, recorded with that timeout.

Loopback only, bounded: at most MAX_SLOW slow connections and MAX_PROBES probes per phase, each phase
ends by its deadline, and every socket is closed before the phase reports.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.http_load import LOOPBACK, NO_ANSWER, Child, Request

MAX_SLOW = 256
MAX_PROBES = 5_000


@dataclass(frozen=True)
class Phase:
    slow: int  # slow connections held open during the phase
    probes: list[Request]
    rate: float  # probes per second
    in_flight: int  # most probes outstanding at once (connections)
    timeout: float  # a probe unanswered after this many seconds is an error
    slow_interval: float = 1.0  # seconds between two bytes of a slow request
    settle: float = 2.0  # seconds between opening the slow connections and the first probe


@dataclass(frozen=True)
class Probe:
    tag: str
    status: int  # HTTP status, or NO_ANSWER
    seconds: float  # from the scheduled send time to the end of the answer (or the error)
    error: str = ""


@dataclass(frozen=True)
class PhaseResult:
    probes: list[Probe]
    slow_opened: int  # slow connections opened, first ones and reopenings
    slow_open_at_end: int  # still open (unanswered, not closed by the server) when probing ended
    slow_answered: int  # slow requests the server answered (e.g. 408) or closed


def _slow_request(host: str, port: int) -> tuple[bytes, bytes]:
    """(head, body) of a signed-looking webhook POST whose body is longer than the phase lasts."""
    head = (
        f"POST /webhooks/twilio/whatsapp HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4096\r\n"
        "X-Twilio-Signature: " + "A" * 27 + "=\r\n\r\n"
    )
    return head.encode(), ("Body=" + "x" * 4091).encode()


class SlowClients:
    """`count` connections trickling a request one byte per `interval` seconds, from one thread."""

    def __init__(self, host: str, port: int, count: int, interval: float):
        self.address = (host, port)
        self.head, self.body = _slow_request(host, port)
        self.count = min(count, MAX_SLOW)
        self.interval = interval
        self.sockets: list[tuple[socket.socket, int] | None] = [None] * self.count
        self.opened = 0
        self.answered = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def _open(self, slot: int) -> None:
        try:
            conn = socket.create_connection(self.address, timeout=2)
            sent = 0
            if slot % 2:  # the whole head at once; only the body trickles
                conn.sendall(self.head)
                sent = len(self.head)
            conn.setblocking(False)
            self.sockets[slot] = (conn, sent)
            self.opened += 1
        except OSError:
            self.sockets[slot] = None

    def _tick(self, slot: int) -> None:
        entry = self.sockets[slot]
        if entry is None:
            self._open(slot)
            return
        conn, sent = entry
        try:
            if conn.recv(1024, socket.MSG_PEEK) == b"":  # the server closed it
                raise ConnectionResetError
        except BlockingIOError:
            pass  # nothing to read: still waiting for us, as intended
        except OSError:
            conn.close()
            self.answered += 1
            self._open(slot)
            return
        else:
            conn.close()  # the server answered (e.g. a timeout error): open another one
            self.answered += 1
            self._open(slot)
            return
        try:
            payload = self.head + self.body
            if sent < len(payload):
                conn.send(payload[sent : sent + 1])
                self.sockets[slot] = (conn, sent + 1)
        except OSError:
            conn.close()
            self.answered += 1
            self._open(slot)

    def _run(self) -> None:
        for slot in range(self.count):
            self._open(slot)
        while not self.stop.wait(self.interval):
            for slot in range(self.count):
                self._tick(slot)

    def open_now(self) -> int:
        return sum(entry is not None for entry in self.sockets)

    def close(self) -> int:
        self.stop.set()
        self.thread.join(10)
        still_open = self.open_now()
        for entry in self.sockets:
            if entry is not None:
                entry[0].close()
        return still_open


def _probe_all(host: str, port: int, phase: Phase) -> list[Probe]:
    local = threading.local()
    start = time.monotonic() + 0.05

    def connection() -> http.client.HTTPConnection:
        if getattr(local, "connection", None) is None:
            local.connection = http.client.HTTPConnection(host, port, timeout=phase.timeout)
        return local.connection

    def send(index: int, request: Request) -> Probe:
        due = start + index / phase.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            conn = connection()
            conn.request(request.method, request.path, body=request.body, headers=request.headers)
            response = conn.getresponse()
            response.read()
            if response.will_close:
                conn.close()
            return Probe(request.tag, response.status, time.monotonic() - due)
        except (OSError, http.client.HTTPException) as error:
            local.connection.close()
            local.connection = None
            seconds = max(time.monotonic() - due, phase.timeout if isinstance(error, TimeoutError) else 0)
            return Probe(request.tag, NO_ANSWER, seconds, f"{type(error).__name__}: {error}")

    with ThreadPoolExecutor(max_workers=phase.in_flight, thread_name_prefix="probe") as pool:
        futures = [pool.submit(send, n, r) for n, r in enumerate(phase.probes[:MAX_PROBES])]
        return [future.result() for future in futures]


def run_phase(host: str, port: int, phase: Phase) -> PhaseResult:
    if host not in LOOPBACK:
        raise ValueError(f"the fault benchmark only talks to loopback, not {host!r}")
    slow = SlowClients(host, port, phase.slow, phase.slow_interval)
    slow.thread.start()
    try:
        if phase.slow:
            time.sleep(phase.settle)
        probes = _probe_all(host, port, phase)
    finally:
        still_open = slow.close()
    return PhaseResult(probes, slow.opened, still_open, slow.answered)


def _serve(connection, host: str, port: int) -> None:
    while (phase := connection.recv()) is not None:
        try:
            connection.send(run_phase(host, port, phase))
        except Exception as error:  # noqa: BLE001 - reported to the parent
            connection.send(error)


class FaultClients:
    """A child process (`bench.http_load.Child`) that runs one phase at a time."""

    def __init__(self, host: str, port: int):
        if host not in LOOPBACK:
            raise ValueError(f"the fault benchmark only talks to loopback, not {host!r}")
        self._child = Child(_serve, host, port, name="fault-clients")

    def run(self, phase: Phase) -> PhaseResult:
        budget = phase.settle + len(phase.probes) / phase.rate + 2 * phase.timeout + 30
        return self._child.call(phase, budget, "the fault clients")

    def close(self) -> None:
        self._child.close()
