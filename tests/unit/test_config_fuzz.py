"""Property: whatever a config file holds, mfprov answers with a config or one validation message —
never a traceback, never an AWS call."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.stacks.config import Config, ConfigError, load_config, parse_config

KEYS = ["name", "stack", "preset", "region", "prefix", "suffix", "tags", "parallelism", "timeouts", "network",
        "datastore", "batch", "step_functions", "metadata", "state", "database", "vpc_cidr", "az_count",
        "subnet_cidrs", "min_vcpus", "max_vcpus", "desired_vcpus", "instance_types", "compute_type", "gpu", "imds",
        "engine_version", "instance_class", "backend", "bucket", "api_allow_cidrs", "bogus"]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
    st.sampled_from(["demo", "personal", "standard", "metaflow", "10.0.0.0/16", "spot", "ec2", "s3", "x" * 70]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=20,
)
configs = st.dictionaries(st.sampled_from(KEYS), values, max_size=10)


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("validation made an AWS client")

    monkeypatch.setattr(boto3.session.Session, "client", refuse)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(configs)
def test_any_structure_gives_a_config_or_one_clear_error(data: dict) -> None:
    try:
        cfg = parse_config(data)
    except ConfigError as err:
        text = str(err)
        assert text.startswith("mfprov.toml is not valid:")
        assert "Traceback" not in text
        return
    assert isinstance(cfg, Config)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_any_file_content_gives_a_config_or_one_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "mfprov.toml"
    path.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        load_config(path)
    except ConfigError as err:
        assert str(err)
