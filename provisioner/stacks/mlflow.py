"""The MLflow stack (being written)."""

from __future__ import annotations

from provisioner.config import Config, ConfigError
from provisioner.context import Facts
from provisioner.graph import Blueprint


def build(cfg: Config, facts: Facts) -> Blueprint:
    raise ConfigError("stack 'mlflow' is not available yet")


def has_secret_outputs(cfg: Config) -> bool:
    return False
