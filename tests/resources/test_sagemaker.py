"""The SageMaker types on moto: a notebook lifecycle configuration and a notebook instance, each created, read back
equal to the desired, found by name, every managed field drifted out of band and repaired (the network and key
ones force replacement), deleted twice, and ids from ARNs. A notebook update is checked to stop the notebook,
update it, and start it again; a Failed notebook ends the create's wait with SageMaker's reason.

moto 5.2.5 lacks parts of both APIs. The ``moto_gaps`` fixture below stands in for them (``sagemaker_stand_ins`` of
``tests/conftest.py``, shared with the full stack's tests), test-side only, behaving as AWS documents:
- UpdateNotebookInstance is not implemented: applied to moto's notebook model, refused unless the notebook is
  Stopped or Failed (as on AWS), and refusing to shrink the volume;
- UpdateNotebookInstanceLifecycleConfig is not implemented: applied to moto's lifecycle-config model;
- CreateNotebookInstance drops PlatformIdentifier: kept and shown again by DescribeNotebookInstance;
- CreateNotebookInstanceLifecycleConfig drops its Tags, and ListTags/AddTags crash on a lifecycle-config ARN:
  its tags kept, and its ARN resolved.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.sagemaker.models import FakeSagemakerNotebookInstance
from pydantic import ValidationError

from provisioner.core.retry import WaitFailed
from provisioner.core.session import ClientFactory
from resources.base import TAG_STACK, resource_type
from tests.conftest import sagemaker_stand_ins
from tests.resources.drift import assert_same, changed_fields_forcing

MakeCtx = Callable[..., Any]

ON_START = """#!/bin/bash
set -e
cat >> /etc/profile.d/jupyter-env.sh <<'EOF'
export METAFLOW_DEFAULT_DATASTORE=s3
export METAFLOW_DATASTORE_SYSROOT_S3=s3://mf-data/metaflow/
EOF
systemctl restart jupyter-server
"""
ON_CREATE = "#!/bin/bash\nsudo -u ec2-user -i pip install --quiet 'metaflow>=2.12'\n"


# ----------------------------------------------------------- stand-ins for moto gaps


@pytest.fixture
def moto_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-ins for what moto lacks (see the module docstring); they behave as AWS documents."""
    sagemaker_stand_ins(monkeypatch)


# --------------------------------------------------------------------------- helpers


def _same(rt: Any, props: Any, obs: Any, ctx: Any) -> None:
    """``assert_same``, and the ``unordered`` fields read back sorted (read sorts them)."""
    assert_same(rt, props, obs, ctx)
    for field in rt.unordered:
        assert obs.props[field] == sorted(obs.props[field])


def _status(name: str) -> str:
    return str(
        boto3.client("sagemaker").describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"]
    )


def _out_of_band_update(name: str, **kw: Any) -> None:
    """What someone does in the console: stop, update, start."""
    sm = boto3.client("sagemaker")
    sm.stop_notebook_instance(NotebookInstanceName=name)
    sm.update_notebook_instance(NotebookInstanceName=name, **kw)
    sm.start_notebook_instance(NotebookInstanceName=name)


@pytest.fixture
def net(aws: ClientFactory) -> dict[str, str]:
    """A VPC with two subnets and two groups, two execution roles and a volume key (in the moto account)."""
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.3.0/24")["Subnet"]["SubnetId"]
    sg1 = ec2.create_security_group(GroupName="mf-notebook", Description="notebook", VpcId=vpc)["GroupId"]
    sg2 = ec2.create_security_group(GroupName="mf-nat", Description="nat", VpcId=vpc)["GroupId"]
    iam = boto3.client("iam")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    role = iam.create_role(RoleName="mf-notebook", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    role2 = iam.create_role(RoleName="mf-notebook-2", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    key = boto3.client("kms").create_key(Description="notebook volume")["KeyMetadata"]["Arn"]
    return {"subnet": subnet, "other_subnet": other, "sg1": sg1, "sg2": sg2, "role": role, "role2": role2, "key": key}


# ------------------------------------------------------------ lifecycle configuration


def test_notebook_lifecycle_config(make_ctx: MakeCtx, moto_gaps: None) -> None:
    rt: Any = resource_type("sagemaker.notebook_lifecycle_config")
    ctx = make_ctx("sagemaker.notebook_lifecycle_config.basic")
    props = rt.parse_props({"name": "basic-mf-notebook", "on_start": ON_START, "on_create": ON_CREATE})
    id = rt.create(ctx, props)
    assert id == "basic-mf-notebook"

    obs = rt.read(ctx, id)
    _same(rt, props, obs, ctx)
    sm = boto3.client("sagemaker")
    raw = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=id)
    assert raw["OnStart"] == [{"Content": base64.b64encode(ON_START.encode()).decode()}]  # sent as AWS wants it
    arn = "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance-lifecycle-config/basic-mf-notebook"
    assert obs.attrs == {"id": id, "name": id, "arn": arn}
    assert rt.id_from_arn(arn) == id
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({"name": "other", "on_start": ON_START})) is None
    with pytest.raises(ClientError) as dup:
        rt.create(ctx, props)
    assert rt.duplicate(dup.value) and not rt.missing(dup.value)

    # out of band, one field at a time: reported alone, repaired
    def scripts(on_start: str, on_create: str | None) -> None:
        hooks = {"OnCreate": [{"Content": base64.b64encode(on_create.encode()).decode()}] if on_create else []}
        sm.update_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=id,
            OnStart=[{"Content": base64.b64encode(on_start.encode()).decode()}],
            **hooks,
        )

    drifts: list[tuple[str, Callable[[], Any]]] = [
        ("on_start", lambda: scripts(ON_START + "echo extra\n", ON_CREATE)),
        ("on_create", lambda: scripts(ON_START, "#!/bin/bash\ncurl -s https://example.com/x | sh\n")),
        ("on_create", lambda: scripts(ON_START, None)),
    ]
    assert not rt.taggable, "found by its account-unique name; the sandbox's moto cannot list its tags"
    for field, change in drifts:
        change()
        drifted = rt.read(ctx, id)
        assert changed_fields_forcing(rt, props, drifted, ctx) == {field: False}, field
        rt.update(ctx, id, props, drifted, {field})
        _same(rt, props, rt.read(ctx, id), ctx)

    # config: no on-create script any more (taken away, not left as it was)
    start_only = rt.parse_props({"name": id, "on_start": ON_START})
    before = rt.read(ctx, id)
    assert changed_fields_forcing(rt, start_only, before, ctx) == {"on_create": False}
    rt.update(ctx, id, start_only, before, {"on_create"})
    _same(rt, start_only, rt.read(ctx, id), ctx)
    assert rt.replace_on == {"name"}

    rt.delete(ctx, id, obs.attrs, start_only)
    assert rt.read(ctx, id) is None and rt.find(ctx, start_only) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, start_only)
    assert rt.missing(gone.value)


def test_lifecycle_config_props() -> None:
    rt: Any = resource_type("sagemaker.notebook_lifecycle_config")
    with pytest.raises(ValidationError, match="lower-case"):
        rt.parse_props({"name": "BasicNotebookInstanceLifecycleConfig", "on_start": ON_START})
    with pytest.raises(ValidationError, match="base64"):
        rt.parse_props({"name": "big", "on_start": "x" * 13000})
    assert rt.parse_props({"name": "ok", "on_start": "x" * 12000}).on_create is None


# ------------------------------------------------------------------ notebook instance


def _notebook(net: dict[str, str], **kw: Any) -> dict[str, Any]:
    return {
        "name": "mf-notebook",
        "instance_type": "ml.t3.medium",
        "role_arn": net["role"],
        "subnet_id": net["subnet"],
        "security_group_ids": [net["sg2"], net["sg1"]],
        "kms_key_id": net["key"],
        "direct_internet_access": "Disabled",
        "root_access": "Disabled",
        "volume_size_gb": 20,
        "lifecycle_config_name": "basic-mf",
    } | kw


def test_notebook_instance(make_ctx: MakeCtx, aws: ClientFactory, net: dict[str, str], moto_gaps: None) -> None:
    lc_rt: Any = resource_type("sagemaker.notebook_lifecycle_config")
    for name in ("basic-mf", "basic-mf-2"):
        lc_rt.create(
            make_ctx(f"sagemaker.notebook_lifecycle_config.{name}"),
            lc_rt.parse_props({"name": name, "on_start": ON_START}),
        )

    rt: Any = resource_type("sagemaker.notebook_instance")
    ctx = make_ctx("sagemaker.notebook_instance.main")
    props = rt.parse_props(_notebook(net))
    assert props.platform_identifier == "notebook-al2023-v1"
    id = rt.create(ctx, props)
    assert id == "mf-notebook" and _status(id) == "InService"

    obs = rt.read(ctx, id)
    _same(rt, props, obs, ctx)
    arn = "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/mf-notebook"
    assert obs.attrs == {
        "id": id,
        "name": id,
        "arn": arn,
        "url": "https://mf-notebook.notebook.us-east-1.sagemaker.aws",
    }
    assert rt.id_from_arn(arn) == id
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props(_notebook(net, name="mf-other"))) is None
    with pytest.raises(ClientError) as dup:
        rt.create(ctx, props)
    assert rt.duplicate(dup.value) and not rt.missing(dup.value)

    # out of band, one field at a time: reported alone, repaired by stop, update, start
    sm = boto3.client("sagemaker")
    drifts: list[tuple[str, Callable[[], Any]]] = [
        ("instance_type", lambda: _out_of_band_update(id, InstanceType="ml.t3.large")),
        ("role_arn", lambda: _out_of_band_update(id, RoleArn=net["role2"])),
        ("root_access", lambda: _out_of_band_update(id, RootAccess="Enabled")),
        ("platform_identifier", lambda: _out_of_band_update(id, PlatformIdentifier="notebook-al2-v3")),
        ("lifecycle_config_name", lambda: _out_of_band_update(id, DisassociateLifecycleConfig=True)),
        ("lifecycle_config_name", lambda: _out_of_band_update(id, LifecycleConfigName="basic-mf-2")),
        ("tags", lambda: sm.delete_tags(ResourceArn=arn, TagKeys=[TAG_STACK])),
    ]
    for field, change in drifts:
        change()
        drifted = rt.read(ctx, id)
        assert changed_fields_forcing(rt, props, drifted, ctx) == {field: False}, field
        aws.recorder.reset()
        rt.update(ctx, id, props, drifted, {field})
        _same(rt, props, rt.read(ctx, id), ctx)
        assert _status(id) == "InService"
        if field == "tags":
            assert aws.recorder.mutating() == {"sagemaker:AddTags": 1}  # no restart for tags
        else:
            assert aws.recorder.mutating() == {
                "sagemaker:StopNotebookInstance": 1,
                "sagemaker:UpdateNotebookInstance": 1,
                "sagemaker:StartNotebookInstance": 1,
            }

    # the volume only grows: grown out of band is no drift; a larger size in config grows it in place
    _out_of_band_update(id, VolumeSizeInGB=30)
    assert changed_fields_forcing(rt, props, rt.read(ctx, id), ctx) == {}
    bigger = rt.parse_props(_notebook(net, volume_size_gb=50))
    before = rt.read(ctx, id)
    assert changed_fields_forcing(rt, bigger, before, ctx) == {"volume_size_gb": False}
    rt.update(ctx, id, bigger, before, {"volume_size_gb"})
    _same(rt, bigger, rt.read(ctx, id), ctx)

    # a notebook someone stopped is updated and left stopped
    sm.stop_notebook_instance(NotebookInstanceName=id)
    larger = rt.parse_props(_notebook(net, volume_size_gb=50, instance_type="ml.t3.xlarge", lifecycle_config_name=None))
    before = rt.read(ctx, id)
    assert changed_fields_forcing(rt, larger, before, ctx) == {"instance_type": False, "lifecycle_config_name": False}
    aws.recorder.reset()
    rt.update(ctx, id, larger, before, {"instance_type", "lifecycle_config_name"})
    _same(rt, larger, rt.read(ctx, id), ctx)
    assert _status(id) == "Stopped" and "sagemaker:StartNotebookInstance" not in aws.recorder.calls
    sm.start_notebook_instance(NotebookInstanceName=id)

    # what UpdateNotebookInstance cannot change: replacement
    assert rt.replace_on == {"name", "subnet_id", "security_group_ids", "kms_key_id", "direct_internet_access"}
    now = rt.read(ctx, id)
    for field, value in (
        ("subnet_id", net["other_subnet"]),
        ("security_group_ids", [net["sg1"]]),
        ("kms_key_id", None),
        ("direct_internet_access", "Enabled"),
    ):
        moved = rt.parse_props(
            _notebook(
                net, volume_size_gb=50, instance_type="ml.t3.xlarge", lifecycle_config_name=None, **{field: value}
            )
        )
        assert changed_fields_forcing(rt, moved, now, ctx) == {field: True}, field
    # the same groups in another order are the same groups
    same = rt.parse_props(
        _notebook(
            net,
            volume_size_gb=50,
            instance_type="ml.t3.xlarge",
            lifecycle_config_name=None,
            security_group_ids=[net["sg1"], net["sg2"]],
        )
    )
    assert changed_fields_forcing(rt, same, now, ctx) == {}

    # delete: stopped first (SageMaker deletes only a stopped notebook), then gone; a second delete: not found
    aws.recorder.reset()
    rt.delete(ctx, id, obs.attrs, larger)
    assert aws.recorder.mutating() == {"sagemaker:StopNotebookInstance": 1, "sagemaker:DeleteNotebookInstance": 1}
    assert rt.read(ctx, id) is None and rt.find(ctx, larger) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, larger)
    assert rt.missing(gone.value) and not rt.duplicate(gone.value)


def test_notebook_instance_failed(
    make_ctx: MakeCtx, aws: ClientFactory, net: dict[str, str], moto_gaps: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook that fails to start ends the create's wait at once, with SageMaker's reason; its name is
    recorded before the wait, and the failed notebook is deleted without a stop."""
    rt: Any = resource_type("sagemaker.notebook_instance")
    ctx = make_ctx("sagemaker.notebook_instance.main")
    props = rt.parse_props(_notebook(net, lifecycle_config_name=None))
    reason = "Unable to create ENI: the subnet has no free addresses"
    with_platform = FakeSagemakerNotebookInstance.to_dict

    # moto never fails a notebook: this one fails as it starts, and says why, as AWS does
    def fail(self: FakeSagemakerNotebookInstance) -> None:
        self.status = "Failed"

    def to_dict(self: FakeSagemakerNotebookInstance) -> dict[str, Any]:
        return {**with_platform(self), "FailureReason": reason if self.status == "Failed" else None}

    monkeypatch.setattr(FakeSagemakerNotebookInstance, "start", fail)
    monkeypatch.setattr(FakeSagemakerNotebookInstance, "to_dict", to_dict)
    created: list[str] = []
    ctx.on_created = created.append
    with pytest.raises(WaitFailed, match="subnet has no free addresses"):
        rt.create(ctx, props)
    assert created == ["mf-notebook"]
    failed = rt.read(ctx, "mf-notebook")
    assert failed is not None
    aws.recorder.reset()
    rt.delete(ctx, "mf-notebook", failed.attrs, props)
    assert aws.recorder.mutating() == {"sagemaker:DeleteNotebookInstance": 1}
    assert rt.read(ctx, "mf-notebook") is None


def test_notebook_instance_props(net: dict[str, str]) -> None:
    rt: Any = resource_type("sagemaker.notebook_instance")
    with pytest.raises(ValidationError, match="lower-case"):
        rt.parse_props(_notebook(net, name="STACK-NotebookInstance"))
    with pytest.raises(ValidationError, match="need a subnet_id"):
        rt.parse_props(_notebook(net, subnet_id=None, security_group_ids=[]))
    with pytest.raises(ValidationError, match="volume_size_gb"):
        rt.parse_props(_notebook(net, volume_size_gb=2))
    with pytest.raises(ValidationError):
        rt.parse_props(_notebook(net, direct_internet_access="Sometimes"))
    assert rt.grow_only == {"volume_size_gb"} and rt.unordered == {"security_group_ids"} and rt.stateful
