"""DKIM: sign, verify offline against the record keygen prints, break it."""

from __future__ import annotations

import hashlib
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.cli import main
from proxy.core.clock import system_clock
from proxy.core.config import ConfigError, settings_from_mapping
from proxy.outbound.dkim_sign import (
    DkimError,
    DkimKeyMissingError,
    DkimSigner,
    generate_private_key,
    private_key_pem,
    signer_from_settings,
    txt_value,
)
from tests.support.upstream_fixtures import Sink, sink

__all__ = ["sink"]

SIGNED_AT = datetime(2026, 11, 24, 16, 0, 0, tzinfo=UTC)

MESSAGE = (
    b"From: Worker <worker@agency.example>\r\n"
    b"To: partner@clinic.example\r\n"
    b"Subject: Visit notes\r\n"
    b"Date: Mon, 03 Mar 2025 10:00:00 -0600\r\n"
    b"Message-ID: <m1@agency.example>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"X-Mailer: Test\r\n"
    b"\r\n"
    b"Hello,\r\nthe visit is on Tuesday.\r\n"
)


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    return private_key_pem(generate_private_key(2048))


def dns_for(record_value: str, selector: str = "tactful", domain: str = "agency.example"):  # type: ignore[no-untyped-def]
    name = f"{selector}._domainkey.{domain}.".encode()

    def dnsfunc(qname: bytes, timeout: int = 5) -> bytes | None:
        return record_value.encode() if qname == name else None

    return dnsfunc


def record_from_pem(pem: bytes) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return txt_value(key.public_key())


def test_sign_then_verify_and_tamper(key_pem: bytes) -> None:
    signer = DkimSigner("tactful", "agency.example", key_pem, clock=system_clock)
    signed = signer.sign(MESSAGE)
    assert signed.startswith(b"DKIM-Signature: ")
    assert signed.endswith(MESSAGE)
    signature = signed[: len(signed) - len(MESSAGE)]
    # exactly one header field: continuation lines only, ending in CRLF
    assert signature.endswith(b"\r\n")
    assert all(line[:1] in b" \t" for line in signature.split(b"\r\n")[1:-1])
    dnsfunc = dns_for(record_from_pem(key_pem))
    assert dkim.verify(signed, dnsfunc=dnsfunc)

    fields = dict(dkim.util.parse_tag_value(signature.split(b":", 1)[1].replace(b"\r\n", b"")))
    assert fields[b"c"] == b"relaxed/relaxed"
    assert fields[b"a"] == b"rsa-sha256"
    assert fields[b"d"] == b"agency.example" and fields[b"s"] == b"tactful"
    signed_names = fields[b"h"].replace(b" ", b"").lower().split(b":")
    for name in (b"from", b"to", b"subject", b"date", b"message-id", b"content-type"):
        assert name in signed_names
    assert b"x-mailer" not in signed_names
    assert b"reply-to" in signed_names  # oversigned: cannot be added later

    body_at = signed.index(b"Tuesday")
    tampered = signed[:body_at] + b"W" + signed[body_at + 1 :]
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)
    added = signed.replace(b"X-Mailer: Test\r\n", b"X-Mailer: Test\r\nReply-To: x@evil.example\r\n")
    assert not dkim.verify(added, dnsfunc=dnsfunc)
    other_key = dns_for(record_from_pem(private_key_pem(generate_private_key(1024))))
    assert not dkim.verify(signed, dnsfunc=other_key)


def test_relayed_bytes_still_verify(key_pem: bytes, sink: Sink) -> None:
    """Signed last, the bytes the upstream receives are the bytes signed."""
    import asyncio

    from proxy.outbound.relay import SmtpUpstream

    signed = DkimSigner("tactful", "agency.example", key_pem, clock=system_clock).sign(MESSAGE)
    upstream = SmtpUpstream("127.0.0.1", sink.port, starttls="off", timeout=5)
    result = asyncio.run(upstream.deliver("worker@agency.example", ["p@clinic.example"], signed))
    assert result.accepted
    assert sink.received[0].data == signed
    assert dkim.verify(sink.received[0].data, dnsfunc=dns_for(record_from_pem(key_pem)))


def test_message_without_from_is_a_clear_error(key_pem: bytes) -> None:
    signer = DkimSigner("tactful", "agency.example", key_pem, clock=system_clock)
    with pytest.raises(DkimError, match="cannot DKIM-sign") as info:
        signer.sign(b"Subject: SSN 123-45-6789\r\n\r\nbody\r\n")
    assert "123-45-6789" not in str(info.value)
    with pytest.raises(DkimError, match="exactly one From"):
        signer.sign(b"From: a@agency.example\r\n" + MESSAGE)


def test_bad_key_is_rejected_up_front() -> None:
    with pytest.raises(DkimError, match="PEM"):
        DkimSigner("tactful", "agency.example", b"not a key", clock=system_clock)


def test_signer_from_settings(tmp_path: Path, key_pem: bytes) -> None:
    key_file = tmp_path / "dkim.key"
    conf = {"agency": {"domains": ["Agency.Example"]}, "dkim": {"key_file": str(key_file)}}
    with pytest.raises(DkimKeyMissingError, match="tactful dkim keygen"):
        signer_from_settings(settings_from_mapping(conf), system_clock)
    key_file.write_bytes(key_pem)
    signer = signer_from_settings(settings_from_mapping(conf), system_clock)
    assert signer is not None and signer.domain == "agency.example"
    assert signer.selector == "tactful"
    off = settings_from_mapping({"dkim": {"enabled": False}})
    assert signer_from_settings(off, system_clock) is None
    no_domain = settings_from_mapping({"agency": {"domains": []}, "dkim": {"domain": None}})
    with pytest.raises(ConfigError, match=r"agency\.domains"):
        signer_from_settings(no_domain, system_clock)


def test_keygen_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "keys" / "dkim.key"
    args = ["dkim", "keygen", "--domain", "example.org", "--key-file", str(key_file)]
    assert main(args) == 0
    out = capsys.readouterr().out.strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    match = re.fullmatch(r'tactful\._domainkey\.example\.org\. IN TXT ((?:"[^"]*" ?)+)', out)
    assert match is not None, out
    strings = re.findall(r'"([^"]*)"', match.group(1))
    assert len(strings) > 1 and all(len(s) <= 255 for s in strings)
    value = "".join(strings)
    assert value.startswith("v=DKIM1; k=rsa; p=")

    # The printed record verifies what the written key signs.
    pem = key_file.read_bytes()
    signed = DkimSigner("tactful", "example.org", pem, clock=system_clock).sign(MESSAGE)
    assert dkim.verify(signed, dnsfunc=dns_for(value, domain="example.org"))

    # No silent overwrite; --force replaces (and keeps 0600).
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert key_file.read_bytes() == pem
    assert main([*args, "--force", "--selector", "s2", "--bits", "1024"]) == 0
    assert capsys.readouterr().out.startswith("s2._domainkey.example.org. IN TXT")
    assert key_file.read_bytes() != pem
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["dkim.key"]


def test_keygen_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "dkim.key"
    assert main(["dkim", "keygen", "--bits", "512", "--key-file", str(key_file)]) == 2
    assert "--bits" in capsys.readouterr().err
    assert not key_file.exists()


BODIES = [
    b"",
    b"\r\n",
    b"\r\n\r\n\r\n",
    b"Hello\r\n",
    b"Hello",
    b"Hello  \t world \t \r\n\r\n\r\n",
    b" leading space\r\n\ttab line\r\n",
    b"bare\nline\nfeeds\n\n",
    b"mixed\r\nends\nhere\r\n \r\n",
    b"x" * 70_000 + b"\r\n" + b"y  \r\n" * 20_000 + b"\r\n\r\n",
    (b"a \t b\r\n" * 9000) + b"\r\n" * 5000 + b"end\r\n" + b"\r\n" * 3,
    b"one space between words, as prose has\r\n",
    b"tab\tinside\r\ntrailing tab\t\r\ntrailing space \r\n \t \r\n\t\r\nend \t",
    b"\t\t lead\r\n  \r\nx  \t  y\t \t\r\n",
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_body_hash_equals_dkimpys_relaxed_canonical_form(body: bytes) -> None:
    """Tactful hashes the body in slices for responsiveness; it must be the
    exact relaxed canonical form dkimpy (the reference) computes."""
    import hashlib

    from dkim.canonicalization import CanonicalizationPolicy

    from proxy.outbound.dkim_sign import relaxed_body_hash

    relaxed = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    crlf = re.sub(rb"\r?\n", b"\r\n", body)
    assert relaxed_body_hash(crlf) == hashlib.sha256(relaxed.canonicalize_body(crlf)).digest()


@given(
    st.lists(st.sampled_from([b"a", b"b", b" ", b"\t", b"\r\n", b"\n", b"\r"]), max_size=60)
)
def test_body_hash_equals_dkimpys_on_any_mix_of_words_and_whitespace(parts: list[bytes]) -> None:
    from dkim.canonicalization import CanonicalizationPolicy

    from proxy.outbound.dkim_sign import relaxed_body_hash

    relaxed = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    crlf = re.sub(rb"\r?\n", b"\r\n", b"".join(parts))
    assert relaxed_body_hash(crlf) == hashlib.sha256(relaxed.canonicalize_body(crlf)).digest()


@pytest.mark.parametrize("body", BODIES[:9], ids=range(9))
def test_signature_is_byte_identical_to_dkimpy(
    key_pem: bytes, body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The RSA step is OpenSSL's, everything else dkimpy's recipe: with the
    clock fixed, the whole DKIM-Signature field must equal dkim.sign's."""
    import time

    monkeypatch.setattr(time, "time", lambda: SIGNED_AT.timestamp())  # dkimpy's clock
    message = (
        b"From: Jane <jane@agency.example>\r\nTo: sam@agency.example\r\n"
        b"Subject:  Folded\r\n  subject\r\nDate: Tue, 24 Nov 2026 10:00:00 -0600\r\n"
        b"Message-ID: <x@agency.example>\r\n\r\n" + re.sub(rb"\r?\n", b"\r\n", body)
    )
    signer = DkimSigner("tactful", "agency.example", key_pem, clock=lambda: SIGNED_AT)
    ours = signer.sign(message)
    reference = dkim.sign(
        message, b"tactful", b"agency.example", key_pem,
        canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=b"rsa-sha256",
        include_headers=signer._include_headers(dkim.rfc822_parse(message)[0]),
        linesep=b"\r\n",
    )  # fmt: skip
    assert ours == reference + message
