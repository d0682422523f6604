"""The ``[mlflow]`` section of ``mfprov.toml`` (stack ``mlflow``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.config import Config


class MlflowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def bucket_name_for(self, cfg: Config) -> str | None:
        """The artifact bucket's name when mfprov creates it (None: an existing bucket is used)."""
        return None

    def derived_names(self, cfg: Config) -> list[tuple[str, str, int]]:
        return []
