"""The Route 53 record on moto: an alias A record to a load balancer and plain records with a TTL and values,
each created, read back equal to the desired (names in any case and with or without the trailing dot), found
again, drifted out of band and repaired, deleted with the values it has at that moment; plus the wait for
INSYNC and the alias-or-values validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from provisioner.engine.compare import diff
from resources.base import resource_type
from tests.resources.drift import assert_same, changed_fields

MakeCtx = Callable[..., Any]
#: the canonical hosted zone id of ALBs in us-east-1
ALB_ZONE = "Z35SXDOTRQ7X7K"
ALB_DNS = "MLflow-ALB-123456.us-east-1.elb.amazonaws.com"


@pytest.fixture
def zone(aws: Any) -> str:
    """A hosted zone, by the id as AWS gives it (``/hostedzone/Z...``)."""
    return str(boto3.client("route53").create_hosted_zone(Name="example.com", CallerReference="t")["HostedZone"]["Id"])


def _upsert(zone: str, rrset: dict[str, Any]) -> None:
    boto3.client("route53").change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]}
    )


def _names(zone: str) -> set[tuple[str, str]]:
    sets = boto3.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {(r["Name"], r["Type"]) for r in sets}


def test_alias_record(make_ctx: MakeCtx, zone: str) -> None:
    rt: Any = resource_type("route53.record")
    ctx = make_ctx("route53.record.ui")
    short = zone.rsplit("/", 1)[1]
    props = rt.parse_props(
        {
            "zone_id": zone,
            "name": "MLflow.Example.com.",
            "type": "a",
            "alias": {"dns_name": ALB_DNS, "hosted_zone_id": ALB_ZONE, "evaluate_target_health": True},
        }
    )
    # one normal form: the zone id without its prefix, the names lower case without the trailing dot
    assert (props.zone_id, props.name, props.type) == (short, "mlflow.example.com", "A")
    assert props.alias.dns_name == ALB_DNS.lower() and props.ttl is None and props.values == []
    id = rt.create(ctx, props)
    assert id == f"{short}|mlflow.example.com|A"
    assert ("mlflow.example.com.", "A") in _names(zone)

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.attrs == {"id": id, "name": "mlflow.example.com", "fqdn": "mlflow.example.com", "zone_id": short}
    assert not rt.taggable
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props(props.model_dump() | {"name": "api.example.com"})) is None
    assert rt.find(ctx, rt.parse_props(props.model_dump() | {"type": "AAAA"})) is None

    # out of band: the alias moved to another load balancer; its health evaluation switched off; the alias
    # replaced by a plain record with values
    def alias(dns: str, health: bool) -> dict[str, Any]:
        target = {"HostedZoneId": ALB_ZONE, "DNSName": dns, "EvaluateTargetHealth": health}
        return {"Name": "mlflow.example.com.", "Type": "A", "AliasTarget": target}

    drifts: list[tuple[set[str], dict[str, Any]]] = [
        ({"alias"}, alias("other-alb-9.us-east-1.elb.amazonaws.com.", True)),
        ({"alias"}, alias(ALB_DNS.lower() + ".", False)),
        (
            {"alias", "ttl", "values"},
            {"Name": "mlflow.example.com.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "10.0.0.9"}]},
        ),
    ]
    for fields, rrset in drifts:
        _upsert(zone, rrset)
        drifted = rt.read(ctx, id)
        changes = changed_fields(rt, props, drifted, ctx)
        assert changes == fields, rrset
        rt.update(ctx, id, props, drifted, changes)
        assert_same(rt, props, rt.read(ctx, id), ctx)

    # what AWS answers (lower case, trailing dot) equals what was asked, in any spelling
    _upsert(zone, alias(ALB_DNS.upper() + ".", True))
    assert changed_fields(rt, props, rt.read(ctx, id), ctx) == set()

    # zone, name and type are the record's identity
    for field, value in (("name", "api.example.com"), ("type", "AAAA")):
        moved = diff(rt, rt.parse_props(props.model_dump() | {field: value}).model_dump(mode="json"), obs.props)
        assert [(c.field, c.forces_replacement) for c in moved] == [(field, True)]

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    assert ("mlflow.example.com.", "A") not in _names(zone)
    # gone already is done: a DELETE needs the current values, so nothing is sent
    rt.delete(ctx, id, obs.attrs, props)


def test_plain_records(make_ctx: MakeCtx, zone: str, aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rt: Any = resource_type("route53.record")
    ctx = make_ctx("route53.record.a")
    props = rt.parse_props({"zone_id": zone, "name": "db.example.com", "type": "A", "values": ["10.0.0.2", "10.0.0.1"]})
    assert props.ttl == 300  # the default
    id = rt.create(ctx, props)
    assert_same(rt, props, rt.read(ctx, id), ctx)
    assert rt.find(ctx, props) == id

    # another type at the same name, and the next name, are not this record
    cname = rt.parse_props({"zone_id": zone, "name": "www.example.com", "type": "CNAME", "values": ["example.net"]})
    cname_id = rt.create(make_ctx("route53.record.www"), cname)
    assert_same(rt, cname, rt.read(ctx, cname_id), ctx)
    _upsert(zone, {"Name": "db.example.com.", "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": '"x"'}]})
    assert rt.find(ctx, rt.parse_props(props.model_dump() | {"type": "AAAA", "values": ["::1"]})) is None
    assert rt.find(ctx, rt.parse_props(props.model_dump() | {"name": "dc.example.com"})) is None

    # out of band: the values (in another order is no change), then the TTL
    drifts: list[tuple[set[str], dict[str, Any]]] = [
        (set(), {"TTL": 300, "ResourceRecords": [{"Value": "10.0.0.1"}, {"Value": "10.0.0.2"}]}),
        ({"values"}, {"TTL": 300, "ResourceRecords": [{"Value": "10.0.0.1"}, {"Value": "10.0.0.3"}]}),
        ({"ttl"}, {"TTL": 60, "ResourceRecords": [{"Value": "10.0.0.1"}, {"Value": "10.0.0.2"}]}),
    ]
    for fields, change in drifts:
        _upsert(zone, {"Name": "db.example.com.", "Type": "A"} | change)
        drifted = rt.read(ctx, id)
        changes = changed_fields(rt, props, drifted, ctx)
        assert changes == fields, change
        if changes:
            rt.update(ctx, id, props, drifted, changes)
            assert_same(rt, props, rt.read(ctx, id), ctx)

    # a delete sends the values the record has now, not the desired ones: AWS refuses a DELETE that does not
    # match exactly (moto does not check, so the call sent is checked)
    _upsert(zone, {"Name": "db.example.com.", "Type": "A", "TTL": 30, "ResourceRecords": [{"Value": "10.9.9.9"}]})
    client = aws.client("route53")
    real, sent = client.change_resource_record_sets, []

    def spy(**kw: Any) -> Any:
        sent.append(kw["ChangeBatch"]["Changes"])
        return real(**kw)

    monkeypatch.setattr(client, "change_resource_record_sets", spy)
    rt.delete(ctx, id, {}, props)
    [[change]] = sent
    assert change["Action"] == "DELETE"
    assert change["ResourceRecordSet"] == {
        "Name": "db.example.com.",
        "Type": "A",
        "TTL": 30,
        "ResourceRecords": [{"Value": "10.9.9.9"}],
    }
    assert rt.read(ctx, id) is None
    assert rt.read(ctx, cname_id) is not None  # the others are untouched
    assert ("db.example.com.", "TXT") in _names(zone)
    rt.delete(ctx, cname_id, {}, None)
    assert rt.read(ctx, cname_id) is None


def test_waits_for_insync(make_ctx: MakeCtx, zone: str, aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    rt: Any = resource_type("route53.record")
    ctx = make_ctx("route53.record.a")
    client = aws.client("route53")
    statuses = ["PENDING", "PENDING", "INSYNC"]
    seen: list[str] = []

    def get_change(Id: str) -> dict[str, Any]:  # noqa: N803 - boto3's parameter name
        seen.append(Id)
        return {"ChangeInfo": {"Id": Id, "Status": statuses[len(seen) - 1]}}

    monkeypatch.setattr(client, "get_change", get_change)
    rt.create(ctx, rt.parse_props({"zone_id": zone, "name": "db.example.com", "type": "A", "values": ["10.0.0.1"]}))
    assert len(seen) == 3 and len(set(seen)) == 1  # polled one change until INSYNC


def test_record_validation() -> None:
    rt: Any = resource_type("route53.record")
    alias = {"dns_name": ALB_DNS, "hosted_zone_id": ALB_ZONE}
    with pytest.raises(ValidationError, match="neither ttl nor values"):
        rt.parse_props({"zone_id": "Z1", "name": "a.example.com", "type": "A", "alias": alias, "ttl": 60})
    with pytest.raises(ValidationError, match="either an alias or"):
        rt.parse_props({"zone_id": "Z1", "name": "a.example.com", "type": "A"})
    # Route 53 writes "*" as \052: the same name
    wild = rt.parse_props({"zone_id": "Z1", "name": "\\052.Example.com.", "type": "cname", "values": ["x.example.net"]})
    assert (wild.name, wild.type) == ("*.example.com", "CNAME")
    assert rt.replace_on == {"zone_id", "name", "type"}
    with pytest.raises(ValueError, match="no ARN"):
        rt.id_from_arn("arn:aws:route53:::hostedzone/Z1")


def test_delete_reads_again_when_the_record_changed_meanwhile(
    make_ctx: MakeCtx, zone: str, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Any = resource_type("route53.record")
    ctx = make_ctx("route53.record.a")
    id = rt.create(
        ctx, rt.parse_props({"zone_id": zone, "name": "db.example.com", "type": "A", "values": ["10.0.0.1"]})
    )
    client = aws.client("route53")
    real, sent = client.change_resource_record_sets, []

    def changed_once(**kw: Any) -> Any:
        sent.append(kw["ChangeBatch"]["Changes"][0]["ResourceRecordSet"]["ResourceRecords"])
        if len(sent) == 1:
            # what AWS answers when the record changed between the read and the DELETE
            _upsert(
                zone, {"Name": "db.example.com.", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "10.0.0.7"}]}
            )
            raise ClientError(
                {
                    "Error": {
                        "Code": "InvalidChangeBatch",
                        "Message": "[Tried to delete resource record set [name='db.example.com.', type='A'] but the "
                        "values provided do not match the current values]",
                    }
                },
                "ChangeResourceRecordSets",
            )
        return real(**kw)

    monkeypatch.setattr(client, "change_resource_record_sets", changed_once)
    rt.delete(ctx, id, {}, None)
    assert sent == [[{"Value": "10.0.0.1"}], [{"Value": "10.0.0.7"}]]
    assert rt.read(ctx, id) is None


def test_missing_recognises_a_delete_of_nothing() -> None:
    rt: Any = resource_type("route53.record")
    msg = "[Tried to delete resource record set [name='db.example.com.', type='A'] but it was not found]"
    assert rt.missing(ClientError({"Error": {"Code": "InvalidChangeBatch", "Message": msg}}, "X"))
    other = "[RRSet of type CNAME with DNS name www.example.com. is not permitted at apex]"
    assert not rt.missing(ClientError({"Error": {"Code": "InvalidChangeBatch", "Message": other}}, "X"))
    assert rt.missing(ClientError({"Error": {"Code": "NoSuchHostedZone", "Message": "x"}}, "X"))
