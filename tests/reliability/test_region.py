"""The region, chosen as the AWS tools choose it: the config's ``region``, else AWS_REGION, else
AWS_DEFAULT_REGION, else the profile's region. None of them, or one AWS does not have: one line, no AWS call.

boto3 alone reads AWS_DEFAULT_REGION and the profile but not AWS_REGION (aws-semantics.md §1), so a user who set
only AWS_REGION used to get a stack in us-east-1.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from provisioner.core.session import ClientFactory
from provisioner.ops import app as core
from tests.reliability.test_credentials import count_calls, invoke
from tests.stack.conftest import Stack
from tests.stack.conftest import moto_account as moto_account  # noqa: F401 (fixture)
from tests.stack.conftest import stack as stack  # noqa: F401 (fixture)

REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE")


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No region anywhere: no variable, and an AWS config file without one. Returns that (empty) file."""
    for var in REGION_VARS:
        monkeypatch.delenv(var, raising=False)
    config = tmp_path / "aws-config"
    config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    return config


def stack_vpcs(region: str, stack_name: str = "t1") -> list[str]:
    ec2 = boto3.client("ec2", region_name=region)
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:mfprov:stack", "Values": [stack_name]}])["Vpcs"]
    return [v["VpcId"] for v in found]


def test_aws_region_alone_is_where_the_stack_is_built(stack: Stack, no_region: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")

    stack.up()

    assert stack_vpcs("eu-west-1"), "the stack's VPC is in the region AWS_REGION names"
    assert stack_vpcs("us-east-1") == [], "nothing was built in the old fallback region"
    bucket = stack.state().resources["s3.bucket.datastore"].id
    location = boto3.client("s3", region_name="eu-west-1").get_bucket_location(Bucket=bucket)
    assert location["LocationConstraint"] == "eu-west-1"
    assert stack.state().region == "eu-west-1"


def test_the_s3_state_store_uses_the_same_region(stack: Stack, no_region: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    stack.path.write_text(stack.path.read_text() + '\n[state]\nbackend = "s3"\nbucket = "team-state"\n')

    store = core.Workspace.open(stack.path).store()

    assert store.s3.meta.region_name == "eu-west-1"


def test_precedence_config_then_aws_region_then_aws_default_region_then_profile(
    no_region: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_region.write_text("[default]\nregion = ap-south-1\n\n[profile team]\nregion = eu-central-1\n")
    assert ClientFactory().region == "ap-south-1", "the default profile's region"
    monkeypatch.setenv("AWS_PROFILE", "team")
    assert ClientFactory().region == "eu-central-1", "the active profile's region"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert ClientFactory().region == "us-west-2", "AWS_DEFAULT_REGION over the profile"
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert ClientFactory().region == "eu-west-1", "AWS_REGION over AWS_DEFAULT_REGION"
    assert ClientFactory(region="sa-east-1").region == "sa-east-1", "the config's region over everything"
    # and every client of the factory is in it
    assert ClientFactory(region="sa-east-1").client("sts").meta.region_name == "sa-east-1"


@pytest.mark.parametrize("command", [["plan"], ["up", "--yes"], ["drift"], ["down", "--yes"]])
def test_no_region_anywhere_is_one_line_before_any_call(
    stack: Stack, no_region: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    calls = count_calls(monkeypatch)

    result = invoke(stack, *command)

    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no AWS region"), result.output
    for way in ("mfprov.toml", "AWS_REGION", "AWS_DEFAULT_REGION", "profile"):
        assert way in lines[0]
    assert calls == []
    assert stack_vpcs("us-east-1") == []


def test_a_region_that_does_not_exist_is_one_line_naming_the_real_ones(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = stack.path.read_text()
    stack.path.write_text(f'region = "us-east-9"\n{text}')
    calls = count_calls(monkeypatch)

    result = invoke(stack, "plan")

    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "unknown AWS region 'us-east-9'" in lines[0]
    # the commercial partition's regions, from botocore's own endpoint data
    for real in ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"):
        assert real in lines[0]
    assert "cn-north-1" not in lines[0], "only the partition the name belongs to"
    assert calls == []


def test_a_region_of_another_partition_lists_that_partition(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "cn-south-7")
    calls = count_calls(monkeypatch)

    result = invoke(stack, "drift")

    assert result.exit_code == 1 and "partition aws-cn" in result.output, result.output
    assert "cn-north-1" in result.output and "us-east-1" not in result.output
    assert calls == []
