"""SMTP smuggling and protocol-synchronisation attacks against the real
front door, over raw sockets (mail programs never send these bytes).

For every end-of-data variant from the SMTP-smuggling research a second
transaction is smuggled after it; the processor (and the sink behind it)
must receive at most one message and never the smuggled one's headers.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from proxy.smtp.hygiene import (
    CRLF,
    END_OF_DATA,
    LineProblem,
    MessageCollector,
    command_problem,
    data_line_problem,
    unstuff,
    unstuff_lines,
)
from tests.support.smtp_fixtures import (
    ALICE,
    FrontDoor,
    FrontDoorFactory,
    RawClient,
    RelayProcessor,
    bg_loop,
    front_door,
    session,
    tls_files,
    users_file,
)

__all__ = ["bg_loop", "front_door", "tls_files", "users_file"]  # fixtures, imported for pytest

VICTIM = "victim@elsewhere.example"
RECIPIENT = "caseworker@partner.example"

ENDINGS = {
    "LF.LF": b"\n.\n",
    "CR.CR": b"\r.\r",
    "CR.LF": b"\r.\n",
    "LF.CRLF": b"\n.\r\n",
    "CRLF.LF": b"\r\n.\n",
    "CR.CRLF": b"\r.\r\n",
    "CRLF-NUL.CRLF": b"\r\n\x00.\r\n",
}

LEGIT = f"From: {ALICE}\r\nTo: {RECIPIENT}\r\nSubject: legit\r\n\r\nSee you Tuesday".encode()
SMUGGLED = (
    f"MAIL FROM:<{ALICE}>\r\n"
    f"RCPT TO:<{VICTIM}>\r\n"
    "DATA\r\n"
    "From: ceo@example.org\r\n"
    f"To: {VICTIM}\r\n"
    "X-Smuggled: yes\r\n"
    "Subject: smuggled\r\n"
    "\r\n"
    "Please wire the money.\r\n"
    ".\r\n"
).encode()


def open_transaction(door: FrontDoor, *, tls: bool) -> RawClient:
    client = session(door, tls=tls)
    assert client.command(f"MAIL FROM:<{ALICE}>")[0] == 250
    assert client.command(f"RCPT TO:<{RECIPIENT}>")[0] == 250
    assert client.command("DATA")[0] == 354
    return client


def finish(client: RawClient) -> list[int]:
    """QUIT and collect every reply until the server hangs up."""
    try:
        client.send(b"QUIT\r\n")
    except OSError:
        pass
    codes = []
    while True:
        try:
            code, _ = client.reply()
        except OSError:
            break
        if code == 0:
            break
        codes.append(code)
    client.close()
    return codes


def assert_nothing_smuggled(door: FrontDoor) -> None:
    assert isinstance(door.processor, RelayProcessor)
    submissions = door.processor.submissions
    assert len(submissions) <= 1
    for submission in submissions:
        assert b"X-Smuggled" not in submission.raw
        assert VICTIM not in submission.recipients
    delivered = door.delivered()
    assert len(delivered) <= 1
    for item in delivered:
        assert b"X-Smuggled" not in item.content
        assert VICTIM not in item.rcpt_tos


@pytest.mark.parametrize("tls", [False, True], ids=["loopback-plain", "starttls"])
@pytest.mark.parametrize("ending", list(ENDINGS.values()), ids=list(ENDINGS))
def test_smuggled_second_message_never_gets_through(
    front_door: FrontDoorFactory, ending: bytes, tls: bool
) -> None:
    door = front_door()
    client = open_transaction(door, tls=tls)
    client.send(LEGIT + ending + SMUGGLED)
    code, text = client.reply()
    # Refused as a whole rather than "repaired" into something else.
    assert code == 550 and text.startswith("550 5.6.0 "), text
    codes = finish(client)
    assert codes == [221]
    assert_nothing_smuggled(door)
    assert isinstance(door.processor, RelayProcessor)
    assert door.processor.submissions == []


def test_commands_pipelined_after_the_end_of_data_are_refused(
    front_door: FrontDoorFactory,
) -> None:
    door = front_door()
    client = open_transaction(door, tls=False)
    client.send(LEGIT + b"\r\n.\r\n" + SMUGGLED)
    code, text = client.reply()
    assert code == 554 and text.startswith("554 5.5.0 ")
    assert client.closed_by_server()
    client.close()
    assert_nothing_smuggled(door)
    assert isinstance(door.processor, RelayProcessor)
    assert door.processor.submissions == []


def test_starttls_command_injection_is_refused(front_door: FrontDoorFactory) -> None:
    door = front_door()
    client = RawClient(door.host, door.port)
    client.reply()
    client.command("EHLO client.example")
    # CVE-2011-0411: plaintext commands sent together with STARTTLS.
    client.send(b"STARTTLS\r\nRSET\r\nAUTH PLAIN AGFsaWNlAHg=\r\n")
    code, text = client.reply()
    assert code == 554 and text.startswith("554 5.5.0 ")
    assert client.closed_by_server()
    client.close()


@pytest.mark.parametrize(
    "burst",
    [
        b"EHLO client.example\r\nMAIL FROM:<alice@example.org>\r\n",
        b"NOOP\r\nNOOP\r\n",
        b"NOOP\r\nNO",
    ],
    ids=["ehlo+mail", "two-commands", "command+partial"],
)
def test_unadvertised_pipelining_is_refused(front_door: FrontDoorFactory, burst: bytes) -> None:
    door = front_door()
    client = RawClient(door.host, door.port)
    client.reply()
    client.send(burst)
    code, text = client.reply()
    assert code == 554 and text.startswith("554 5.5.0 ")
    assert client.closed_by_server()
    client.close()


def test_data_pipelined_with_its_message_is_refused(front_door: FrontDoorFactory) -> None:
    door = front_door()
    client = session(door)
    client.command(f"MAIL FROM:<{ALICE}>")
    client.command(f"RCPT TO:<{RECIPIENT}>")
    client.send(b"DATA\r\n" + LEGIT + b"\r\n.\r\n")
    code, _ = client.reply()
    assert code == 554
    assert client.closed_by_server()
    client.close()
    assert door.delivered() == []


@pytest.mark.parametrize(
    "line",
    [
        b"EHLO client.example\n",
        b"EHLO client\r.example\r\n",
        b"EHLO client\x00.example\r\n",
        b"EHLO client\t.example\r\n",
    ],
    ids=["bare-LF", "bare-CR", "NUL", "TAB"],
)
def test_bad_bytes_in_commands_are_refused(front_door: FrontDoorFactory, line: bytes) -> None:
    door = front_door()
    client = RawClient(door.host, door.port)
    client.reply()
    client.send(line)
    code, text = client.reply()
    assert code == 500 and text.startswith("500 5.5.2 ")
    assert client.closed_by_server()
    client.close()


@pytest.mark.parametrize(
    "command",
    [
        b"MAIL FROM:<alice@example.org\x01>\r\n",
        b"MAIL FROM:<alice@example.org>\nRCPT TO:<victim@elsewhere.example>\r\n",
        b'MAIL FROM:<"alice\r"@example.org>\r\n',
    ],
    ids=["control", "bare-LF-in-address", "bare-CR-in-quoted-address"],
)
def test_bad_bytes_in_envelope_addresses_are_refused(
    front_door: FrontDoorFactory, command: bytes
) -> None:
    door = front_door()
    client = session(door)
    client.send(command)
    code, _ = client.reply()
    assert code == 500
    assert client.closed_by_server()
    client.close()


@pytest.mark.parametrize(
    "bad_line",
    [b"X-Note: one\nBcc: evil@elsewhere.example", b"Subject: a\rb", b"Body with \x00 NUL"],
    ids=["bare-LF", "bare-CR", "NUL"],
)
def test_bad_bytes_inside_a_message_refuse_it(
    front_door: FrontDoorFactory, bad_line: bytes
) -> None:
    door = front_door()
    client = open_transaction(door, tls=False)
    client.send(b"Subject: hello\r\n" + bad_line + b"\r\n\r\nbody\r\n.\r\n")
    code, text = client.reply()
    assert code == 550 and text.startswith("550 5.6.0 ")
    # Still in step with the client: the next message is fine.
    assert client.command("RSET")[0] == 250
    assert client.command(f"MAIL FROM:<{ALICE}>")[0] == 250
    assert client.command(f"RCPT TO:<{RECIPIENT}>")[0] == 250
    assert client.command("DATA")[0] == 354
    client.send(b"Subject: clean\r\n\r\nbody\r\n.\r\n")
    assert client.reply()[0] == 250
    finish(client)
    (delivered,) = door.delivered()
    assert delivered.content == b"Subject: clean\r\n\r\nbody\r\n"


def test_ordinary_text_controls_are_accepted(front_door: FrontDoorFactory) -> None:
    """TAB, form feed and ESC (ISO-2022-JP Japanese) are normal mail text."""
    door = front_door()
    client = open_transaction(door, tls=False)
    body = (
        b"Subject: =?ISO-2022-JP?B?GyRCJEckORsoQg==?=\r\n"
        b"Content-Type: text/plain; charset=ISO-2022-JP\r\n\r\n"
        b"\x1b$B$3$s$K$A$O\x1b(B\r\n\tindented\x0cpage\r\n"
    )
    client.send(body + b".\r\n")
    assert client.reply()[0] == 250
    finish(client)
    (delivered,) = door.delivered()
    assert delivered.content == body


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"NOOP\r\n", None),
        (b"NOOP\n", LineProblem.BARE_LINE_END),
        (b"NOOP", LineProblem.BARE_LINE_END),
        (b"NO\rOP\r\n", LineProblem.BARE_LINE_END),
        (b"NOOP \x7f\r\n", LineProblem.CONTROL_CHARACTER),
    ],
)
def test_command_problem(line: bytes, expected: LineProblem | None) -> None:
    assert command_problem(line) is expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"plain text\r\n", None),
        (b"t\tf\x0ce\x1b\r\n", None),
        (b"x" * 10 + b"\r\n", None),
        (b"x" * 11 + b"\r\n", LineProblem.LINE_TOO_LONG),
        (b"a\nb\r\n", LineProblem.BARE_LINE_END),
        (b"a\r\r\n", LineProblem.BARE_LINE_END),
        (b"bell\x07\r\n", LineProblem.CONTROL_CHARACTER),
    ],
)
def test_data_line_problem(line: bytes, expected: LineProblem | None) -> None:
    assert data_line_problem(line, max_line_length=10) is expected


def test_collector_unstuffs_and_stops_keeping_after_a_problem() -> None:
    collector = MessageCollector(max_size=1000, max_line_length=998)
    collector.feed(b"..dot\r\n")
    assert collector.content() == b".dot\r\n"
    collector.feed(b"bad\nline\r\n")
    collector.feed(b"more\r\n")
    assert collector.problem is LineProblem.BARE_LINE_END
    assert collector.content() == b""
    assert collector.received == len(b"..dot\r\nbad\nline\r\nmore\r\n")


# Pieces of message lines, including every kind of trouble the collector
# knows: bare CR and LF, NUL, ESC (allowed), stuffed periods, long runs.
_PIECES = st.sampled_from(
    [b"a", b"b", b".", b"..", b" ", b"\t", b"\r", b"\n", b"\x00", b"\x1b", b"x" * 7]
)
_BLOCKS = st.lists(st.lists(_PIECES, max_size=5).map(lambda p: b"".join(p) + CRLF), max_size=10)


def _whole_lines(block: bytes) -> list[bytes]:
    """``block`` cut as the line reader cuts it: after each CRLF."""
    lines, start = [], 0
    while start < len(block):
        end = block.index(CRLF, start) + 2
        lines.append(block[start:end])
        start = end
    return lines


@given(first=_BLOCKS, second=_BLOCKS, max_size=st.integers(0, 60))
def test_a_block_of_lines_is_collected_exactly_as_line_by_line(
    first: list[bytes], second: list[bytes], max_size: int
) -> None:
    """The front door takes the lines a client already sent as one block;
    problem, sizes and content must be what reading them one at a time
    (a line reader of limit 11 skipping longer lines) gives."""
    max_line_length, limit = 8, 11
    blocks = [b"".join(first), b"".join(second)]
    lines = [line for block in blocks for line in _whole_lines(block)]
    assume(END_OF_DATA not in lines)  # the reader stops there: never in a block
    one_by_one = MessageCollector(max_size=max_size, max_line_length=max_line_length)
    for line in lines:
        if len(line) - 2 > limit:
            one_by_one.overlong(len(line))
        else:
            one_by_one.feed(line)
    by_block = MessageCollector(max_size=max_size, max_line_length=max_line_length)
    for block in blocks:
        by_block.feed_lines(block, limit)
    assert by_block.problem is one_by_one.problem
    assert (by_block.received, by_block.size) == (one_by_one.received, one_by_one.size)
    assert by_block.content() == one_by_one.content()


def test_unstuff_lines_removes_one_period_at_each_line_start() -> None:
    block = b"..one\r\n.two\r\nthree.\r\n...four\r\n\r\n"
    assert unstuff_lines(block) == b".one\r\ntwo\r\nthree.\r\n..four\r\n\r\n"
    assert unstuff_lines(block) == b"".join(unstuff(line) for line in _whole_lines(block))
