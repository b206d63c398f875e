"""Writing the 42 CFR Part 2 notice into a message: where it goes in every
usual MIME shape, what it leaves alone, and when it refuses (real email
parsing; the DKIM-signed result through tactful serve is in
tests/e2e/test_consent_scope_part2.py)."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from proxy.core.config import settings_from_mapping
from proxy.core.verdict import ReleaseTerms
from proxy.pipeline.part2 import (
    NoticeError,
    add_email_notice,
    add_text_notice,
    notice_lines,
    scope_line,
    with_notice,
)
from proxy.sms.provider import OutgoingText
from proxy.sms.textmail import body_of, to_message

SETTINGS = settings_from_mapping({})
TERMS = ReleaseTerms("dortiz@ortiz-law.example.com", "C-1006", "Dana Ortiz, attorney",
                     ("substance_use",), "legal representation", True)  # fmt: skip
LINES = notice_lines(SETTINGS, (TERMS,))
NOTICE = " ".join(SETTINGS.part2.notice.split())


def words(text: str) -> str:
    return " ".join(text.split())


def parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def plain_message(cte: str, charset: str = "utf-8", body: str = "See you at court.\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = "jane@example.org"
    msg["To"] = TERMS.recipient
    msg["Subject"] = "Hearing"
    msg.set_content(body, charset=charset, cte=cte)
    return msg.as_bytes(policy=policy.SMTP)


def test_notice_lines_quote_the_rule_and_state_the_scope() -> None:
    assert LINES[0].startswith("This record which has been disclosed to you is protected")
    assert LINES[0].endswith("(see 42 CFR 2.31).")
    assert LINES[1] == (
        "Scope of the patient's consent: Dana Ortiz, attorney may receive information about "
        "substance use; purpose: legal representation."
    )
    unscoped = ReleaseTerms("a@b.example", "C-1", part2=True)
    assert scope_line(unscoped) == (
        "Scope of the patient's consent: a@b.example may receive information of any kind; "
        "purpose: not stated."
    )
    # Only releases of Part 2 clients get a line.
    assert notice_lines(SETTINGS, (ReleaseTerms("x@y.example", "C-2"),)) == [NOTICE]


@pytest.mark.parametrize("cte", ["7bit", "8bit", "quoted-printable", "base64"])
def test_plain_body_in_every_transfer_encoding(cte: str) -> None:
    out = parse(add_email_notice(plain_message(cte), LINES))
    body = out.get_content()
    assert body.startswith("See you at court.")
    assert NOTICE in words(body) and words(LINES[1]) in words(body)
    assert str(out["Content-Transfer-Encoding"]).lower() == cte
    assert all(len(line) <= 78 for line in body.splitlines())


def test_a_name_in_another_script_turns_a_7bit_ascii_part_into_utf8() -> None:
    terms = ReleaseTerms(TERMS.recipient, "C-1006", "José Núñez, abogado", (), "", True)
    raw = plain_message("7bit", charset="us-ascii")
    out = parse(add_email_notice(raw, notice_lines(SETTINGS, (terms,))))
    assert "José Núñez, abogado may receive" in words(out.get_content())
    assert out.get_content_charset() == "utf-8"
    assert str(out["Content-Transfer-Encoding"]).lower() == "quoted-printable"


def test_html_and_plain_alternatives_both_carry_it_inside_the_body() -> None:
    msg = EmailMessage()
    msg["From"] = "jane@example.org"
    msg.set_content("Plain words.\n")
    msg.add_alternative("<html><body><p>Rich words.</p></body></html>\n", subtype="html")
    msg.add_attachment(b"notes", maintype="text", subtype="plain", filename="notes.txt")
    out = parse(add_email_notice(msg.as_bytes(policy=policy.SMTP), LINES))
    plain = out.get_body(("plain",))
    rich = out.get_body(("html",))
    assert plain is not None and rich is not None
    assert NOTICE in words(plain.get_content())  # type: ignore[attr-defined]
    html_text = rich.get_content()  # type: ignore[attr-defined]
    assert html_text.index("Rich words.") < html_text.index("42 CFR part 2")
    assert html_text.index("42 CFR part 2") < html_text.index("</body>")
    # The attachment is not part of the message body: untouched.
    (attachment,) = list(out.iter_attachments())
    assert attachment.get_content() == "notes"


def test_an_attached_message_is_not_changed() -> None:
    inner = EmailMessage()
    inner["Subject"] = "Forwarded"
    inner.set_content("Inner words.\n")
    outer = EmailMessage()
    outer.set_content("Outer words.\n")
    outer.add_attachment(inner)
    out = parse(add_email_notice(outer.as_bytes(policy=policy.SMTP), LINES))
    (attached,) = list(out.iter_attachments())
    forwarded = attached.get_content()
    assert "42 CFR" not in forwarded.as_string()
    assert NOTICE in words(out.get_body(("plain",)).get_content())  # type: ignore[union-attr]


def test_attachments_only_get_a_text_part_in_front() -> None:
    msg = EmailMessage()
    msg["From"] = "jane@example.org"
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
    out = parse(add_email_notice(msg.as_bytes(policy=policy.SMTP), LINES))
    first = out.get_payload()[0]  # type: ignore[index]
    assert first.get_content_type() == "text/plain"
    assert NOTICE in words(first.get_content())


def test_a_message_that_cannot_carry_it_is_refused() -> None:
    msg = EmailMessage()
    msg["From"] = "jane@example.org"
    msg.set_content(b"%PDF-1.4", maintype="application", subtype="pdf")
    with pytest.raises(NoticeError, match="no text part"):
        add_email_notice(msg.as_bytes(policy=policy.SMTP), LINES)


def text_message(body: str) -> bytes:
    from datetime import UTC, datetime

    outgoing = OutgoingText(to="+13125550166", body=body, from_="+13125550100")
    return to_message(sender="jane@example.org", text=outgoing, message_id="m1",
                      at=datetime(2026, 11, 30, tzinfo=UTC))  # fmt: skip


def test_a_text_gets_the_short_form_on_its_own_line() -> None:
    raw = with_notice(text_message("Court moved to 3pm."), SETTINGS, (TERMS,), text_message=True)
    assert body_of(raw) == "Court moved to 3pm.\n" + SETTINGS.part2.short_notice


def test_a_text_too_long_for_the_short_form_is_refused() -> None:
    room = SETTINGS.sms.max_body_chars - 1 - len(SETTINGS.part2.short_notice)
    fits = add_text_notice(text_message("x" * room), SETTINGS.part2.short_notice,
                           SETTINGS.sms.max_body_chars)  # fmt: skip
    assert len(body_of(fits)) == SETTINGS.sms.max_body_chars
    with pytest.raises(NoticeError, match="too long"):
        add_text_notice(text_message("x" * (room + 1)), SETTINGS.part2.short_notice,
                        SETTINGS.sms.max_body_chars)  # fmt: skip
