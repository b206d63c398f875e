"""`tactful lint`: the JSON contract, exit codes, and that linting is offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Each test runs the shipped `tactful lint` in a subprocess, as a user does.
pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

CONSENT = REPO / "config" / "consent.example.csv"
EXAMPLES = sorted((REPO / "examples").glob("*.eml"))
JSON_KEYS = {"file", "verdict", "findings", "recipients"}
FINDING_KEYS = {
    "rule", "entity", "category", "client_id", "location", "start", "end", "score", "action",
    "message",
}
RECIPIENT_KEYS = {"address", "kind", "channel", "verdict"}


def tactful(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="")
    return subprocess.run(
        [sys.executable, "-m", "proxy.cli", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


def message(body: str, *, to: str = "someone@partner.example.net", subject: str = "Hello") -> bytes:
    return textwrap.dedent(
        f"""\
        From: Jane Worker <jworker@example.org>
        To: {to}
        Subject: {subject}
        Date: Tue, 24 Nov 2026 10:00:00 -0600
        Message-ID: <t1@example.org>
        Content-Type: text/plain; charset=utf-8

        {body}
        """
    ).encode()


@pytest.fixture
def eml(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write


def test_json_contract_and_exit_1_for_hold(eml) -> None:  # type: ignore[no-untyped-def]
    path = eml("dob.eml", message("Her DOB: 03/14/1988, see you Tuesday."))
    proc = tactful("lint", "--json", "--consent", str(CONSENT), str(path))
    assert proc.returncode == 1, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert JSON_KEYS <= set(obj)
    assert obj["file"] == str(path)
    assert obj["verdict"] == "hold"
    dob = [f for f in obj["findings"] if f["entity"] == "DATE_OF_BIRTH"]
    assert dob, obj["findings"]
    for f in obj["findings"]:
        assert set(f) == FINDING_KEYS
    assert dob[0]["action"] == "hold" and dob[0]["location"] == "body"
    assert "date of birth" in dob[0]["message"].lower()
    assert obj["recipients"] == [
        {"address": "someone@partner.example.net", "kind": "external", "channel": "email",
         "verdict": "hold"}
    ]
    # Reports carry offsets, never the value itself.
    assert "1988" not in proc.stdout.decode()


def test_exit_0_for_pass_and_human_output(eml) -> None:  # type: ignore[no-untyped-def]
    path = eml("ok.eml", message("See you at the office on Tuesday.", to="colleague@example.org"))
    proc = tactful("lint", "--consent", str(CONSENT), str(path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert f"{path}: verdict pass" in proc.stdout.decode()


def test_verbose_adds_findings_no_rule_acted_on_once(eml) -> None:  # type: ignore[no-untyped-def]
    path = eml("mixed.eml", message("Ask Robert Mendelsohn about her. DOB: 03/14/1988"))
    quiet = tactful("lint", "--consent", str(CONSENT), str(path)).stdout.decode()
    proc = tactful("lint", "-v", "--consent", str(CONSENT), str(path))
    assert proc.returncode == 1, proc.stderr.decode()
    loud = proc.stdout.decode()
    assert "[PERSON]" not in quiet
    info = [line for line in loud.splitlines() if " pass info " in line]
    # The name is listed for information; the date of birth, which a rule
    # acted on, is not listed a second time.
    assert len(info) == 1 and "[PERSON]" in info[0], loud
    assert loud.count("[DATE_OF_BIRTH]") == 1, loud
    assert "Mendelsohn" not in loud


def test_one_json_line_per_file_and_worst_exit(eml) -> None:  # type: ignore[no-untyped-def]
    ok = eml("ok.eml", message("See you Tuesday.", to="colleague@example.org"))
    bad = eml("bad.eml", message("DOB: 03/14/1988"))
    proc = tactful("lint", "--json", "--consent", str(CONSENT), str(ok), str(bad))
    assert proc.returncode == 1
    verdicts = [json.loads(line)["verdict"] for line in proc.stdout.decode().splitlines()]
    assert verdicts == ["pass", "hold"]


def test_stdin_and_envelope_overrides() -> None:
    raw = message("DOB: 03/14/1988")
    proc = tactful(
        "lint", "--json", "--consent", str(CONSENT), "--to", "colleague@example.org",
        "--from", "jworker@example.org", "-", stdin=raw,
    )
    obj = json.loads(proc.stdout)
    assert obj["file"] == "<stdin>"
    assert [r["kind"] for r in obj["recipients"]] == ["internal"]
    assert obj["verdict"] in {"pass", "warn"}
    assert proc.returncode == 0


@pytest.mark.parametrize(
    "at, defer_until",
    [
        # A time without a zone is the agency's wall clock (America/Chicago).
        ("2026-11-24T19:30", "2026-11-25T08:00:00-06:00"),
        # With a zone it is that instant: 19:30 UTC is 13:30 in Chicago.
        ("2026-11-24T19:30+00:00", None),
    ],
)
def test_at_overrides_the_date_header(eml, at: str, defer_until: str | None) -> None:  # type: ignore[no-untyped-def]
    path = eml("c.eml", message("See you at the office.", to="maria.lopez@example.com"))
    proc = tactful("lint", "--json", "--at", at, "--consent", str(CONSENT), str(path))
    obj = json.loads(proc.stdout)
    assert obj["defer_until"] == defer_until, obj
    assert ("after-hours" in {f["rule"] for f in obj["findings"]}) is (defer_until is not None)


def test_missing_file_is_exit_2_without_traceback(tmp_path: Path) -> None:
    proc = tactful("lint", str(tmp_path / "nope.eml"))
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "cannot read" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args, needle",
    [
        (["lint"], "required"),
        (["lint", "--at", "yesterday", "x.eml"], "ISO-8601"),
        (["lint", "--bogus", "x.eml"], "unrecognized"),
    ],
)
def test_usage_errors_exit_2(args: list[str], needle: str) -> None:
    proc = tactful(*args)
    assert proc.returncode == 2
    assert needle in proc.stderr.decode()
    assert "Traceback" not in proc.stderr.decode()


def test_bad_config_key_is_exit_2_naming_the_key(tmp_path: Path, eml) -> None:  # type: ignore[no-untyped-def]
    conf = tmp_path / "bad.yaml"
    conf.write_text("agency:\n  workinghours: {start: '09:00'}\n")
    proc = tactful("lint", "--config", str(conf), str(eml("m.eml", message("hi"))))
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "agency.workinghours" in err and "unknown key" in err


def test_bad_consent_csv_is_exit_2(tmp_path: Path, eml) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "consent.csv"
    bad.write_text("client_id,name\nC-1,Someone\n")
    proc = tactful("lint", "--consent", str(bad), str(eml("m.eml", message("hi"))))
    assert proc.returncode == 2
    assert "consent file has errors" in proc.stderr.decode()
    assert "Traceback" not in proc.stderr.decode()


def test_linting_opens_no_network_connection(tmp_path: Path) -> None:
    """Import, model load and lint run under an audit hook that kills the
    process on any socket connect or DNS lookup."""
    files = [str(p) for p in EXAMPLES] or [str(tmp_path / "m.eml")]
    if not EXAMPLES:
        (tmp_path / "m.eml").write_bytes(message("Her SSN 123-45-6789, DOB 03/14/1988"))
    script = textwrap.dedent(
        """
        import os, sys
        def hook(event, args):
            if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                         "urllib.Request", "http.client.connect"):
                sys.stderr.write("NETWORK: " + event + "\\n")
                sys.stderr.flush()
                os._exit(99)
        sys.addaudithook(hook)
        from proxy.cli import main
        sys.exit(main(sys.argv[1:]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"}
    proc = subprocess.run(
        [sys.executable, "-c", script, "lint", "--json", "--consent", str(CONSENT), *files],
        capture_output=True, cwd=REPO, env=env, timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stderr.decode()[-2000:]
    assert b"NETWORK" not in proc.stderr
    assert len(proc.stdout.splitlines()) == len(files)


def _readme_block(after: str) -> str:
    """The first fenced block in the README after the line ``after``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    rest = text[text.index(after) :]
    start = rest.index("```") + 3
    start = rest.index("\n", start) + 1
    return rest[start : rest.index("```", start)]


def test_the_readme_lint_examples_match_the_product() -> None:
    """The README shows what `tactful lint` prints for example 02, byte for
    byte (human), and the keys and values its JSON line has."""
    example = "examples/02-dob-external.eml"
    args = ("lint", "--consent", str(CONSENT), "--at", "2026-11-24T10:00", example)
    human = subprocess.run(
        [sys.executable, "-m", "proxy.cli", *args], cwd=REPO, capture_output=True, check=False
    )
    assert human.stdout.decode() == _readme_block("Human output reads like a linter's:")
    shown = _readme_block("`--json` prints one object per file, one per line:")
    proc = subprocess.run(
        [sys.executable, "-m", "proxy.cli", args[0], "--json", *args[1:]],
        cwd=REPO, capture_output=True, check=False,
    )  # fmt: skip
    produced = json.loads(proc.stdout)
    (finding,) = produced["findings"]
    for key, value in produced.items():
        if key in ("file", "findings", "recipients"):
            continue
        assert f'"{key}": {json.dumps(value)}' in shown, key
    for key in ("rule", "entity", "category", "client_id", "location", "start", "end", "score"):
        assert f'"{key}": {json.dumps(finding[key])}' in shown, key
    assert finding["message"].startswith(shown.split('"message": "')[1].split("...")[0])
