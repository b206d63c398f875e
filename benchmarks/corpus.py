"""A deterministic corpus of realistic 1-5 KB social-work emails.

Fixed seed, so every run (and every machine) measures the same messages.
Content mixes ordinary scheduling chatter with the identifiers and sensitive
conditions Tactful looks for, in about the proportions a caseload produces.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

FIRST = ["Maria", "James", "Aisha", "Tom", "Keisha", "Luis", "Mei", "Daniel", "Fatima", "Sam"]
LAST = ["Lopez", "Nguyen", "Johnson", "Okafor", "Smith", "Patel", "Garcia", "Kim", "Brown"]
FILLER = [
    "Thanks for meeting with me this week; I wanted to follow up on a few things we discussed.",
    "The office will be closed on Friday for staff training, so please call the front desk.",
    "Please bring the signed forms to your next appointment, along with any letters you received.",
    "I spoke with the housing coordinator and they will reach out about the application.",
    "Let me know if the new bus route works for getting to the clinic on time.",
    "We can reschedule if Tuesday afternoon does not work for you and the kids.",
    "The food pantry on Main Street has extended its hours through the winter.",
    "I have attached the checklist we went over, so you have it for your records.",
    "Our parenting group meets on Thursdays at 6pm in the community room.",
    "If anything changes before then, just reply to this message or call me.",
]
SENSITIVE = [
    "{name} was diagnosed with bipolar disorder last spring and is doing better.",
    "Her methadone dose was adjusted at the clinic on Monday.",
    "We filed the CPS report after the home visit.",
    "He is undocumented and worried about the asylum hearing.",
    "Your son's probation officer asked for the attendance records.",
    "She tested HIV positive and has started treatment.",
    "Our substance use support group meets Tuesdays.",
]
IDENTIFIERS = [
    "Her SSN is {ssn} for the benefits form.",
    "DOB: {dob}",
    "The case number is CASE-2026-{case:05d}.",
    "Medicaid ID {medicaid} was confirmed.",
    "The new address is {num} Oak Street, Apt 4B, Springfield, IL 62704.",
    "You can reach me at (312) 555-01{phone:02d}.",
]


def _paragraph(rng: random.Random) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(rng.randint(2, 5)))


def make_message(rng: random.Random, index: int) -> bytes:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    target = rng.randint(1000, 5000)
    paragraphs = [f"Hi {name.split()[0]},"]
    while sum(len(p) for p in paragraphs) < target - 400:
        roll = rng.random()
        if roll < 0.15:
            paragraphs.append(rng.choice(SENSITIVE).format(name=name))
        elif roll < 0.3:
            paragraphs.append(
                rng.choice(IDENTIFIERS).format(
                    ssn=f"{rng.randint(100, 665):03d}-{rng.randint(10, 99)}-"
                    f"{rng.randint(1000, 9999)}",
                    dob=f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(1950, 2015)}",
                    case=rng.randint(1, 99999),
                    medicaid=f"{rng.choice('ABCDEFGH')}{rng.randint(10**7, 10**8 - 1)}",
                    num=rng.randint(10, 9999),
                    phone=rng.randint(0, 99),
                )
            )
        else:
            paragraphs.append(_paragraph(rng))
    paragraphs.append("Best,\nJane Worker\nCase Manager, Example Family Services")
    msg = EmailMessage()
    msg["From"] = "Jane Worker <jworker@example.org>"
    msg["To"] = f"client{index}@example.com"
    msg["Subject"] = rng.choice(["Follow-up", "Your appointment", "Paperwork", "Next steps"])
    msg["Date"] = format_datetime(datetime(2026, 11, 24, 10, tzinfo=UTC) + timedelta(minutes=index))
    msg["Message-ID"] = f"<bench-{index}@example.org>"
    msg.set_content("\n\n".join(paragraphs))
    return msg.as_bytes()


def corpus(count: int, seed: int = 20261124) -> list[bytes]:
    rng = random.Random(seed)
    return [make_message(rng, i) for i in range(count)]


def short_corpus(count: int, seed: int = 20261130) -> list[bytes]:
    """Short messages (about 300 characters), as text messages and quick
    replies are: one or two sentences, some with an identifier or condition."""
    rng = random.Random(seed)
    messages = []
    for index in range(count):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        sentences = [f"Hi {name.split()[0]},", *rng.sample(FILLER, rng.randint(2, 4))]
        roll = rng.random()
        if roll < 0.3:
            sentences.append(rng.choice(SENSITIVE).format(name=name))
        elif roll < 0.5:
            sentences.append(
                rng.choice(IDENTIFIERS).format(
                    ssn=f"{rng.randint(100, 665):03d}-{rng.randint(10, 99)}-"
                    f"{rng.randint(1000, 9999)}",
                    dob=f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(1950, 2015)}",
                    case=rng.randint(1, 99999),
                    medicaid=f"{rng.choice('ABCDEFGH')}{rng.randint(10**7, 10**8 - 1)}",
                    num=rng.randint(10, 9999),
                    phone=rng.randint(0, 99),
                )
            )
        sentences.append("Jane")
        msg = EmailMessage()
        msg["From"] = "Jane Worker <jworker@example.org>"
        msg["To"] = f"client{index}@example.com"
        msg["Subject"] = rng.choice(["Quick note", "Tomorrow", "Re: forms"])
        msg["Date"] = format_datetime(
            datetime(2026, 11, 24, 10, tzinfo=UTC) + timedelta(minutes=index)
        )
        msg["Message-ID"] = f"<bench-short-{index}@example.org>"
        msg.set_content(" ".join(sentences))
        messages.append(msg.as_bytes())
    return messages
