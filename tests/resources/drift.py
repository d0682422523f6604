"""What the resource-type tests share: what a read should give back, the fields a diff names, the read-back
check, the one-field-at-a-time drift check and the check that every managed field has a drift case; and a VPC
with subnets made with plain boto3.

A plain module, not a test module: ``tests/resources/__init__.py`` has pytest rewrite its asserts, so a failing
check here shows what differed, as one in a test does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import boto3
import pytest

from provisioner.engine.compare import diff
from resources.base import resource_type

#: an out-of-band change (plain boto3 calls) to the resource of the given id
Change = Callable[[str], object]
#: the same, also given the test's world: the ids of what stands around the resource (subnets, groups, roles...)
WorldChange = Callable[[dict[str, Any], str], object]


def managed_fields(rt: Any) -> set[str]:
    """The fields mfprov manages on ``rt``: its props but the behaviour and sensitive ones, and ``tags`` if the type
    is taggable."""
    fields = set(rt.Props.model_fields) - rt.behaviour_fields - rt.sensitive_fields
    return fields | {"tags"} if rt.taggable else fields


def read_back(rt: Any, props: Any, ctx: Any) -> dict[str, Any]:
    """What a read of a node made from ``props`` in ``ctx`` should give as its props: ``props`` dumped as JSON but the
    behaviour and sensitive fields, with the node's tags if the type is taggable."""
    dump = props.model_dump(mode="json")
    want = {k: v for k, v in dump.items() if k not in rt.behaviour_fields | rt.sensitive_fields}
    return want | {"tags": ctx.tags} if rt.taggable else want


def _desired_tags(rt: Any, ctx: Any) -> Any:
    return ctx.tags if rt.taggable else None


def changed_fields(rt: Any, props: Any, obs: Any, ctx: Any) -> set[str]:
    """The fields ``diff`` finds between the desired ``props`` and the read ``obs`` (the node's tags among them if
    the type is taggable)."""
    return {c.field for c in diff(rt, props.model_dump(mode="json"), obs.props, _desired_tags(rt, ctx))}


def changed_fields_forcing(rt: Any, props: Any, obs: Any, ctx: Any) -> dict[str, bool]:
    """The fields ``diff`` finds, as :func:`changed_fields`, each with whether its change forces replacement."""
    found = diff(rt, props.model_dump(mode="json"), obs.props, _desired_tags(rt, ctx))
    return {c.field: c.forces_replacement for c in found}


def _as_set(value: Any) -> Any:
    """A list in one order whatever order its items came in; anything else as it is."""
    if not isinstance(value, list):
        return value
    return sorted(value, key=lambda item: json.dumps(item, sort_keys=True, default=repr))


def assert_same(rt: Any, props: Any, obs: Any, ctx: Any, *, others_tags: bool = False) -> None:
    """The read ``obs`` equals what ``props`` should read back as (:func:`read_back`; ``unordered`` fields compared
    as sets), and so ``diff`` finds nothing either.

    The tags must be exactly the node's, unless ``others_tags``: then tags others put on the resource may stay,
    and only the node's keys are compared.
    """
    assert obs is not None
    want = read_back(rt, props, ctx)
    got = dict(obs.props)
    for field in rt.unordered:
        if field in want and field in got:
            want[field], got[field] = _as_set(want[field]), _as_set(got[field])
    if others_tags and rt.taggable and "tags" in got:
        got["tags"] = {k: v for k, v in got["tags"].items() if k in want["tags"]}
    assert got == want
    assert changed_fields(rt, props, obs, ctx) == set()


def assert_drift_is_exact_and_repaired(
    rt: Any,
    ctx: Any,
    id: str,
    props: Any,
    field: str,
    change: Callable[[], object],
    *,
    refused: Mapping[str, tuple[type[Exception], str]] | None = None,
) -> None:
    """``change`` (plain boto3 calls) alters ``field`` of the node ``id`` only: diff names nothing before it and
    exactly that field after it, and update repairs it.

    A ``replace_on`` field is reported as forcing replacement instead (and not updated). A field in ``refused``
    (field -> (exception, message pattern)) is one whose repair update must refuse with that exception.
    """
    desired = props.model_dump(mode="json")
    tags = _desired_tags(rt, ctx)
    assert diff(rt, desired, rt.read(ctx, id).props, tags) == []
    change()
    drifted = rt.read(ctx, id)
    found = diff(rt, desired, drifted.props, tags)
    assert [c.field for c in found] == [field]
    assert found[0].forces_replacement is (field in rt.replace_on)
    if field in rt.replace_on:
        return
    if refused and field in refused:
        error, match = refused[field]
        with pytest.raises(error, match=match):
            rt.update(ctx, id, props, drifted, {field})
        return
    rt.update(ctx, id, props, drifted, {field})
    assert diff(rt, desired, rt.read(ctx, id).props, tags) == []


def assert_every_managed_field_has_a_case(
    kind: str, cases: Iterable[Any], no_call: Mapping[str, str], *, field_at: int = 0
) -> None:
    """The drift cases of ``kind`` (``pytest.param``s whose value at ``field_at`` is the field they drift) and the
    fields no call can change (``no_call``: field -> why) are apart, and together exactly its managed fields."""
    covered = {case.values[field_at] for case in cases}
    assert not covered & set(no_call)
    assert covered | set(no_call) == managed_fields(resource_type(kind))


def vpc_with_subnets(azs: str = "ab", *, cidr: str = "10.0", first: int = 1) -> tuple[str, list[str]]:
    """A VPC ``{cidr}.0.0/16`` with a subnet ``{cidr}.{n}.0/24`` in each zone ``us-east-1{az}`` of ``azs``, ``n``
    counted from ``first``, made with plain boto3: (the VPC's id, the subnets' ids)."""
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr}.{n}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"][
            "SubnetId"
        ]
        for n, az in enumerate(azs, start=first)
    ]
    return vpc, subnets
