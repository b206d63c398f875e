"""The configuration files we ship must load: a typo in them would be the
first thing a new agency meets."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.core.config import DEFAULT_CONFIG, ConfigError, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_shipped_defaults_load_and_document_every_section() -> None:
    settings = load_settings()
    assert settings.smtp.listen == "127.0.0.1:2525"
    assert settings.upstream.target == "maildir:var/outbox"
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    for section in settings.model_fields:
        assert f"\n{section}:" in text or text.startswith(f"{section}:"), section


def test_deployment_example_loads() -> None:
    settings = load_settings(REPO / "deploy" / "agency.example.yaml")
    assert settings.smtp.listen == "0.0.0.0:587"
    assert settings.database.url.startswith("postgresql+psycopg://")


def test_misspelt_key_is_an_error_that_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstream:\n  targt: mail.example.org:25\n")
    with pytest.raises(ConfigError, match=r"upstream\.targt: unknown key"):
        load_settings(bad)


def test_auth_backends_are_plugins_and_a_wrong_name_lists_them() -> None:
    from proxy.accounts.auth import LocalUserBackend, UpstreamAuthBackend, make_auth_backend
    from proxy.core.config import settings_from_mapping

    local = make_auth_backend(settings_from_mapping({}))
    assert isinstance(local, LocalUserBackend)
    upstream = make_auth_backend(
        settings_from_mapping(
            {"smtp": {"auth_backend": "upstream"}, "upstream": {"target": "mail.example.org:587"}}
        )
    )
    assert isinstance(upstream, UpstreamAuthBackend)
    with pytest.raises(ConfigError, match="installed backends: local, upstream"):
        make_auth_backend(settings_from_mapping({"smtp": {"auth_backend": "ldap"}}))


def test_the_part2_notice_is_the_same_in_the_shipped_file_and_in_code() -> None:
    from proxy.core.config import PART2_NOTICE, PART2_SHORT_NOTICE, Settings

    shipped = load_settings().part2
    assert (shipped.notice, shipped.short_notice) == (PART2_NOTICE, PART2_SHORT_NOTICE)
    assert Settings().part2.notice == PART2_NOTICE
    assert PART2_NOTICE.startswith("This record which has been disclosed to you is protected")
    assert PART2_SHORT_NOTICE == (
        "42 CFR part 2 prohibits unauthorized use or disclosure of these records."
    )
