"""Gateway mode behind a real Postfix: the README's Postfix recipe, run.

A Postfix instance of the test's own (``postfix -c DIR``) is configured as
the README says (``relayhost`` pointing at Tactful's listener, TLS at level
``secure`` with a client certificate; Tactful's ``smtp.gateway`` naming
Postfix's address, the agency CA and the certificate's name); ``tactful serve``
relays to a recording sink standing in for the agency's smart host. A
worker's message submitted with Postfix's ``sendmail`` passes through
Tactful and arrives signed; a held one does not, and the worker's notice
comes back through the same path; a sender outside the agency is refused
(never an open relay).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from proxy.core.clock import system_clock
from proxy.store.crypto import MessageCipher, load_or_create_key
from proxy.store.db import make_engine
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import SpoolStore
from tests.support.pki import MAIL_SYSTEM, Pki, make_pki
from tests.support.postfix import (
    PostfixInstance,
    PostfixTls,
    postfix_unavailable,
    running_postfix,
)
from tests.support.proxy_fixtures import WORKER_ALIAS, TactfulServer, example
from tests.support.smtp_fixtures import make_self_signed_cert
from tests.support.upstream_fixtures import Received, Sink, run_sink

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(postfix_unavailable() is not None, reason=str(postfix_unavailable())),
]


@pytest.fixture(scope="module")
def smart_host() -> Iterator[Sink]:
    with run_sink() as sink:
        yield sink


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pki, Path, Path]:
    """The agency CA with the mail system's client certificate, and
    Tactful's own certificate (for localhost)."""
    folder = tmp_path_factory.mktemp("certificates")
    cert, key = make_self_signed_cert(folder)
    return make_pki(folder), cert, key


@pytest.fixture(scope="module")
def tactful(
    tmp_path_factory: pytest.TempPathFactory,
    smart_host: Sink,
    certificates: tuple[Pki, Path, Path],
) -> Iterator[TactfulServer]:
    pki, cert, key = certificates
    home = tmp_path_factory.mktemp("tactful-gateway")
    server = TactfulServer(
        home=home,
        upstream=f"127.0.0.1:{smart_host.port}",
        db_url=f"sqlite:///{home / 'tactful.db'}",
        overrides={
            "smtp": {
                "tls": {"cert_file": str(cert), "key_file": str(key)},
                "gateway": {
                    "networks": ["127.0.0.1/32"],
                    "client_ca_file": str(pki.ca_file),
                    "client_names": [MAIL_SYSTEM],
                },
            }
        },
    )
    server.prepare()
    server.start()
    yield server
    server.stop()
    assert "Traceback" not in server.log_text()


@pytest.fixture(scope="module")
def postfix(
    tactful: TactfulServer, certificates: tuple[Pki, Path, Path]
) -> Iterator[PostfixInstance]:
    pki, tactful_cert, _ = certificates
    tls = PostfixTls(ca_file=tactful_cert, client_cert=pki.client_cert, client_key=pki.client_key)
    with running_postfix(f"[localhost]:{tactful.port}", tls) as instance:
        yield instance


def wait_for(predicate: Callable[[], list[Received]], timeout: float = 60) -> list[Received]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    return []


def wait_for_log(postfix: PostfixInstance, pattern: str, timeout: float = 60) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, postfix.log_text())
        if match:
            return match
        time.sleep(0.2)
    raise AssertionError(f"Postfix never logged {pattern!r}:\n{postfix.log_text()[-3000:]}")


def to(sink: Sink, address: str, marker: bytes = b"") -> Callable[[], list[Received]]:
    return lambda: [r for r in sink.received if address in r.recipients and marker in r.data]


def spool_of(server: TactfulServer) -> SpoolStore:
    settings = server.settings()
    cipher = MessageCipher(load_or_create_key(settings.hold))
    return SpoolStore(make_engine(server.db_url), cipher, clock=system_clock)


def test_a_message_sent_with_postfix_sendmail_goes_through_tactful_to_the_smart_host(
    postfix: PostfixInstance, smart_host: Sink
) -> None:
    colleague = "scolleague@example.org"
    raw = example("01-pass-internal.eml")
    postfix.sendmail(raw, WORKER_ALIAS, [colleague])
    (arrived,) = wait_for(to(smart_host, colleague, b"<01-pass-internal@example.org>"))
    assert arrived.sender == WORKER_ALIAS
    # It went through Postfix (its Received line) and then Tactful (signed).
    assert b"by mail.example.org (Postfix" in arrived.data
    assert b"DKIM-Signature:" in arrived.data
    wait_for_log(postfix, rf"to=<{re.escape(colleague)}>, relay=localhost.*status=sent")
    # Verified TLS: Postfix checked Tactful's certificate, and showed its
    # own (Tactful refuses the gateway's mail without it).
    wait_for_log(postfix, r"Verified TLS connection established to localhost")


def test_a_held_message_does_not_arrive_and_the_worker_hears_back_the_same_way(
    postfix: PostfixInstance, smart_host: Sink, tactful: TactfulServer
) -> None:
    recipient = "intake@partner.example.net"
    postfix.sendmail(example("02-dob-external.eml"), WORKER_ALIAS, [recipient])
    # Postfix handed it over (Tactful holds it, so for Postfix it is sent).
    sent = wait_for_log(
        postfix,
        rf"to=<{re.escape(recipient)}>.*status=sent \(250.*reference ([0-9a-f]{{32}})",
    )
    reference = sent.group(1)
    notice = wait_for(to(smart_host, WORKER_ALIAS, reference.encode()))
    assert notice, "the worker's notice did not go out through the smart host"
    body = message_from_bytes(notice[0].data, policy=policy.default)
    assert body["Auto-Submitted"] == "auto-generated"
    held = spool_of(tactful).get(reference)
    assert held is not None and held.state == SpoolState.HELD
    time.sleep(2)  # what a wrong relay would need to get there
    assert not [r for r in smart_host.received if recipient in r.recipients]


def test_a_sender_outside_the_agency_is_refused_and_postfix_bounces_it(
    postfix: PostfixInstance, smart_host: Sink
) -> None:
    outsider = "someone@elsewhere.example"
    recipient = "friend@partner.example.net"
    raw = (
        f"From: {outsider}\r\nTo: {recipient}\r\nSubject: Hello\r\n"
        "Message-ID: <outsider-test@elsewhere.example>\r\n\r\nHello.\r\n"
    ).encode()
    postfix.sendmail(raw, outsider, [recipient])
    wait_for_log(postfix, rf"to=<{re.escape(recipient)}>.*status=bounced \(.*553")
    assert not [r for r in smart_host.received if recipient in r.recipients]
