"""The stacks mfprov builds, their presets and the config file's name: what the CLI needs before it reads any
config (the config's models, ``provisioner.stacks.config``, take a tenth of a second to import, which a command
such as ``mfprov sandbox status`` need not pay)."""

from __future__ import annotations

CONFIG_FILE = "mfprov.toml"
STACKS = ("metaflow", "mlflow")
PRESETS = {"metaflow": ("personal", "standard", "full"), "mlflow": ("standard",)}
#: the preset a stack gets when the config names none
DEFAULT_PRESET = {"metaflow": "personal", "mlflow": "standard"}
