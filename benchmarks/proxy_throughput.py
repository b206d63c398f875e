"""Proxy throughput: Postfix ``smtp-source`` through ``tactful serve`` to
``smtp-sink``, against ``smtp-source`` straight to ``smtp-sink``, in one run.

    .venv/bin/python benchmarks/proxy_throughput.py [--messages N] [--json]

Tactful runs as a real subprocess (``python -m proxy.cli serve``) with a
throw-away configuration: the client network 127.0.0.0/8 is trusted (
``smtp-source`` cannot log in), the upstream is the ``smtp-sink`` port, a fresh
DKIM key signs every message, the database and hold key live in the temp
directory, every hour of every day is working time and ``mode: monitor``, so
every message is relayed and nothing is deferred or held.

Figures (see benchmarks/README.md):

* msg/s: ``smtp-source -s SESSIONS -m N`` wall time, one connection per
  message, for direct / lint off / lint off with one SMTP process per core
  (``--smtp-processes``, one shared listening socket) / lint on;
* latency p50/p99: ``smtp-source`` reports totals only, so a small asyncio
  SMTP client (in this process) times each transaction from MAIL FROM to the
  final reply after the end of DATA, at concurrency 1 (unloaded) and at
  SESSIONS (loaded, a closed loop: the same pressure as the msg/s run);
* lint on against the lint benchmark: ``lint_throughput.run_tactful`` in a
  fresh process (single-process rate on the same corpus) × pool size;
* NOOP latency: while a 10 MB message is being linted, another connection
  sends NOOP every 10 ms; max and median reply time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("TACTFUL_OFFLINE", "1")

from corpus import FILLER, corpus  # noqa: E402
from lint_throughput import _in_child, run_tactful  # noqa: E402

SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"
TACTFUL = [sys.executable, "-m", "proxy.cli"]
RESULTS = HERE / "results"
SENDER = "jworker@example.org"
RECIPIENT = "partner@partner.example"
ALL_DAY = {
    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "start": "00:00",
    "end": "23:59",
}
NOOP_INTERVAL = 0.010
BIG_MESSAGE_BYTES = 10 * 1024 * 1024

# --- processes ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}:\n{tail}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on port {port} after {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes], *, group: bool) -> None:
    """SIGTERM (the whole process group for tactful: its analysis workers)."""
    if proc.poll() is None:
        if group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def smtp_sink(home: Path) -> Iterator[int]:
    """Postfix smtp-sink: accepts everything, stores nothing. As root it
    insists on dropping privileges to some user."""
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    log = home / "smtp-sink.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SMTP_SINK, *user, f"127.0.0.1:{port}", "1024"], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, proc, log, 10)
        yield port
    finally:
        stop(proc, group=False)


def tactful_config(home: Path, sink_port: int, smtp_port: int, pool_size: int) -> Path:
    settings: dict[str, Any] = {
        "mode": "monitor",  # every message is relayed, whatever it contains
        "agency": {"domains": ["example.org"], "working_hours": ALL_DAY, "holidays": []},
        "smtp": {
            "listen": f"127.0.0.1:{smtp_port}",
            "users_file": str(home / "users.json"),
            "trusted_networks": ["127.0.0.0/8"],
            "max_connections": 1000,
        },
        "upstream": {"target": f"127.0.0.1:{sink_port}", "starttls": "off"},
        "dkim": {"key_file": str(home / "dkim.key")},
        "hold": {"key_file": str(home / "hold.key")},
        "analysis": {"pool_size": pool_size},
        "database": {"url": f"sqlite:///{home / 'tactful.db'}"},
    }
    from proxy.core.config import Settings

    if "review" in Settings.model_fields:  # the review web app, when built in
        settings["review"] = {"listen": f"127.0.0.1:{free_port()}"}
    path = home / "tactful.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def tactful_env() -> dict[str, str]:
    env = dict(os.environ)
    env["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    env["TACTFUL_OFFLINE"] = "1"
    env.pop("TACTFUL_HOLD_KEY", None)  # the key file in the temp dir is used
    return env


def prepare_tactful(home: Path, config: Path) -> None:
    for args in (
        ["dkim", "keygen", "--config", str(config), "--key-file", str(home / "dkim.key")],
        ["db", "upgrade", "--config", str(config)],
    ):
        done = subprocess.run(
            [*TACTFUL, *args], cwd=home, env=tactful_env(), capture_output=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"tactful {args[0]} {args[1]} failed: {done.stderr.decode()}")


def serve_log(home: Path, *, lint: bool) -> Path:
    return home / f"serve-{'lint' if lint else 'nolint'}.log"


def wait_for_front_ends(log: Path, processes: int, proc: subprocess.Popen[bytes]) -> None:
    """``tactful serve`` prints this once every front-end process listens."""
    deadline = time.monotonic() + 180
    while f"SMTP in {processes} processes" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"front-end processes did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


@contextlib.contextmanager
def tactful_serve(
    home: Path,
    config: Path,
    port: int,
    *,
    lint: bool,
    event_loop: str = "auto",
    processes: int = 1,
) -> Iterator[int]:
    log = serve_log(home, lint=lint)
    extra = ([] if lint else ["--no-lint"]) + ["--event-loop", event_loop]
    extra += ["--smtp-processes", str(processes)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*TACTFUL, "serve", "--config", str(config), *extra],
            cwd=home,
            env=tactful_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, proc, log, 180)  # the pool loads the model first
        if processes > 1:
            wait_for_front_ends(log, processes, proc)
        yield proc.pid
    finally:
        stop(proc, group=True)


# --- smtp-source: throughput ---------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    messages: int
    sessions: int
    seconds: float

    @property
    def msg_per_s(self) -> float:
        return self.messages / self.seconds


def smtp_source(port: int, message_file: Path, messages: int, sessions: int) -> Throughput:
    """One connection per message, as mail programs do; smtp-source aborts
    (non-zero exit) on any reply that is not positive, so every counted
    message was accepted."""
    cmd = [
        SMTP_SOURCE,
        "-s", str(sessions),
        "-m", str(messages),
        "-f", SENDER,
        "-t", RECIPIENT,
        "-F", str(message_file),
        "-M", "bench.localhost",
        f"127.0.0.1:{port}",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, check=False, timeout=3600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")
        raise RuntimeError(f"smtp-source failed ({done.returncode}): {output[-2000:]}")
    return Throughput(messages, sessions, seconds)


# --- a timing SMTP client -------------------------------------------------------


class SmtpError(Exception):
    """A reply that was not the one the benchmark needs (the text says which)."""


class Client:
    """Minimal SMTP over asyncio streams, no pipelining (Tactful refuses it)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        client = cls(reader, writer)
        await client.expect(220)
        await client.command(b"EHLO bench.localhost", 250)
        return client

    async def reply(self) -> tuple[int, bytes]:
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise SmtpError("server closed the connection")
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines)

    async def expect(self, code: int) -> None:
        got, text = await self.reply()
        if got != code:
            raise SmtpError(f"expected {code}, got {text.decode(errors='replace').strip()}")

    async def command(self, line: bytes, code: int) -> None:
        self.writer.write(line + b"\r\n")
        await self.expect(code)

    async def send(self, raw: bytes) -> float:
        """One transaction; seconds from MAIL FROM to the final reply."""
        data = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        data = data.replace(b"\r\n.", b"\r\n..")
        if data.startswith(b"."):
            data = b"." + data
        t0 = time.perf_counter()
        await self.command(f"MAIL FROM:<{SENDER}>".encode(), 250)
        await self.command(f"RCPT TO:<{RECIPIENT}>".encode(), 250)
        await self.command(b"DATA", 354)
        self.writer.write(data + b".\r\n")
        await self.expect(250)
        return time.perf_counter() - t0

    async def close(self) -> None:
        with contextlib.suppress(OSError, SmtpError):
            await self.command(b"QUIT", 221)
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


@dataclass(frozen=True)
class Latency:
    concurrency: int
    messages: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def msg_per_s(self) -> float:
        return self.messages / self.seconds


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(fraction * len(ordered)) - 1)]


async def timed_run(port: int, messages: Sequence[bytes], concurrency: int) -> Latency:
    """``concurrency`` connections, each sending its share of ``messages``
    back to back (a closed loop)."""
    latencies: list[float] = []

    async def worker(share: Sequence[bytes]) -> None:
        client = await Client.connect(port)
        try:
            for raw in share:
                latencies.append(await client.send(raw))
        finally:
            await client.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(messages[i::concurrency]) for i in range(concurrency)))
    seconds = time.perf_counter() - start
    return Latency(
        concurrency,
        len(latencies),
        seconds,
        statistics.median(latencies) * 1000,
        percentile(latencies, 0.99) * 1000,
    )


def big_message(size: int) -> bytes:
    """A plain-text message of ``size`` bytes: ordinary casework prose."""
    line_source = " ".join(FILLER)
    lines = []
    total = 0
    i = 0
    while total < size:
        start = (i * 37) % len(line_source)
        line = (line_source[start:] + " " + line_source)[:76].strip()
        lines.append(line)
        total += len(line) + 1
        i += 1
    msg = EmailMessage()
    msg["From"] = f"Jane Worker <{SENDER}>"
    msg["To"] = RECIPIENT
    msg["Subject"] = "Case notes for the file review"
    msg["Date"] = datetime(2026, 11, 24, 10, tzinfo=UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    msg["Message-ID"] = "<bench-big@example.org>"
    msg.set_content("\n".join(lines), cte="7bit")
    return msg.as_bytes()


@dataclass(frozen=True)
class NoopProbe:
    message_bytes: int
    noops: int
    median_ms: float
    max_ms: float
    big_message_seconds: float
    big_message_reply: str
    # The same, only for NOOPs sent while the message was in analysis (up to
    # the verdict line in the server log); None if that line was not found.
    during_analysis_noops: int | None = None
    during_analysis_median_ms: float | None = None
    during_analysis_max_ms: float | None = None
    analysis_seconds: float | None = None


# ``tactful serve`` logs one line per judged message when the verdict is in.
VERDICT_LINE = re.compile(
    rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO proxy\.pipeline\.act: message "
)


def verdict_times(log: Path) -> list[float]:
    """Epoch seconds of the verdict lines in the server log."""
    times = []
    for line in log.read_bytes().splitlines():
        match = VERDICT_LINE.match(line)
        if match:
            stamp = datetime.strptime(match.group(1).decode(), "%Y-%m-%d %H:%M:%S,%f")
            times.append(stamp.timestamp())  # logging uses local time, so does this
    return times


def split_at_verdict(probe: NoopProbe, samples: list[tuple[float, float]], log: Path) -> NoopProbe:
    """Keep only the NOOPs answered before the big message's verdict."""
    sent_at = samples[0][0] - samples[0][1]
    verdicts = [t for t in verdict_times(log) if t >= sent_at - 1]
    if not verdicts:
        return probe
    during = [latency for end, latency in samples if end <= verdicts[-1]]
    if not during:
        return probe
    return NoopProbe(
        **{
            **probe.__dict__,
            "during_analysis_noops": len(during),
            "during_analysis_median_ms": statistics.median(during) * 1000,
            "during_analysis_max_ms": max(during) * 1000,
            "analysis_seconds": verdicts[-1] - sent_at,
        }
    )


async def noop_probe(port: int, raw: bytes, log: Path) -> NoopProbe:
    """NOOP latency on one connection while another's 10 MB message is in
    analysis: from its end of DATA until its final reply, and separately up
    to the verdict (so excluding DKIM signing and relaying it)."""
    probe = await Client.connect(port)
    sender = await Client.connect(port)
    data = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n").replace(b"\r\n.", b"\r\n..")
    await sender.command(f"MAIL FROM:<{SENDER}>".encode(), 250)
    await sender.command(f"RCPT TO:<{RECIPIENT}>".encode(), 250)
    await sender.command(b"DATA", 354)
    sender.writer.write(data + b".\r\n")
    await sender.writer.drain()
    t0 = time.perf_counter()
    final = asyncio.ensure_future(sender.reply())
    samples: list[tuple[float, float]] = []  # (answered at, epoch s; latency s)
    while not final.done():
        n0 = time.perf_counter()
        await probe.command(b"NOOP", 250)
        latency = time.perf_counter() - n0
        samples.append((time.time(), latency))
        await asyncio.sleep(NOOP_INTERVAL)
    _, text = await final
    seconds = time.perf_counter() - t0
    await probe.close()
    await sender.close()
    if not samples:
        raise SmtpError("the big message was answered before any NOOP was sent")
    latencies = [latency for _, latency in samples]
    whole = NoopProbe(
        len(raw),
        len(samples),
        statistics.median(latencies) * 1000,
        max(latencies) * 1000,
        seconds,
        text.decode(errors="replace").strip().splitlines()[-1][:80],
    )
    await asyncio.sleep(0.5)  # let the server's log line reach the file
    return split_at_verdict(whole, samples, log)


# --- the run -----------------------------------------------------------------------


def median_message(messages: Sequence[bytes]) -> bytes:
    ordered = sorted(messages, key=len)
    return ordered[len(ordered) // 2]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    pool_size = os.cpu_count() or 1
    messages = corpus(args.messages)
    sessions = args.sessions
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "pool_size": pool_size,
        "messages": args.messages,
        "sessions": sessions,
        # Other work on the machine skews every figure; recorded, not judged.
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="tactful-bench-") as tmp:
        home = Path(tmp)
        message_file = home / "message.eml"
        # smtp-source sends one file over and over: a corpus message of median size.
        message_file.write_bytes(median_message(messages).replace(b"\r\n", b"\n"))
        result["smtp_source_message_bytes"] = message_file.stat().st_size
        with smtp_sink(home) as sink_port:
            note("direct: smtp-source -> smtp-sink")
            direct = smtp_source(sink_port, message_file, args.messages, sessions)
            result["direct"] = {"msg_per_s": direct.msg_per_s, "seconds": direct.seconds}

            smtp_port = free_port()
            config = tactful_config(home, sink_port, smtp_port, pool_size)
            prepare_tactful(home, config)
            # lint off three times: on asyncio's own loop (the baseline for the
            # lean front door), on the default (uvloop when installed), and
            # with one SMTP process per core sharing the port.
            cores = os.cpu_count() or 1
            result["smtp_processes"] = cores
            for name, lint, loop, processes in (
                ("lint_off_asyncio", False, "asyncio", 1),
                ("lint_off", False, "auto", 1),
                ("lint_off_processes", False, "auto", cores),
                ("lint_on", True, "auto", 1),
            ):
                note(f"{name}: starting tactful serve (--event-loop {loop}, {processes} SMTP)")
                with tactful_serve(
                    home, config, smtp_port, lint=lint, event_loop=loop, processes=processes
                ):
                    asyncio.run(timed_run(smtp_port, messages[: 4 * sessions], sessions))  # warm
                    note(f"{name}: smtp-source -> tactful -> smtp-sink")
                    through = smtp_source(smtp_port, message_file, args.messages, sessions)
                    note(f"{name}: timed client, concurrency 1 and {sessions}")
                    single = asyncio.run(timed_run(smtp_port, messages[: args.messages // 4], 1))
                    loaded = asyncio.run(timed_run(smtp_port, messages, sessions))
                    entry: dict[str, Any] = {
                        "event_loop": loop,
                        "smtp_processes": processes,
                        "smtp_source_msg_per_s": through.msg_per_s,
                        "smtp_source_seconds": through.seconds,
                        "corpus_msg_per_s": loaded.msg_per_s,
                        "p50_ms": loaded.p50_ms,
                        "p99_ms": loaded.p99_ms,
                        "unloaded_p50_ms": single.p50_ms,
                        "unloaded_p99_ms": single.p99_ms,
                    }
                    if lint:
                        note("lint_on: NOOP latency during a 10 MB message")
                        big = big_message(BIG_MESSAGE_BYTES)
                        log = serve_log(home, lint=True)
                        probe = asyncio.run(noop_probe(smtp_port, big, log))
                        result["noop_during_10mb"] = probe.__dict__
                    result[name] = entry
    note("lint benchmark: Tactful engine, single process, same corpus")
    single_process = _in_child(run_tactful, args.messages)
    expected = single_process["msg_per_s"] * pool_size
    result["lint_single_process"] = single_process
    result["load_average_at_end"] = os.getloadavg()
    result["lint_on"]["target_msg_per_s"] = 0.8 * expected
    result["lint_on"]["vs_single_process_x_pool"] = result["lint_on"]["corpus_msg_per_s"] / expected
    result["lint_on"]["smtp_source_vs_single_process_x_pool"] = (
        result["lint_on"]["smtp_source_msg_per_s"] / expected
    )
    return result


def note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def table(r: dict[str, Any]) -> str:
    off, on, noop = r["lint_off"], r["lint_on"], r["noop_during_10mb"]
    single = r["lint_single_process"]["msg_per_s"]
    rows = [
        f"Proxy throughput: {r['messages']} messages, {r['sessions']} sessions, "
        f"{r['cores']} cores, pool size {r['pool_size']}, load average at start "
        f"{r['load_average_at_start'][0]:.2f}",
        "",
        f"{'path':<54}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}",
        f"{'smtp-source -> smtp-sink':<54}{r['direct']['msg_per_s']:>9.0f}{'':>9}{'':>9}",
    ]
    base = r["lint_off_asyncio"]
    many = r["lint_off_processes"]
    for label, e in (
        ("lint off, asyncio", base),
        ("lint off", off),
        (f"lint off, {many['smtp_processes']} SMTP processes", many),
        ("lint on", on),
    ):
        rows.append(
            f"{'  via tactful, ' + label + ' (smtp-source)':<54}"
            f"{e['smtp_source_msg_per_s']:>9.1f}{'':>9}{'':>9}"
        )
        rows.append(
            f"{'  via tactful, ' + label + ' (corpus)':<54}"
            f"{e['corpus_msg_per_s']:>9.1f}{e['p50_ms']:>9.1f}{e['p99_ms']:>9.1f}"
        )
        rows.append(
            f"{'    unloaded (1 connection)':<54}{'':>9}"
            f"{e['unloaded_p50_ms']:>9.1f}{e['unloaded_p99_ms']:>9.1f}"
        )
    rows += [
        "",
        f"lint off: {off['smtp_source_msg_per_s']:.0f} msg/s (target >= 700; "
        f"{off['smtp_source_msg_per_s'] / base['smtp_source_msg_per_s']:.2f}x the same server "
        f"on asyncio's loop; {off['smtp_source_msg_per_s'] / r['direct']['msg_per_s']:.1%} "
        "of smtp-source -> smtp-sink)",
        f"lint off, {many['smtp_processes']} SMTP processes: "
        f"{many['smtp_source_msg_per_s']:.0f} msg/s (target >= 700; "
        f"{many['smtp_source_msg_per_s'] / off['smtp_source_msg_per_s']:.2f}x one process; "
        f"{many['smtp_source_msg_per_s'] / r['direct']['msg_per_s']:.1%} "
        "of smtp-source -> smtp-sink)",
        f"lint on: {on['corpus_msg_per_s']:.1f} msg/s on the corpus (target >= 50) = "
        f"{on['vs_single_process_x_pool']:.0%} of single-process {single:.1f} msg/s x "
        f"{r['pool_size']} (target >= 80%); unloaded p50 {on['unloaded_p50_ms']:.1f} ms "
        f"(target <= 42), p99 {on['unloaded_p99_ms']:.1f} ms (target <= 70)",
        f"NOOP during a {noop['message_bytes'] / 1e6:.1f} MB message "
        f"({noop['big_message_seconds']:.1f} s, {noop['noops']} NOOPs): "
        f"median {noop['median_ms']:.1f} ms, max {noop['max_ms']:.1f} ms (target <= 50 ms)",
        f"  big message reply: {noop['big_message_reply']}",
    ]
    if noop["during_analysis_noops"] is not None:
        rows.insert(
            -1,
            f"  while in analysis ({noop['analysis_seconds']:.1f} s, "
            f"{noop['during_analysis_noops']} NOOPs): median "
            f"{noop['during_analysis_median_ms']:.1f} ms, max "
            f"{noop['during_analysis_max_ms']:.1f} ms",
        )
    rows.append(f"load average at end {r['load_average_at_end'][0]:.2f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=8, help="parallel SMTP sessions")
    parser.add_argument("--json", action="store_true", help="print the JSON result")
    args = parser.parse_args(argv)
    for tool in (SMTP_SOURCE, SMTP_SINK):
        if not os.access(tool, os.X_OK):
            print(f"{tool} is missing: run make debian-packages (Postfix)", file=sys.stderr)
            return 2
    result = measure(args)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"proxy-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result) if args.json else table(result))
    print(f"written: {out.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
