"""The process settings: read from the environment variables the README documents, nothing else."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
from agentos_runtime.settings import CONTROL_PLANE_ORIGINS, ENVIRONMENT_VARIABLES, Settings


def test_every_documented_variable_sets_its_field() -> None:
    settings = Settings.from_environ(
        {
            "OS_SECURITY_KEY": "s3cret",
            "AGENT_OS_HOST": "0.0.0.0",
            "AGENT_OS_PORT": "8000",
            "AGENTOS_DATA_DIR": "/var/lib/agentos",
            "AGENTOS_CORS_ORIGINS": "https://a.example, ,https://b.example",
            "AGENTOS_LOG_LEVEL": "DEBUG",
            "AGENTOS_LOG_FORMAT": "JSON",
            "AGENTOS_MAX_BODY_BYTES": "1024",
            "JWT_JWKS_FILE": "/etc/jwks.json",
            "AGENTOS_METRICS_PORT": "0",
            "AGENTOS_MAX_EVAL_RUNS": "8",
        }
    )
    assert settings.security_key == "s3cret"
    assert (settings.host, settings.port, settings.data_dir) == ("0.0.0.0", 8000, Path("/var/lib/agentos"))
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert (settings.log_level, settings.log_format) == ("debug", "json")
    assert (settings.max_body_bytes, settings.jwt_jwks_file, settings.metrics_port) == (1024, Path("/etc/jwks.json"), 0)
    assert settings.max_eval_runs == 8


def test_the_variables_are_the_documented_upper_case_names() -> None:
    assert set(ENVIRONMENT_VARIABLES.values()) == {
        "OS_SECURITY_KEY",
        "AGENT_OS_HOST",
        "AGENT_OS_PORT",
        "AGENTOS_DATA_DIR",
        "AGENTOS_CORS_ORIGINS",
        "AGENTOS_LOG_LEVEL",
        "AGENTOS_LOG_FORMAT",
        "AGENTOS_MAX_BODY_BYTES",
        "JWT_VERIFICATION_KEY",
        "JWT_JWKS_FILE",
        "AGENTOS_METRICS_PORT",
        "AGENTOS_RUN_GRACE_SECONDS",
        "AGENTOS_MAX_BACKGROUND_RUNS",
        "AGENTOS_MAX_EVAL_RUNS",
    }


def test_command_line_overrides_win_over_the_environment() -> None:
    settings = Settings.from_environ({"AGENT_OS_PORT": "8000", "AGENT_OS_HOST": "0.0.0.0"}, port=9000)
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)


def test_an_empty_key_variable_means_no_key() -> None:
    settings = Settings.from_environ({"OS_SECURITY_KEY": "", "JWT_VERIFICATION_KEY": "", "JWT_JWKS_FILE": ""})
    assert (settings.security_key, settings.jwt_verification_key, settings.jwt_jwks_file) == (None, None, None)


def test_a_security_key_read_from_a_file_is_taken_without_its_newline() -> None:
    assert Settings.from_environ({"OS_SECURITY_KEY": "s3cret-key\n"}).security_key == "s3cret-key"


def test_a_security_key_of_only_whitespace_is_refused_not_taken_for_no_key() -> None:
    with pytest.raises(pydantic.ValidationError, match="OS_SECURITY_KEY is only whitespace: set a key, or unset it"):
        Settings.from_environ({"OS_SECURITY_KEY": " \n"})


def test_unrelated_and_lower_case_variables_are_ignored() -> None:
    settings = Settings.from_environ({"agent_os_port": "1", "port": "2", "PATH": "/usr/bin"})
    assert settings.port == 7777


def test_a_bad_value_names_the_variable_and_hides_the_secret_key() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings.from_environ({"AGENT_OS_PORT": "70000", "OS_SECURITY_KEY": "s3cret"})
    assert [error["loc"] for error in caught.value.errors()] == [("AGENT_OS_PORT",)]
    assert "s3cret" not in str(caught.value)


def test_settings_without_arguments_are_the_defaults_whatever_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENT_OS_PORT", "8000")
    monkeypatch.setenv("OS_SECURITY_KEY", "s3cret")
    settings = Settings()
    assert (settings.port, settings.security_key) == (7777, None)
    assert settings.allowed_origins == list(CONTROL_PLANE_ORIGINS)


def test_settings_are_frozen() -> None:
    with pytest.raises(pydantic.ValidationError):
        Settings().port = 1  # type: ignore[misc]


def test_the_metrics_port_cannot_be_the_api_port() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings.from_environ({"AGENT_OS_PORT": "8000", "AGENTOS_METRICS_PORT": "8000"})
    [error] = caught.value.errors()
    assert error["loc"] == ("AGENTOS_METRICS_PORT",) and "metrics port 8000 is also the API's port" in error["msg"]
    with pytest.raises(pydantic.ValidationError, match="set AGENTOS_METRICS_PORT to another port"):
        Settings.from_environ({"AGENT_OS_PORT": "9464"})  # the default metrics port
    assert Settings.from_environ({"AGENT_OS_PORT": "8000", "AGENTOS_METRICS_PORT": "8001"}).metrics_port == 8001
    assert Settings.from_environ({"AGENT_OS_PORT": "0", "AGENTOS_METRICS_PORT": "0"}).metrics_port == 0


def test_a_replica_runs_four_evals_at_once_unless_told_and_at_least_one() -> None:
    assert Settings().max_eval_runs == 4
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings.from_environ({"AGENTOS_MAX_EVAL_RUNS": "0"})
    [error] = caught.value.errors()
    assert error["loc"] == ("AGENTOS_MAX_EVAL_RUNS",) and error["msg"] == "Input should be greater than or equal to 1"


def test_every_setting_has_a_description_for_the_reference() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []
