"""docs/configuration.md is the config models, rendered: it fails to match when a field is added, removed,
retyped or re-described without regenerating it, and every key has a meaning."""

from __future__ import annotations

from provisioner.cli import config_reference
from provisioner.stacks.config import Config


def test_the_page_is_what_the_models_say() -> None:
    assert config_reference.PAGE.read_text() == config_reference.render(), (
        "docs/configuration.md is out of date: run `python -m provisioner.cli.config_reference`"
    )


def test_every_key_is_on_the_page_with_a_meaning() -> None:
    rows = list(config_reference.rows())
    keys = {key for key, *_ in rows}
    # sections flatten into dotted keys, down to the leaves
    assert {"name", "network.az_count", "metadata.database.engine_version", "mlflow.auth.type"} <= keys
    assert not any(key in keys for key in Config.model_fields if key in ("network", "metadata", "mlflow"))
    undocumented = [key for key, _, _, meaning in rows if not meaning.strip()]
    assert not undocumented, f"give these fields a description or a #: comment: {undocumented}"


def test_a_new_field_changes_the_page() -> None:
    before = config_reference.render()
    from pydantic import Field, create_model

    from provisioner.stacks.config import NetworkConfig

    grown = create_model(
        "GrownNetwork", __base__=NetworkConfig, ipv6=(bool, Field(False, description="an IPv6 block as well"))
    )
    rows = dict((k, (t, d, m)) for k, t, d, m in config_reference.rows(grown, "network."))
    assert rows["network.ipv6"] == ("boolean", "`false`", "an IPv6 block as well")
    assert before == config_reference.render()  # the real models are untouched
