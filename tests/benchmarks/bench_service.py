"""Relying-party service throughput on loopback: challenge + attest with the sample TDX evidence.

Run: ``.venv/bin/python tests/benchmarks/bench_service.py [--attestations N] [--seconds S]
[--workers 1,2] [--clients 1,16,64] [--offered 1000] [--inline-guest-crypto] [--reuse-connections]``

For 1 and 2 uvicorn workers (``ccverify serve --workers``, SQLite in WAL mode, plain HTTP on
127.0.0.1) and 1/16/64 concurrent clients, a bounded run (N attestations or S seconds, whichever
comes first, after a short warm-up) of full guest sessions, each what a booting guest does: its
HPKE key pair (X-Wing), ``POST /v1/challenge``, a quote minted for the nonce and that key (the
sample quote with that REPORT_DATA, signed again by the example attestation key: what the TD's
quoting enclave does), ``POST /v1/attest`` with the event log; every answer must be affirming,
and every sealed release must open with its session's key (HPKE, bound to the nonce and the
result token) and hold the provisioned secret. Each session runs on its own connection, as a
guest's ``RelyingPartyClient`` does (``--reuse-connections``: a client's sessions on one
keep-alive connection; uvicorn's workers share one listening socket and the first to wake
accepts every pending connection, so 64 connections opened at once may all land on one worker).

Two kinds of rows:

- closed loop (``offered`` -): each client starts its next session when its last one ends, so
  the service runs at its most; at 64 clients a session waits for the 63 others and latency is
  queueing: p50 is about 64 / rate (Little's law), whatever the service's own speed;
- open loop (``--offered R``, default one row at 1,000/s with the most workers and clients):
  sessions start on a fixed schedule of R a second over the same 64 connections, and a session's
  latency counts from the moment it was due (wrk2's way: a service that falls behind is charged
  for the wait, not excused by the generator waiting too). This is the latency a service has
  while it carries R attestations a second.

The guests' key pairs are made before the timed run and the releases opened and checked after
it (a key pair does not depend on the service's answers, and both are the guests' own CPU: on
64 machines in a deployment, here on the same 2 cores); their CPU per session is the ``guests``
column. ``--inline-guest-crypto`` does both inside each session instead (its CPU then in the
generator's column, about 0.25 ms a session more). The quote is minted inside the session (it
needs the nonce).

Printed: attestations/s, p50/p99 latency of a whole session (challenge + attest), the ratio to
the in-process rate, CPU per attestation of the service (all workers), of the generator in the
run and of the guests outside it (read after the generator's warm-up), and the cores other
processes kept busy during the run.

In-process baseline (same run, same configuration, its own SQLite file): ``RelyingParty.challenge``
+ ``RelyingParty.attest`` (verify, bind, appraise, sign the EAR JWT, seal the release, with the
same database writes) with a fresh HPKE key per session as over HTTP, minting and key making
excluded. The load generator (asyncio on uvloop, raw HTTP/1.1 connections, one process) runs on
the same machine: its CPU is part of the figures.

Goals: >= 0.6x the in-process rate per worker; with 2 workers >= 1,000 attestations/s and p99 <=
50 ms at 64 clients (Veraison's published figure: ~400/s at ~100 ms median on three instances).

Measured (2026-12-07, the shared 2-core machine, slower than on 12-06: in-process 1,037-1,152/s
against 1,255-1,439/s; "others": cores other processes kept busy):

    workers clients offered   att/s  p50 ms  p99 ms in-proc/s  ratio svc cpu gen cpu guests cpu ratio others
          1       1       -     540     1.8     3.7     1,122   0.48    1.52    0.35   0.32      0.58   0.00
          1      16       -     682    23.0    28.1     1,037   0.66    1.45    0.29   0.28      0.66   0.00
          1      64       -     681    92.0   114.9     1,068   0.64    1.45    0.29   0.28      0.64   0.00
          2       1       -     512     1.9     3.2     1,152   0.22    1.64    0.39   0.31      0.52   0.00
          2      16       -   1,102    14.2    26.4     1,037   0.53    1.41    0.30   0.28      0.68   0.00
          2      64       -   1,151    54.8    83.8     1,066   0.54    1.37    0.29   0.27      0.67   0.00
          2      64   1,000     999     5.8    17.4     1,147   0.44    1.45    0.36   0.28      0.59   0.00

- One worker keeps 0.64-0.66x of the in-process rate at 16 and 64 clients.
- Two workers carry 1,000 attestations/s from 64 clients with p99 17 ms (p50 6 ms); a second run
  of the whole table: p99 15.9 ms, and closed loop 1,088/s.
- At their most (closed loop, 64 clients) two workers make 1,088-1,151/s with p99 78-84 ms:
  p50 = 64 / rate, so p99 <= 50 ms there would take ~1,700/s on this machine, about 1.15 ms of
  CPU per attestation for service and generator together (1.66 ms today).
- With the guests' cryptography inside the sessions (``--inline-guest-crypto``, as before
  2026-12-07), the generator takes 0.54 ms a session instead of 0.29 and the 1,000/s schedule is
  not kept (983/s, p99 88 ms; closed loop 1,021/s).

Behind HTTP a worker spends about 1.4 ms of CPU a session against ~0.9 ms in process: about
0.1 ms writing the two answers (the kernel's loopback TCP, woken receiver included), the
accept, reads and close of a connection per session, uvicorn's protocol objects, and the same
handlers running slower between system calls than in a tight loop (with each worker pinned to
its own core, no better). The SQLite writes are single-statement transactions queued on a lock
file (``verifier/service/store.py``): before, ~8% of them waited in SQLite's busy handler (1 ms
sleeps and up, the worker's event loop stopped); p99 at 1,000/s went from 23-27 ms (two runs)
to 10-17 ms (four runs), the closed-loop rate from 1,098-1,126/s to 1,088-1,165/s (noise).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ccverify.verifier.release import binding, sealing  # noqa: E402
from ccverify.verifier.service.attestation import AttestRequest, RelyingParty  # noqa: E402
from ccverify.verifier.service.client import RelyingPartyClient, trim_event_log  # noqa: E402
from ccverify.verifier.service.config import load_config  # noqa: E402
from ccverify.verifier.testing import sample  # noqa: E402
from ccverify.verifier.testing.pki import derive_ec_key  # noqa: E402
from ccverify.verifier.testing.service_fixtures import sample_tdx_quote  # noqa: E402
from ccverify.verifier.testing.tdx_builder import sign_raw  # noqa: E402
from tests.service.conftest import EVENT_LOG, SAMPLE_QUOTE, SECRET, make_config, provision, start  # noqa: E402

# TDX quote v4 with a TD report 1.0: header 48, body 584 (REPORTDATA at 520), then the signature
_SIGNED = 48 + 584
_REPORT_DATA = 48 + 520
_SIGNATURE = _SIGNED + 4


class Minter:
    """The sample quote with another REPORT_DATA: one ECDSA signature, as the quoting enclave makes."""

    def __init__(self) -> None:
        self.key = derive_ec_key(sample.SEED, "intel/attestation-key", ec.SECP256R1())
        self.template = bytearray(SAMPLE_QUOTE)

    def __call__(self, report_data: bytes) -> bytes:
        quote = bytearray(self.template)
        quote[_REPORT_DATA : _REPORT_DATA + 64] = report_data
        quote[_SIGNATURE : _SIGNATURE + 64] = sign_raw(self.key, bytes(quote[:_SIGNED]))
        return bytes(quote)


class InProcess:
    """challenge+verify+appraise+sign+seal in this process, with the service's configuration; a
    fresh HPKE key per session as the guests over HTTP send (its making and the minting untimed)."""

    def __init__(self, config_path: Path) -> None:
        self.party = RelyingParty(load_config(config_path))
        provision(_LocalAdmin(self.party))
        self.mint = Minter()
        self.log = trim_event_log(EVENT_LOG)
        self.run(50, 10.0)  # warm-up

    def run(self, count: int, seconds: float) -> tuple[float, float]:
        """(attestations per second, CPU seconds per attestation), minting excluded."""
        spent = cpu = 0.0
        done = 0
        deadline = time.perf_counter() + seconds
        while done < count and time.perf_counter() < deadline:
            start, start_cpu = time.perf_counter(), time.process_time()
            challenge = self.party.challenge("tdx")
            middle, middle_cpu = time.perf_counter(), time.process_time()
            key = sealing.generate_key()  # a guest's, new in each session, as over HTTP
            quote = self.mint(binding.report_data(challenge.nonce, key.public_bytes))
            resumed, resumed_cpu = time.perf_counter(), time.process_time()
            request = AttestRequest(challenge.nonce, "tdx", quote, key.public_bytes, event_log=self.log)
            answer = self.party.attest(request)
            end, end_cpu = time.perf_counter(), time.process_time()
            assert answer.affirming and answer.sealed is not None
            spent += (middle - start) + (end - resumed)
            cpu += (middle_cpu - start_cpu) + (end_cpu - resumed_cpu)
            done += 1
        return done / spent, cpu / done


class _LocalAdmin:
    """``provision`` against a RelyingParty directly (same calls as the HTTP admin API)."""

    def __init__(self, party: RelyingParty) -> None:
        self.party = party

    def put_reference_values(self, body: bytes) -> object:
        return self.party.upload_reference_values(body)

    def put_secret(self, name: str, value: bytes) -> object:
        return self.party.upload_secret(name, value)

    def put_release_rule(self, name: str, rv: str, *, secrets: list[str]) -> object:
        return self.party.upload_rule(name, rv, None, secrets)


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time: the bytes of a request out,
    the body of its answer back (no StreamReader: a header line is not a coroutine step)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not registered as one

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0 or self.waiter is None:
            return
        length = _CONTENT_LENGTH.search(self.buffer, 0, head_end + 2)
        if length is None:
            self.waiter.set_exception(RuntimeError(f"no content-length: {bytes(self.buffer[:200])!r}"))
            return
        end = head_end + 4 + int(length.group(1))
        if len(self.buffer) < end:
            return
        if not self.buffer.startswith(b"HTTP/1.1 200 "):
            self.waiter.set_exception(RuntimeError(f"refused: {bytes(self.buffer[:300])!r}"))
        else:
            self.waiter.set_result(bytes(self.buffer[head_end + 4 : end]))
        del self.buffer[:end]
        self.waiter = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the service closed the connection"))

    def request(self, data: bytes) -> asyncio.Future[bytes]:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter


#: what ``provision`` stores and its rule releases
_RELEASED = {"disk-key": SECRET}
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)\r\n", re.IGNORECASE)
#: what /v1/attest answers an affirming attestation with: a compact JWS and a sealed release
_AFFIRMING = re.compile(
    rb'\{"affirming": ?true, ?"result": ?"([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)", ?'
    rb'"sealed": ?"([A-Za-z0-9+/]+={0,2})"\}'
)
_NONCE = re.compile(rb'"nonce": ?"([A-Za-z0-9+/]{43}=)"')
_CHALLENGE = (
    b"POST /v1/challenge HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    b'content-length: 13\r\n\r\n{"tee":"tdx"}'
)
_ATTEST = b"POST /v1/attest HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: "


@dataclass
class _Run:
    """One load run's sessions: its settings, what is left of it, and what it measured.

    ``keys``: the guests' key pairs, made before the run (a key pair does not depend on the
    service's answers: a guest makes it before it asks for a challenge); the sealed releases are
    opened and checked after the run (``check``), every one of them. ``inline``: both in each
    session instead, as a guest's own CPU would do them. ``rate``: sessions are started on a
    fixed schedule (``rate`` a second, open loop, as wrk2 does: a session's latency counts from
    the moment it was due, so a service that falls behind is charged for the wait); 0: closed
    loop, each client starts its next session when its last one ends."""

    port: int
    until: float
    budget: int
    mint: Minter
    reuse: bool = False
    inline: bool = False
    rate: float = 0.0
    start: float = 0.0
    keys: list[sealing.ReleaseKey] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    received: list[tuple[bytes, sealing.ReleaseKey, bytes, str]] = field(default_factory=list)
    due: int = 0

    def prepare(self, sessions: int) -> None:
        if not self.inline:
            self.keys = [sealing.generate_key() for _ in range(sessions)]

    def check(self) -> None:
        for sealed, key, raw_nonce, token in self.received:
            _check_release(sealed, key, raw_nonce, token)
        self.received.clear()


def _check_release(sealed: bytes, key: sealing.ReleaseKey, raw_nonce: bytes, token: str) -> None:
    """The guest's side of a session's end: the release opens with its key, in its session
    (HPKE, bound to the nonce and the result token), and holds the provisioned secret."""
    if sealing.open_release(sealed, key, raw_nonce, token).secrets != _RELEASED:
        raise RuntimeError("the release does not hold the provisioned secret")


async def _client(run: _Run) -> None:
    """Guest sessions, each what a booting guest does: its HPKE key pair, challenge, a quote
    for its nonce and that key, attest (the body built from prepared bytes: only the key, the
    nonce and the quote change), then the sealed release opened with the key and its secret
    checked (``_Run``: when). Each session on its own connection, as a guest's
    ``RelyingPartyClient`` (one requests.Session per boot); ``run.reuse``: all on one."""
    loop = asyncio.get_running_loop()
    log = base64.b64encode(trim_event_log(EVENT_LOG))  # what RelyingPartyClient sends
    fixed = b'{"tee":"tdx","event_log":"' + log + b'","hpke_public_key":"'
    report_data, b64decode, b64encode = binding.report_data, base64.b64decode, base64.b64encode
    clock = time.perf_counter
    transport: asyncio.BaseTransport | None = None
    try:
        while run.budget > 0 and clock() < run.until:
            run.budget -= 1
            if run.rate:
                start = run.start + run.due / run.rate
                run.due += 1
                if start >= run.until:
                    break
                if start > clock():
                    await asyncio.sleep(start - clock())
            else:
                start = clock()
            if transport is None:
                transport, connection = await loop.create_connection(_Connection, "127.0.0.1", run.port)
            found = _NONCE.search(await connection.request(_CHALLENGE))
            if found is None:
                raise RuntimeError("a challenge without a nonce")
            key = run.keys.pop() if run.keys else sealing.generate_key()
            nonce = found.group(1)
            raw_nonce = b64decode(nonce)
            quote = run.mint(report_data(raw_nonce, key.public_bytes))
            body = b"".join((fixed, b64encode(key.public_bytes), b'","nonce":"', nonce,
                             b'","evidence":"', b64encode(quote), b'"}'))  # fmt: skip
            answer = await connection.request(b"%b%d\r\n\r\n%b" % (_ATTEST, len(body), body))
            affirming = _AFFIRMING.fullmatch(answer)
            if affirming is None:
                raise RuntimeError(f"not an affirming attestation with a sealed release: {answer[:300]!r}")
            token, sealed = affirming.group(1).decode(), b64decode(affirming.group(2))
            if run.inline:
                _check_release(sealed, key, raw_nonce, token)
            else:
                run.received.append((sealed, key, raw_nonce, token))
            if not run.reuse:
                transport.close()
                transport = None
            run.latencies.append(clock() - start)
    finally:
        if transport is not None:
            transport.close()


@dataclass(frozen=True)
class _Settings:
    port: int
    clients: int
    count: int
    seconds: float
    reuse: bool
    inline: bool
    rate: float


async def _load(
    settings: _Settings,
    out: multiprocessing.Queue,  # type: ignore[type-arg]
    go: Any,
) -> tuple[float, list[float], float, float]:
    """(elapsed s, latencies, CPU s in the run, CPU s of the guests' keys and checks outside it)."""
    mint = Minter()
    s = settings
    warm = _Run(s.port, 0.0, 20 * s.clients, mint, s.reuse, s.inline)
    warm.prepare(warm.budget)
    warm.until = time.perf_counter() + 2
    await asyncio.gather(*(_client(warm) for _ in range(s.clients)))
    warm.check()
    sessions = s.count if not s.rate else min(s.count, int(s.rate * s.seconds) + 1)
    run = _Run(s.port, 0.0, s.count, mint, s.reuse, s.inline, s.rate)
    cpu = time.process_time()
    run.prepare(sessions)
    outside = time.process_time() - cpu
    out.put("warm")  # the parent reads the service's CPU time now, then says go
    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    run.start = time.perf_counter()
    run.until = run.start + s.seconds
    cpu = time.process_time()
    await asyncio.gather(*(_client(run) for _ in range(s.clients)))
    elapsed, inside = time.perf_counter() - run.start, time.process_time() - cpu
    cpu = time.process_time()
    run.check()
    outside += time.process_time() - cpu
    return elapsed, run.latencies, inside, outside


def _loader(settings: _Settings, out: multiprocessing.Queue, go: Any) -> None:  # type: ignore[type-arg]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out.put(asyncio.run(_load(settings, out, go)))


def _cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process and its children (the uvicorn workers), from /proc."""
    total = 0.0
    pending = [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def _machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every process, kernel included), /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(f) for f in fields[:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attestations", type=int, default=3000, help="per run (default 3000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="at most, per run (default 5)")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--clients", default="1,16,64")
    parser.add_argument(
        "--offered",
        default="1000",
        help="fixed rates (sessions/s, comma-separated; 0 or empty: none) of open-loop rows run "
        "after the closed-loop ones, with the most workers and clients (default 1000)",
    )
    parser.add_argument(
        "--reuse-connections", action="store_true", help="every session of a client on one connection"
    )
    parser.add_argument(
        "--inline-guest-crypto",
        action="store_true",
        help="make each guest key pair and open each release inside its session (in the run's CPU)",
    )
    args = parser.parse_args()

    assert Minter()(binding.report_data(bytes(32), b"k")) == sample_tdx_quote(
        SAMPLE_QUOTE, binding.report_data(bytes(32), b"k")
    ), "the fast minter must make the builder's quote"
    work = Path(tempfile.mkdtemp(prefix="ccverify-bench-"))
    baseline_config, _token = make_config(work / "inproc")
    inproc = InProcess(baseline_config)
    print("rate: attestations/s (a whole session: challenge + attest); p50/p99 of a session;")
    print("offered: closed loop (-) or sessions started on a fixed schedule (latency from when due);")
    print("ratio: per-worker rate / the in-process rate measured just before (one core);")
    print("cpu: service CPU ms per attestation (all workers) | the load generator's in the run |")
    print("     the guests' key pairs and release checks, outside the run (0 with --inline-guest-crypto);")
    print("cpu ratio: in-process CPU / service CPU per attestation (load-independent);")
    print("others: cores busy with other processes during the run (the machine is shared)")
    header = f"{'workers':>7} {'clients':>7} {'offered':>7} {'att/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
    print(
        header + f" {'in-proc/s':>9} {'ratio':>6} {'svc cpu':>7} {'gen cpu':>7} {'guests':>6}"
        f" {'cpu ratio':>9} {'others':>6}"
    )
    context = multiprocessing.get_context("spawn")
    worker_counts = [int(w) for w in args.workers.split(",")]
    client_counts = [int(c) for c in args.clients.split(",")]
    offered = [float(r) for r in args.offered.split(",") if r.strip() and float(r) > 0]
    rows = []
    for workers in worker_counts:
        plan = [(clients, 0.0) for clients in client_counts]
        if workers == max(worker_counts):
            plan += [(max(client_counts), rate) for rate in offered]
        config, token = make_config(work / f"w{workers}")
        running = start(config, workers=workers)
        try:
            provision(RelyingPartyClient(running.url, admin_token=token))
            port = int(running.url.rsplit(":", 1)[1])
            for clients, rate in plan:
                base_rate, base_cpu = inproc.run(args.attestations, 1.0)
                settings = _Settings(
                    port, clients, args.attestations, args.seconds, args.reuse_connections,
                    args.inline_guest_crypto, rate,
                )  # fmt: skip
                queue, go = context.Queue(), context.Event()
                loader = context.Process(target=_loader, args=(settings, queue, go))
                loader.start()
                assert queue.get(timeout=180) == "warm"
                service_cpu = _cpu_seconds(running.process.pid)  # after the warm-up, as the generator's
                busy = _machine_busy()
                go.set()
                elapsed, latencies, loader_cpu, guests_cpu = queue.get(timeout=args.seconds * 4 + 120)
                service_cpu = _cpu_seconds(running.process.pid) - service_cpu
                # the guests' checks after the run are not in the machine's busy time of the run
                others = (_machine_busy() - busy - service_cpu - loader_cpu - guests_cpu) / elapsed
                loader.join()
                n = len(latencies)
                achieved = n / elapsed
                p50, p99 = statistics.median(latencies) * 1e3, _percentile(latencies, 0.99) * 1e3
                svc_ms, gen_ms, guests_ms = (x / n * 1e3 for x in (service_cpu, loader_cpu, guests_cpu))
                if not rate:
                    rows.append((workers, clients, achieved, svc_ms, gen_ms))
                label = f"{rate:,.0f}" if rate else "-"
                print(
                    f"{workers:>7} {clients:>7} {label:>7} {achieved:>7,.0f} {p50:>7.1f} {p99:>7.1f}"
                    f" {base_rate:>9,.0f} {achieved / workers / base_rate:>6.2f} {svc_ms:>7.2f}"
                    f" {gen_ms:>7.2f} {guests_ms:>6.2f} {base_cpu * 1e3 / svc_ms:>9.2f}"
                    f" {max(others, 0.0):>6.2f}"
                )
        finally:
            running.stop()
    load = os.getloadavg()
    print(f"({os.cpu_count()} CPUs shared with the load generator; load average {load[0]:.1f} at the end)")
    best = min(svc + gen for _w, c, _r, svc, gen in rows if c == max(client_counts))
    print(
        f"CPU per attestation at the most clients, closed loop, service + load generator: {best:.2f} ms: "
        f"{2000 / best:,.0f} attestations/s would fill both cores of an idle machine"
    )


if __name__ == "__main__":
    main()
