"""A stack never touches what is not its own, in an account shared with other stacks (issue 13, items 1-5).

Each test puts a neighbour beside the stack under test: another stack of the same name (another suffix), the
same config in another region, a resource carrying the stack's name and address tags by hand. Each asserts what
a user of the neighbour cares about: its resources still exist, unchanged, and its own drift says "in sync".
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from provisioner.cli.init_template import TEMPLATE
from provisioner.cli.main import cli
from provisioner.engine.reconcile import EngineError, Foreign
from provisioner.ops import app as core
from resources.base import TAG_ADDRESS, TAG_MANAGED_BY, TAG_STACK
from tests.stack.conftest import Stack


def make_stack(directory: Path, name: str = "team", suffix: str = "aaaa1111", region: str | None = None) -> Stack:
    """A personal stack's config in its own folder, as `mfprov init` writes it (each init draws a suffix)."""
    directory.mkdir(parents=True, exist_ok=True)
    text = TEMPLATE.format(name=name, stack="metaflow", preset="personal", suffix=suffix)
    if region:
        text = text.replace('# region = "us-east-1"', f'region = "{region}"', 1)
    path = directory / "mfprov.toml"
    path.write_text(text)
    return Stack(path)


def ids(stack: Stack) -> dict[str, str]:
    return {a: rs.id for a, rs in stack.state().resources.items()}


def exists(stack: Stack) -> dict[str, bool]:
    """Per address of the stack's state, whether the resource is still there (read by its own type)."""
    from resources.base import resource_type

    out = {}
    with core.session(stack.ws(), "drift", lambda e: None, lock=False) as s:
        for address, rs in s.state.resources.items():
            out[address] = resource_type(rs.kind).read(s.runner.ctx(address, rs.kind), rs.id) is not None
    return out


def deletes(out: object) -> dict[str, int]:
    return {k: v for k, v in getattr(out, "mutating", {}).items() if ":Delete" in k or ":Remove" in k}


@pytest.fixture
def two(moto_account: None, tmp_path: Path) -> tuple[Stack, Stack]:
    """Two stacks named "team", made by `mfprov init` in two folders: two suffixes, one account, one region."""
    return make_stack(tmp_path / "a", suffix="aaaa1111"), make_stack(tmp_path / "b", suffix="bbbb2222")


def test_a_second_stack_of_the_same_name_takes_nothing_of_the_first(two: tuple[Stack, Stack]) -> None:
    first, second = two
    first.up()
    before = ids(first)

    out = second.up()
    assert deletes(out) == {}, "the second stack's up deleted something"
    assert not set(ids(second).values()) & set(before.values()), "the second stack adopted the first one's resources"
    assert all(exists(first).values())
    assert first.drift().value == [] and second.drift().value == []

    second.down(delete_protected=True)
    assert ids(first) == before and all(exists(first).values()), "the second stack's down touched the first one"
    assert first.drift().value == []
    assert first.up().mutating == {}


def test_a_resource_tagged_by_hand_with_the_stacks_name_is_left_alone(two: tuple[Stack, Stack]) -> None:
    """Somebody copied the stack's name and address tags onto a security group of their own."""
    first, _ = two
    first.up()
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    tags = [
        {"Key": TAG_STACK, "Value": "team"},
        {"Key": TAG_ADDRESS, "Value": "ec2.security_group.batch"},
        {"Key": TAG_MANAGED_BY, "Value": "mfprov"},
    ]
    sg = ec2.create_security_group(
        GroupName="theirs",
        Description="not mfprov's",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
    )["GroupId"]
    assert first.drift().value == []
    assert first.up().mutating == {}
    first.down(delete_protected=True)
    assert ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["GroupName"] == "theirs"


def test_a_run_in_another_region_than_the_states_is_refused_before_any_change(
    moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(tmp_path / "a")  # no region in the config: the shell's decides
    stack.up()
    before = ids(stack)

    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(var, "eu-west-1")
    for command in (["up", "--yes"], ["down", "--yes"], ["drift"], ["plan"]):
        result = CliRunner().invoke(cli, ["--config", str(stack.path), *command])
        assert result.exit_code == 1, (command, result.output)
        assert "us-east-1" in result.output and "eu-west-1" in result.output, result.output
        assert "Traceback" not in result.output
    assert boto3.client("ec2", region_name="eu-west-1").describe_vpcs(
        Filters=[{"Name": f"tag:{TAG_STACK}", "Values": ["team"]}]
    )["Vpcs"] == []

    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(var, "us-east-1")
    assert ids(stack) == before and all(exists(stack).values())
    assert stack.drift().value == []


def test_the_same_config_in_another_region_refuses_the_first_regions_global_resources(
    moto_account: None, tmp_path: Path
) -> None:
    """IAM is global: the same name, prefix and suffix in a second region would share (and later delete) the first
    region's roles. The second stack refuses them by their identity, before it changes anything."""
    first = make_stack(tmp_path / "a", region="us-east-1")
    first.up()
    second = make_stack(tmp_path / "b", region="eu-west-1")
    with pytest.raises(EngineError, match=r"belongs to stack 'team' \(prefix metaflow, suffix aaaa1111, us-east-1\)"):
        second.up()
    eu = boto3.client("ec2", region_name="eu-west-1")
    assert eu.describe_vpcs(Filters=[{"Name": f"tag:{TAG_STACK}", "Values": ["team"]}])["Vpcs"] == []
    assert first.drift().value == []


def _point_state_at(stack: Stack, address: str, new_id: str, kind: str | None = None) -> None:
    path = stack.path.parent / ".mfprov" / "state.json"
    doc = json.loads(path.read_text())
    if address not in doc["resources"]:
        doc["resources"][address] = {"kind": kind, "id": new_id}
    doc["resources"][address]["id"] = new_id
    path.write_text(json.dumps(doc))


def _bucket_facts(bucket: str) -> tuple[object, object]:
    s3 = boto3.client("s3")
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    tags = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    return enc, sorted((t["Key"], t["Value"]) for t in tags)


def test_a_state_id_naming_another_stacks_resource_is_refused(two: tuple[Stack, Stack]) -> None:
    first, second = two
    first.up()
    second.up()
    theirs = ids(second)
    bucket = theirs["s3.bucket.datastore"]
    facts = _bucket_facts(bucket)

    # The first stack's state now names the second stack's bucket, and, under an address the config does not
    # have, the second stack's security group.
    _point_state_at(first, "s3.bucket.datastore", bucket)
    _point_state_at(first, "ec2.security_group.old", theirs["ec2.security_group.batch"], kind="ec2.security_group")
    # An alias takes no tags: its name tells it apart.
    _point_state_at(first, "kms.alias.s3", theirs["kms.alias.s3"])
    for run in (first.up, first.drift, lambda: first.down(delete_protected=True)):
        with pytest.raises(Foreign) as refused:
            run()
        message = str(refused.value)
        assert "s3.bucket.datastore" in message and "ec2.security_group.old" in message
        assert "suffix bbbb2222" in message, message
        assert f"kms.alias.s3 ({theirs['kms.alias.s3']}) is not the resource this stack made" in message
    assert _bucket_facts(bucket) == facts
    assert ids(second) == theirs and all(exists(second).values())
    assert second.drift().value == []
    aliases = boto3.client("kms").list_aliases(KeyId=theirs["kms.key.s3"])["Aliases"]
    assert [a["AliasName"] for a in aliases] == [theirs["kms.alias.s3"]]

    # The CLI says it in one line.
    result = CliRunner().invoke(cli, ["--config", str(first.path), "up", "--yes"])
    assert result.exit_code == 1 and "not this stack's" in result.output and "Traceback" not in result.output


def test_import_refuses_another_stacks_resource(two: tuple[Stack, Stack]) -> None:
    first, second = two
    first.up()
    second.up()
    runner = CliRunner()
    released = runner.invoke(cli, ["--config", str(first.path), "state", "rm", "dynamodb.table.step_functions"])
    assert released.exit_code == 0
    theirs = ids(second)["dynamodb.table.step_functions"]
    result = runner.invoke(cli, ["--config", str(first.path), "import", "dynamodb.table.step_functions", theirs])
    assert result.exit_code == 1, result.output
    assert "suffix bbbb2222" in result.output
    assert "dynamodb.table.step_functions" not in first.state().resources

    # Its own released table it may take back.
    mine = first.state().released
    own = next(i for i, a in mine.items() if a == "dynamodb.table.step_functions")
    result = runner.invoke(cli, ["--config", str(first.path), "import", "dynamodb.table.step_functions", own])
    assert result.exit_code == 0, result.output
    assert first.state().resources["dynamodb.table.step_functions"].id == own
    assert first.drift().value == [] and second.drift().value == []


def test_state_rm_releases_for_good_until_import(moto_account: None, tmp_path: Path) -> None:
    stack = make_stack(tmp_path / "a")
    stack.up()
    table = ids(stack)["dynamodb.table.step_functions"]
    role = ids(stack)["iam.role.step_functions"]
    runner = CliRunner()
    for address in ("dynamodb.table.step_functions", "iam.role.step_functions"):
        assert runner.invoke(cli, ["--config", str(stack.path), "state", "rm", address]).exit_code == 0

    # up neither takes them back nor makes second ones: it says so, and builds nothing in their place.
    out = stack.run("up", core.up)
    assert out.value.run is not None and not out.value.run.ok
    outcomes = out.value.run.outcomes
    assert outcomes["dynamodb.table.step_functions"].status == "failed"
    message = str(outcomes["dynamodb.table.step_functions"].error)
    assert "released" in message and f"mfprov import dynamodb.table.step_functions {table}" in message
    # the role's policy names the table, so it waits for it; had it run, it would have been refused the same way
    assert outcomes["iam.role.step_functions"].status in ("failed", "skipped")
    assert not {"dynamodb.table.step_functions", "iam.role.step_functions"} & set(stack.state().resources)

    stack.down(delete_protected=True)
    assert table in boto3.client("dynamodb").list_tables()["TableNames"]
    assert boto3.client("iam").get_role(RoleName=role)["Role"]["RoleName"] == role


def test_a_stale_id_while_the_real_resource_exists_adopts_it_and_deletes_nothing(
    moto_account: None, tmp_path: Path
) -> None:
    """A state restored from before a change names subnets that no longer exist, while the live ones carry the
    stack's identity: up adopts them, and neither deletes them as unmanaged nor rebuilds what sits on them."""
    stack = make_stack(tmp_path / "a")
    stack.up()
    live = ids(stack)
    for i, address in enumerate(a for a in live if a.startswith("ec2.subnet.")):
        _point_state_at(stack, address, f"subnet-0000000000000000{i}")

    out = stack.up()
    assert deletes(out) == {}, deletes(out)
    assert not {k for k in out.mutating if "Create" in k}, out.mutating
    assert ids(stack) == live
    assert stack.drift().value == []


def test_a_changed_suffix_is_another_stack_and_is_refused_before_any_change(
    moto_account: None, tmp_path: Path
) -> None:
    stack = make_stack(tmp_path / "a")
    stack.up()
    before = ids(stack)
    stack.path.write_text(stack.path.read_text().replace('suffix = "aaaa1111"', 'suffix = "cccc3333"', 1))
    result = CliRunner().invoke(cli, ["--config", str(stack.path), "up", "--yes"])
    assert result.exit_code == 1 and "suffix aaaa1111" in result.output and "suffix cccc3333" in result.output
    stack.path.write_text(stack.path.read_text().replace('suffix = "cccc3333"', 'suffix = "aaaa1111"', 1))
    assert ids(stack) == before and all(exists(stack).values()) and stack.drift().value == []


def test_a_dns_record_of_the_same_name_in_the_users_zone_is_not_taken_over(
    moto_account: None, tmp_path: Path
) -> None:
    """Route 53 records take no tags, and the zone is the user's: a record of the configured name that points
    elsewhere (the old server) is someone's. up refuses it before any change instead of repointing it."""
    from tests.stack.test_mlflow_stack import mlflow_config

    r53 = boto3.client("route53")
    zone_id = r53.create_hosted_zone(Name="example.com", CallerReference="theirs")["HostedZone"]["Id"].rsplit("/")[-1]
    theirs = {"Name": "mlflow.example.com.", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.10"}]}
    r53.change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": theirs}]}
    )
    stack = Stack(
        mlflow_config(
            tmp_path / "m",
            **{'zone_id = ""': f'zone_id = "{zone_id}"', 'record_name = ""': 'record_name = "mlflow.example.com"'},
        )
    )
    # The record points at the load balancer, which does not exist yet: the record's turn comes after it.
    run = stack.run("up", core.up).value.run
    assert run is not None and list(run.failed) == ["route53.record.mlflow"]
    assert "not this stack's" in str(run.failed["route53.record.mlflow"].error)

    def record() -> list[dict[str, object]]:
        records = r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        return [r for r in records if r["Name"] == "mlflow.example.com."]

    assert record() == [theirs]
    # Now the name can be looked up before anything is done: up refuses at once; down leaves it alone.
    with pytest.raises(EngineError, match=r"route53\.record\.mlflow: .*not this stack's"):
        stack.up()
    stack.down(delete_protected=True)
    assert stack.state().resources == {} and record() == [theirs]


def test_taking_back_a_role_does_not_take_back_the_instance_profile_of_the_same_name(
    moto_account: None, tmp_path: Path
) -> None:
    stack = make_stack(tmp_path / "a")
    stack.up()
    role, profile = ids(stack)["iam.role.ecs_instance"], ids(stack)["iam.instance_profile.ecs_instance"]
    assert role == profile  # one name for both, as terraform-aws-metaflow names them
    runner = CliRunner()
    for address in ("iam.role.ecs_instance", "iam.instance_profile.ecs_instance"):
        assert runner.invoke(cli, ["--config", str(stack.path), "state", "rm", address]).exit_code == 0
    taken = runner.invoke(cli, ["--config", str(stack.path), "import", "iam.role.ecs_instance", role])
    assert taken.exit_code == 0, taken.output
    assert stack.state().released == {profile: "iam.instance_profile.ecs_instance"}
    run = stack.run("up", core.up).value.run
    assert run is not None and "released" in str(run.failed["iam.instance_profile.ecs_instance"].error)
