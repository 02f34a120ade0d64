"""Reading the runtime config file: YAML in, a checked ``RuntimeConfig`` or a ``ConfigError`` out."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Any

import pydantic
import yaml

from agentos_runtime.config import reading
from agentos_runtime.config.document import RuntimeConfig, check_references
from agentos_runtime.config.problems import ConfigError, Problem, problems_from_validation_error


def parse_config(data: Any) -> RuntimeConfig:
    """Validate a parsed document (snake_case keys); raise ``ConfigError`` listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem((), f"the config must be a mapping, not {type(data).__name__}")])
    try:
        config = RuntimeConfig.model_validate(data, by_alias=False, by_name=True)
    except pydantic.ValidationError as error:
        # Not chained: pydantic's text quotes each refused value (a URL with a password in it).
        raise ConfigError(problems_from_validation_error(error)) from None
    problems = check_references(config)
    if problems:
        raise ConfigError(problems)
    return config


def parse_config_text(text: str, *, source: str = "<config>") -> RuntimeConfig:
    """Parse YAML (or JSON) text; bad or hostile YAML (``reading``) is one problem naming its line and column."""
    try:
        data = reading.load_document(text)
    except reading.InputError as error:
        raise ConfigError([Problem((), f"{source}: {error}")]) from None
    return parse_config(data)


def read_config_file(path: str | FilePath) -> Any:
    """The parsed document of a runtime config file (UTF-8 YAML, `.yaml`/`.yml`/`.json`), not yet checked.

    Raises ``ConfigError`` with one problem when the file cannot be read, is not UTF-8, or is
    bad or hostile YAML (``reading``).
    """
    file = FilePath(path)
    try:
        return reading.read_file(reading.file_bytes(file))
    except OSError as error:
        raise ConfigError([Problem((), f"cannot read config file {file}: {error.strerror}")]) from error
    except reading.InputError as error:
        raise ConfigError([Problem((), f"{file}: {error}")]) from None


def load_config(path: str | FilePath) -> RuntimeConfig:
    """Read and check a runtime config file (UTF-8 YAML, `.yaml`/`.yml`/`.json`)."""
    return parse_config(read_config_file(path))


def dump_config(config: RuntimeConfig) -> str:
    """The YAML the runtime reads back to an equal config: snake_case, no defaults, UTF-8 kept."""
    data = config.model_dump(mode="json", exclude_defaults=True, by_alias=False)
    return yaml.safe_dump(data, sort_keys=True, allow_unicode=True, default_flow_style=False)
