"""Lambda: a zip function built in memory from Python source (the DB-migration trigger).

Calls: CreateFunction, GetFunction, UpdateFunctionCode, UpdateFunctionConfiguration, TagResource,
DeleteFunction; EC2 DescribeNetworkInterfaces (to wait for the ENIs a VPC function leaves behind).
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import model_validator

from provisioner.core.retry import WaitFailed
from resources.base import Observed, Props, Resource, register
from resources.pricing import CostLine, Where, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

#: a role made seconds ago is not yet assumable by Lambda
ROLE_NOT_YET = ("InvalidParameterValueException:cannot be assumed", "InvalidParameterValueException:role")


def build_zip(source: str, filename: str = "index.py") -> bytes:
    """A deterministic zip (fixed timestamp and mode), so the same source always has the same hash."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(filename, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        zf.writestr(info, source)
    return buf.getvalue()


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class FunctionProps(Props):
    name: str
    runtime: str = "python3.12"
    handler: str = "index.handler"
    role_arn: str
    timeout: int = 60
    memory_size: int = 128
    environment: dict[str, str] = {}
    subnet_ids: list[str] = []
    security_group_ids: list[str] = []
    #: the function's Python source (index.py); compared through ``code_sha256``
    source: str
    #: computed from ``source``: what AWS reports as CodeSha256
    code_sha256: str = ""

    @model_validator(mode="after")
    def _hash(self) -> FunctionProps:
        self.code_sha256 = sha256_b64(build_zip(self.source))
        return self


@register
class Function(Resource[FunctionProps]):
    kind = "lambda.function"
    service = "lambda"
    Props = FunctionProps
    replace_on: ClassVar = frozenset({"name"})
    unordered: ClassVar = frozenset({"subnet_ids", "security_group_ids"})
    behaviour_fields: ClassVar = frozenset({"source"})
    duplicate_codes: ClassVar = frozenset({"ResourceConflictException"})
    timeout = 1800.0  # deleting a VPC function's ENIs can take AWS 20 minutes

    def find(self, ctx: NodeContext, props: FunctionProps) -> str | None:
        return props.name if self._get(ctx, props.name) else None

    def _get(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        try:
            return dict(ctx.client("lambda").get_function(FunctionName=name))
        except ClientError as err:
            if self.missing(err):
                return None
            raise

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        got = self._get(ctx, id)
        if got is None:
            return None
        cfg = got["Configuration"]
        vpc = cfg.get("VpcConfig") or {}
        props = {
            "name": cfg["FunctionName"],
            "runtime": cfg.get("Runtime"),
            "handler": cfg.get("Handler"),
            "role_arn": cfg.get("Role"),
            "timeout": cfg.get("Timeout"),
            "memory_size": cfg.get("MemorySize"),
            "environment": dict((cfg.get("Environment") or {}).get("Variables") or {}),
            "subnet_ids": sorted(vpc.get("SubnetIds") or []),
            "security_group_ids": sorted(vpc.get("SecurityGroupIds") or []),
            "code_sha256": cfg.get("CodeSha256"),
            "tags": {k: v for k, v in (got.get("Tags") or {}).items() if not k.startswith("aws:")},
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": id, "arn": cfg["FunctionArn"]})

    def _config(self, props: FunctionProps) -> dict[str, Any]:
        return {
            "Runtime": props.runtime,
            "Handler": props.handler,
            "Role": props.role_arn,
            "Timeout": props.timeout,
            "MemorySize": props.memory_size,
            "Environment": {"Variables": props.environment},
            "VpcConfig": {"SubnetIds": props.subnet_ids, "SecurityGroupIds": props.security_group_ids},
        }

    def _settled(self, ctx: NodeContext, name: str) -> bool | str:
        cfg = (self._get(ctx, name) or {}).get("Configuration", {})
        if cfg.get("State") == "Failed" or cfg.get("LastUpdateStatus") == "Failed":
            raise WaitFailed(f"function {name} failed: {cfg.get('StateReason') or cfg.get('LastUpdateStatusReason')}")
        done = cfg.get("State") == "Active" and cfg.get("LastUpdateStatus", "Successful") == "Successful"
        return True if done else f"{cfg.get('State')}/{cfg.get('LastUpdateStatus')}"

    def create(self, ctx: NodeContext, props: FunctionProps) -> str:
        ctx.call(
            ctx.client("lambda").create_function,
            retry_on=ROLE_NOT_YET,
            FunctionName=props.name,
            Code={"ZipFile": build_zip(props.source)},
            Tags=dict(ctx.tags),
            **self._config(props),
        )
        ctx.created(props.name)
        ctx.wait("function Active", lambda: self._settled(ctx, props.name))
        return props.name

    def update(self, ctx: NodeContext, id: str, props: FunctionProps, observed: Observed, changes: set[str]) -> None:
        lam = ctx.client("lambda")
        if "code_sha256" in changes:
            lam.update_function_code(FunctionName=id, ZipFile=build_zip(props.source))
            ctx.wait("code updated", lambda: self._settled(ctx, id))
        if changes - {"code_sha256", "tags", "name"}:
            ctx.call(lam.update_function_configuration, retry_on=ROLE_NOT_YET, FunctionName=id, **self._config(props))
            ctx.wait("configuration updated", lambda: self._settled(ctx, id))
        if "tags" in changes:
            lam.tag_resource(Resource=observed.attrs["arn"], Tags=dict(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: FunctionProps | None) -> None:
        ctx.client("lambda").delete_function(FunctionName=id)
        # A VPC function leaves ENIs that keep its security group and subnets busy for a while.
        ec2 = ctx.client("ec2")

        def enis_gone() -> bool | str:
            enis = ec2.describe_network_interfaces(
                Filters=[{"Name": "description", "Values": [f"AWS Lambda VPC ENI-{id}*"]}]
            )["NetworkInterfaces"]
            return True if not enis else f"{len(enis)} ENI(s) left"

        ctx.wait("its network interfaces released", enis_gone)

    def monthly_cost(self, props: FunctionProps, where: Where) -> list[CostLine]:
        return [usage_based("invocations and duration")]
