"""The commented starter ``mfprov.toml`` that ``mfprov init --stack mlflow`` writes (being written)."""

from __future__ import annotations

TEMPLATE = """\
name = "{name}"
stack = "{stack}"
preset = "{preset}"
suffix = "{suffix}"
"""
