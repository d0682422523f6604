"""Bad config is refused with one clear message naming the field, before any AWS call."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from provisioner.cli.init_template import TEMPLATE
from provisioner.stacks.config import ConfigError, load_config, parse_config


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


def test_starter_file_is_valid_and_matches_the_defaults() -> None:
    cfg = parse_config(tomllib.loads(TEMPLATE.format(name="demo", stack="metaflow", preset="personal", suffix="ab12")))
    defaults = parse_config({"name": "demo", "suffix": "ab12"})
    assert cfg == defaults


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"name": "demo", "prefix": "a" * 60}, "(top level)", "AWS allows 64"),
        (
            {"name": "demo", "batch": {"min_vcpus": 10, "max_vcpus": 4}},
            "batch",
            "min_vcpus (10) is above max_vcpus (4)",
        ),
        (
            {"name": "demo", "network": {"subnet_cidrs": ["10.99.0.0/20", "10.20.16.0/20"]}},
            "network",
            "outside the VPC 10.20.0.0/16",
        ),
        ({"name": "demo", "preset": "nope"}, "(top level)", "known presets: personal"),
        ({"name": "demo", "batch": {"compute_type": "gpu"}}, "batch.compute_type", "'spot' or 'ec2'"),
        (
            {"name": "demo", "batch": {"compute_type": "spot", "allocation_strategy": "BEST_FIT"}},
            "batch",
            "needs a Spot Fleet role",
        ),
        ({"name": "demo", "colour": "red"}, "colour", "unknown key"),
        ({"name": "Demo_1"}, "name", "lowercase"),
        ({"name": "demo", "tags": {"aws:x": "y"}}, "tags", "reserved"),
        ({"name": "demo", "network": {"create": False}}, "network", "vpc_id and subnet_ids"),
        ({"name": "demo", "preset": "standard", "network": {"az_count": 1}}, "(top level)", "at least 2 availability"),
        (
            {"name": "demo", "metadata": {"database": {"engine_version": "11"}}},
            "metadata.database.engine_version",
            "13",
        ),
        (
            {"name": "demo", "metadata": {"database": {"instance_class": "db.t2.small"}}},
            "metadata.database.instance_class",
            "current",
        ),
    ],
)
def test_bad_config_names_the_field_and_the_fix(data: dict, field: str, words: str) -> None:
    message = error_of(data)
    assert f"  {field}: " in message
    assert words in message


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('name = "demo"\nprefix = "' + "p" * 70 + '"\n', "AWS allows 64"),
        ('name = "demo"\n[batch]\nmin_vcpus = 16\nmax_vcpus = 8\n', "min_vcpus (16) is above max_vcpus (8)"),
        ('name = "demo"\n[network]\nsubnet_cidrs = ["10.0.0.0/20", "10.20.16.0/20"]\n', "outside the VPC"),
        ('name = "demo"\npreset = "enterprise"\n', "unknown preset 'enterprise'"),
    ],
)
def test_bad_config_is_one_error_and_no_aws_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, words: str
) -> None:
    # Any attempt to build a boto3 client would be a call toward AWS: make it fail loudly.
    import boto3

    def no_aws(*a: object, **k: object) -> None:
        raise AssertionError("an AWS client was created for a bad config")

    monkeypatch.setattr(boto3.session.Session, "client", no_aws)
    (tmp_path / "mfprov.toml").write_text(toml)
    from typer.testing import CliRunner

    from provisioner.cli.main import cli

    for command in (["plan"], ["up", "--yes"], ["drift"]):
        result = CliRunner().invoke(cli, ["--config", str(tmp_path / "mfprov.toml"), *command])
        assert result.exit_code == 1
        assert words in result.output
        assert result.output.count("error:") == 1


def test_missing_config_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mfprov init"):
        load_config(tmp_path / "mfprov.toml")
