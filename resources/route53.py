"""Route 53: one record set (simple routing) in an existing hosted zone, either an alias (to a load balancer,
an API Gateway domain...) or a TTL and values.

Calls: ChangeResourceRecordSets (UPSERT, DELETE), GetChange, ListResourceRecordSets.

Records carry no tags and have no ARN; a record is its zone, name and type: id ``"<zone id>|<name>|<type>"``,
e.g. ``Z0123456789ABC|mlflow.example.com|A``. Names are kept in one normal form (lower case, no trailing
dot, Route 53's ``\\052``-style escapes decoded) so that what AWS answers equals what was asked for; the same
goes for an alias's DNS name and for zone ids, which may come as ``/hostedzone/Z123`` or ``Z123``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from resources.base import Observed, Props, Resource, error_code, error_message, register

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

_SEP = "|"
_OCTAL = re.compile(r"\\([0-7]{3})")
#: a change of the zone submitted just before has not been applied yet (AWS asks to retry)
_BUSY = ("PriorRequestNotComplete",)
#: the TTL of a plain record that names none
DEFAULT_TTL = 300


def normal_name(v: str) -> str:
    """``MLflow.Example.com.`` and ``\\052.example.com`` -> ``mlflow.example.com`` and ``*.example.com``."""
    name = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), v.strip()).rstrip(".").lower()
    if not name:
        raise ValueError("a record name must not be empty")
    return name


def zone_id(v: str) -> str:
    """``/hostedzone/Z123`` -> ``Z123``."""
    return v.strip().rsplit("/", 1)[-1]


class AliasTarget(BaseModel):
    """Where an alias record points: a load balancer's DNS name and canonical hosted zone id, say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dns_name: str
    hosted_zone_id: str
    evaluate_target_health: bool = False

    _dns = field_validator("dns_name")(classmethod(lambda cls, v: normal_name(v)))
    _zone = field_validator("hosted_zone_id")(classmethod(lambda cls, v: zone_id(v)))


class RecordProps(Props):
    zone_id: str
    #: fully qualified; any case, with or without the trailing dot
    name: str
    type: str = Field(min_length=1)
    #: an alias record (then no ttl and no values)...
    alias: AliasTarget | None = None
    #: ...or a plain one: a TTL (300 when not given) and one or more values, in any order
    ttl: int | None = Field(default=None, ge=0)
    values: list[str] = []

    _zone = field_validator("zone_id")(classmethod(lambda cls, v: zone_id(v)))
    _name = field_validator("name")(classmethod(lambda cls, v: normal_name(v)))
    _type = field_validator("type")(classmethod(lambda cls, v: v.strip().upper()))

    @model_validator(mode="after")
    def _alias_or_values(self) -> RecordProps:
        if self.alias is not None:
            if self.ttl is not None or self.values:
                raise ValueError("an alias record takes neither ttl nor values (the alias target decides them)")
        else:
            if not self.values:
                raise ValueError("a record needs either an alias or one or more values")
            if self.ttl is None:
                self.ttl = DEFAULT_TTL
        return self


def _record_id(zone: str, name: str, type: str) -> str:
    return _SEP.join((zone, name, type))


def _split_id(id: str) -> tuple[str, str, str]:
    zone, rest = id.split(_SEP, 1)
    name, type = rest.rsplit(_SEP, 1)
    return zone, name, type


def _record_set(props: RecordProps) -> dict[str, Any]:
    rrset: dict[str, Any] = {"Name": f"{props.name}.", "Type": props.type}
    if props.alias is not None:
        rrset["AliasTarget"] = {
            "HostedZoneId": props.alias.hosted_zone_id,
            "DNSName": f"{props.alias.dns_name}.",
            "EvaluateTargetHealth": props.alias.evaluate_target_health,
        }
    else:
        rrset["TTL"] = props.ttl
        rrset["ResourceRecords"] = [{"Value": v} for v in props.values]
    return rrset


@register
class Record(Resource[RecordProps]):
    """ChangeResourceRecordSets UPSERT (create and update: a retried create that went through is no error)
    and DELETE (with the record's current values, which a DELETE must match exactly, so it reads first),
    GetChange (waits for INSYNC), ListResourceRecordSets (read: the first record from name and type on).

    Only simple routing: a record set with a SetIdentifier (weighted, latency...) is not this node's.
    """

    kind = "route53.record"
    service = "route53"
    Props = RecordProps
    replace_on: ClassVar = frozenset({"zone_id", "name", "type"})
    unordered: ClassVar = frozenset({"values"})
    taggable = False
    timeout = 600.0  # a change is usually INSYNC within a minute

    def id_from_arn(self, arn: str) -> str:
        raise ValueError(f"Route 53 records have no ARN and carry no tags; {arn!r} is not one")

    def missing(self, err: BaseException) -> bool:
        # a DELETE of a record that is not there: InvalidChangeBatch "... but it was not found"
        if error_code(err) == "InvalidChangeBatch" and "not found" in error_message(err).lower():
            return True
        return super().missing(err)

    def _current(self, ctx: NodeContext, id: str) -> dict[str, Any] | None:
        """The record set as AWS holds it, or None."""
        zone, name, type = _split_id(id)
        try:
            items = ctx.client("route53").list_resource_record_sets(
                HostedZoneId=zone, StartRecordName=f"{name}.", StartRecordType=type, MaxItems="1"
            )["ResourceRecordSets"]
        except ClientError as err:
            if self.missing(err):  # NoSuchHostedZone
                return None
            raise
        # the listing starts at name/type: the first record is the next one when ours does not exist
        rr = items[0] if items else None
        if rr is None or normal_name(rr["Name"]) != name or rr["Type"] != type or "SetIdentifier" in rr:
            return None
        return dict(rr)

    def find(self, ctx: NodeContext, props: RecordProps) -> str | None:
        id = _record_id(props.zone_id, props.name, props.type)
        return id if self._current(ctx, id) is not None else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        rr = self._current(ctx, id)
        if rr is None:
            return None
        zone, name, type = _split_id(id)
        at = rr.get("AliasTarget")
        alias = (
            {
                "dns_name": normal_name(at["DNSName"]),
                "hosted_zone_id": zone_id(at["HostedZoneId"]),
                "evaluate_target_health": bool(at.get("EvaluateTargetHealth", False)),
            }
            if at
            else None
        )
        props = {
            "zone_id": zone,
            "name": name,
            "type": type,
            "alias": alias,
            "ttl": None if at else rr.get("TTL"),
            "values": [r["Value"] for r in rr.get("ResourceRecords", [])],
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": name, "fqdn": name, "zone_id": zone})

    def _change(self, ctx: NodeContext, zone: str, action: str, rrset: Mapping[str, Any]) -> str:
        info = ctx.call(
            ctx.client("route53").change_resource_record_sets,
            retry_on=_BUSY,
            HostedZoneId=zone,
            ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": dict(rrset)}]},
        )["ChangeInfo"]
        return str(info["Id"])

    def _insync(self, ctx: NodeContext, change: str) -> None:
        def check() -> bool | str:
            status = str(ctx.client("route53").get_change(Id=change)["ChangeInfo"]["Status"])
            return True if status == "INSYNC" else status

        ctx.wait("record change in sync", check)

    def create(self, ctx: NodeContext, props: RecordProps) -> str:
        change = self._change(ctx, props.zone_id, "UPSERT", _record_set(props))
        id = _record_id(props.zone_id, props.name, props.type)
        ctx.created(id)
        self._insync(ctx, change)
        return id

    def update(self, ctx: NodeContext, id: str, props: RecordProps, observed: Observed, changes: set[str]) -> None:
        self._insync(ctx, self._change(ctx, props.zone_id, "UPSERT", _record_set(props)))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: RecordProps | None) -> None:
        """Gone already is done (nothing to send: a DELETE needs the current values); a record changed between
        the read and the DELETE is read again."""
        zone = _split_id(id)[0]
        for _ in range(3):
            current = self._current(ctx, id)
            if current is None:
                return
            try:
                change = self._change(ctx, zone, "DELETE", current)
            except ClientError as err:
                if self.missing(err):
                    return
                if error_code(err) == "InvalidChangeBatch" and "do not match" in error_message(err).lower():
                    continue  # changed meanwhile: read the new values and try again
                raise
            self._insync(ctx, change)
            return
        raise RuntimeError(f"{id}: the record kept changing while being deleted")
