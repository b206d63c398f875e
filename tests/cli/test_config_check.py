"""``tactful config check``: the effective configuration with secrets
hidden, and each problem by key, level and plain words; exit 1 on errors."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import yaml

from proxy.app.config_check import HIDDEN, Level, check_text, hide_secrets
from proxy.cli import main
from tests.support.smtp_fixtures import make_self_signed_cert


@pytest.fixture
def tls(tmp_path: Path) -> dict[str, str]:
    cert, key = make_self_signed_cert(tmp_path)
    return {"cert_file": str(cert), "key_file": str(key)}


def problems_of(config: dict[str, object]) -> list[tuple[Level, str, str]]:
    report = check_text(yaml.safe_dump(config), "test.yaml")
    return [(p.level, p.key, p.message) for p in report.problems]


def has(found: list[tuple[Level, str, str]], level: Level, key: str, fragment: str) -> bool:
    return any(lv is level and k == key and fragment in m for lv, k, m in found)


@pytest.mark.parametrize(
    ("config", "level", "key", "fragment"),
    [
        ({"smtp": {"listn": "0.0.0.0:587"}}, Level.ERROR, "smtp.listn", "unknown key"),
        ({"mode": "loud"}, Level.ERROR, "mode", "'enforce' or 'monitor'"),
        ({"smtp": {"listen": "0.0.0.0:587"}}, Level.ERROR, "smtp.listen", "no TLS certificate"),
        ({"smtp": {"listen": "[::]:587"}}, Level.ERROR, "smtp.listen", "unencrypted"),
        ({"smtp": {"listen": "mail.example.org:587"}}, Level.ERROR, "smtp.listen", "TLS"),
        (
            {"smtp": {"gateway": {"networks": ["0.0.0.0/0"]}}},
            Level.ERROR,
            "smtp.gateway.networks",
            "open relay",
        ),
        (
            {"smtp": {"gateway": {"networks": ["10.0.0.0/8"]}}},
            Level.ERROR,
            "smtp.gateway.networks",
            "too wide",
        ),
        (
            {"smtp": {"gateway": {"networks": ["2001:db8::/32"]}}},
            Level.ERROR,
            "smtp.gateway.networks",
            "too wide",
        ),
        (
            {"smtp": {"trusted_networks": ["192.168.0.0/16"]}},
            Level.WARNING,
            "smtp.trusted_networks",
            "wider than /24",
        ),
        (
            {"smtp": {"gateway": {"networks": ["52.96.0.0/28"]}}},
            Level.WARNING,
            "smtp.gateway.networks",
            "public network",
        ),
        (
            {"agency": {"domains": []}, "smtp": {"gateway": {"networks": ["10.1.2.0/28"]}}},
            Level.ERROR,
            "smtp.gateway",
            "agency.domains",
        ),
        (
            {"smtp": {"gateway": {"client_ca_file": "/nonexistent/ca.pem"}}},
            Level.ERROR,
            "smtp.gateway.client_ca_file",
            "does not exist",
        ),
        (
            {"smtp": {"gateway": {"client_names": ["mail.example.org"]}}},
            Level.ERROR,
            "smtp.gateway.client_names",
            "set client_ca_file",
        ),
        (
            {"smtp": {"tls": {"cert_file": "/nonexistent/cert.pem"}}},
            Level.ERROR,
            "smtp.tls",
            "both cert_file and key_file",
        ),
        (
            {
                "smtp": {"gateway": {"networks": ["10.1.2.0/28"]}},
                "upstream": {"target": "smarthost.example.org:25", "starttls": "auto"},
            },
            Level.WARNING,
            "upstream.starttls",
            "starttls: require",
        ),
        ({"upstream": {"verify_tls": False}}, Level.WARNING, "upstream.verify_tls", "pose"),
        ({"review": {"listen": "0.0.0.0:8025"}}, Level.WARNING, "review.base_url", "https"),
        ({"on_error": "pass"}, Level.WARNING, "on_error", "unchecked"),
        ({"mode": "monitor"}, Level.WARNING, "mode", "enforce after"),
    ],
)
def test_each_problem_is_named_by_key_and_level(
    config: dict[str, object], level: Level, key: str, fragment: str
) -> None:
    found = problems_of(config)
    assert has(found, level, key, fragment), found


def test_more_smtp_processes_than_cores_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert not has(problems_of({"smtp": {"processes": 2}}), Level.WARNING, "smtp.processes", "")
    found = problems_of({"smtp": {"processes": 3}})
    assert has(found, Level.WARNING, "smtp.processes", "3 processes on a machine with 2 cores")


def test_wide_hosted_ranges_are_a_warning_when_a_named_certificate_is_required(
    tls: dict[str, str],
) -> None:
    config = {
        "smtp": {
            "listen": "0.0.0.0:587",
            "tls": tls,
            "gateway": {
                "networks": ["40.92.0.0/15"],
                "client_ca_file": tls["cert_file"],
                "client_names": ["mail.protection.outlook.com"],
            },
        },
    }
    found = problems_of(config)
    assert has(found, Level.WARNING, "smtp.gateway.networks", "client certificate"), found
    assert not any(level is Level.ERROR for level, _, _ in found), found


def test_a_sound_gateway_configuration_has_no_errors(tls: dict[str, str], tmp_path: Path) -> None:
    config = {
        "smtp": {
            "listen": "0.0.0.0:587",
            "tls": tls,
            "gateway": {"networks": ["10.20.0.0/28"], "client_ca_file": tls["cert_file"]},
        },
        "upstream": {"target": "smarthost.example.org:25", "starttls": "require"},
        "dkim": {"key_file": tls["key_file"]},
    }
    report = check_text(yaml.safe_dump(config), "agency.yaml")
    assert report.errors == 0, report.problems
    assert report.warnings == 0, report.problems


def test_secrets_are_hidden_but_where_they_live_is_shown() -> None:
    data = {
        "database": {"url": "postgresql+psycopg://tactful:s3cr3t-pw@db.example.org/tactful"},
        "upstream": {"password_env": "SMTP_PASSWORD", "password": "hunter2"},
        "sms": {"provider": {"auth_token": "abc", "auth_token_env": "TOKEN"}},
    }
    hidden = hide_secrets(data)
    text = json.dumps(hidden)
    assert "s3cr3t-pw" not in text and "hunter2" not in text and '"abc"' not in text
    assert (
        hidden["database"]["url"] == f"postgresql+psycopg://tactful:{HIDDEN}@db.example.org/tactful"
    )
    assert hidden["upstream"]["password_env"] == "SMTP_PASSWORD"
    assert hidden["sms"]["provider"]["auth_token_env"] == "TOKEN"


def test_the_command_prints_the_configuration_and_exits_1_on_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agency.yaml"
    path.write_text(
        "database:\n  url: postgresql+psycopg://t:pw-123@db/t\nsmtp:\n  listen: 0.0.0.0:587\n"
    )
    assert main(["config", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "listen: 0.0.0.0:587" in out
    assert "pw-123" not in out and HIDDEN in out
    assert "error   smtp.listen:" in out
    assert out.rstrip().endswith("warnings.") or out.rstrip().endswith("warning.")


def test_json_and_stdin_and_a_clean_file_exit_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("mode: enforce\n"))
    assert main(["config", "check", "-", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["file"] == "standard input"
    assert report["errors"] == 0
    assert report["config"]["mode"] == "enforce"
    assert all(p["level"] == "warning" for p in report["problems"])


def test_the_config_option_is_checked_when_no_file_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agency.yaml"
    path.write_text("smtp:\n  gateway:\n    networks: [0.0.0.0/0]\n")
    assert main(["--config", str(path), "config", "check", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["file"] == str(path)
    assert any(p["key"] == "smtp.gateway.networks" for p in report["problems"])


def test_an_unreadable_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err
