"""Gateway mode behind a real Postfix, the README's second recipe:
``content_filter`` hands each message to Tactful over verified TLS with the
mail system's client certificate, Tactful hands it back on Postfix's
re-injection port (its ``upstream``), and Postfix delivers it by its own
``relayhost`` (a recording sink here). A held message never comes back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.pki import MAIL_SYSTEM, make_pki
from tests.support.postfix import (
    ContentFilter,
    PostfixInstance,
    PostfixTls,
    postfix_unavailable,
    running_postfix,
)
from tests.support.proxy_fixtures import WORKER_ALIAS, TactfulServer, example
from tests.support.smtp_fixtures import make_self_signed_cert
from tests.support.upstream_fixtures import Sink, free_port, run_sink

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    pytest.mark.skipif(postfix_unavailable() is not None, reason=str(postfix_unavailable())),
]


@dataclass
class Chain:
    postfix: PostfixInstance
    tactful: TactfulServer
    next_hop: Sink


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    folder = tmp_path_factory.mktemp("certificates")
    cert, key = make_self_signed_cert(folder)
    pki = make_pki(folder)
    reinject = free_port()
    home = tmp_path_factory.mktemp("tactful-filter")
    tactful = TactfulServer(
        home=home,
        upstream=f"127.0.0.1:{reinject}",  # back into Postfix
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
    tactful.prepare()
    tls = PostfixTls(ca_file=cert, client_cert=pki.client_cert, client_key=pki.client_key)
    with (
        run_sink() as next_hop,
        running_postfix(
            f"[127.0.0.1]:{next_hop.port}",
            tls,
            ContentFilter(tactful=f"[localhost]:{tactful.port}", reinject_port=reinject),
        ) as postfix,
    ):
        tactful.start()  # after Postfix, so it finds its upstream's extensions
        try:
            yield Chain(postfix, tactful, next_hop)
        finally:
            tactful.stop()
    assert "Traceback" not in tactful.log_text()


def log_match(postfix: PostfixInstance, pattern: str, timeout: float = 60) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, postfix.log_text())
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"Postfix never logged {pattern!r}:\n{postfix.log_text()[-3000:]}")


def arrived(sink: Sink, recipient: str, marker: bytes, timeout: float = 60) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r.data for r in sink.received if recipient in r.recipients and marker in r.data]
        if found:
            return found
        time.sleep(0.2)
    return []


def test_a_message_goes_to_tactful_and_back_into_postfix_then_out(chain: Chain) -> None:
    colleague = "scolleague@example.org"
    chain.postfix.sendmail(example("01-pass-internal.eml"), WORKER_ALIAS, [colleague])
    (data,) = arrived(chain.next_hop, colleague, b"<01-pass-internal@example.org>")
    # Through Postfix, then Tactful (signed), then Postfix again.
    assert data.count(b"by mail.example.org (Postfix") == 2
    assert b"DKIM-Signature:" in data
    log_match(chain.postfix, r"Verified TLS connection established to localhost")
    log_match(chain.postfix, rf"to=<{re.escape(colleague)}>, relay=localhost.*status=sent")


def test_a_held_message_never_comes_back_but_the_notice_does(chain: Chain) -> None:
    recipient = "intake@partner.example.net"
    chain.postfix.sendmail(example("02-dob-external.eml"), WORKER_ALIAS, [recipient])
    held = log_match(
        chain.postfix,
        rf"to=<{re.escape(recipient)}>, relay=localhost.*status=sent \(250.*"
        r"reference ([0-9a-f]{32})",
    )
    notice = arrived(chain.next_hop, WORKER_ALIAS, held.group(1).encode())
    assert notice, "the worker's notice did not come back through Postfix"
    time.sleep(2)
    assert not [r for r in chain.next_hop.received if recipient in r.recipients]


def test_the_filter_recipe_is_the_one_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for line in (
        "content_filter = tactful:[tactful.agency.org]:2525",
        "tactful   unix  -       -       n       -       -       smtp",
        "  -o smtp_tls_security_level=secure",
        "  -o content_filter=",
    ):
        assert line in readme, line
