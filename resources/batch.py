"""AWS Batch: managed compute environments and job queues.

Calls: CreateComputeEnvironment, DescribeComputeEnvironments, UpdateComputeEnvironment,
DeleteComputeEnvironment, CreateJobQueue, DescribeJobQueues, UpdateJobQueue, DeleteJobQueue,
TagResource.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import model_validator

from provisioner.retry import WaitFailed
from resources.base import Observed, Props, Resource, register

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext

#: just after its roles and instance profile were made, Batch may not see them yet
IAM_NOT_YET = (
    "ClientException:not authorized",
    "ClientException:unable to assume",
    "ClientException:Invalid IamInstanceProfile",
    "ClientException:instance profile",
    "ClientException:serviceRole",
)
_GONE = ("DELETED", "DELETING")


def _status_check(describe: Any, name: str) -> Any:
    """A wait check: True once VALID; raises on INVALID; the status text otherwise."""

    def check() -> bool | str:
        item = describe(name)
        if item is None:
            return "absent"
        if item.get("status") == "INVALID":
            raise WaitFailed(f"{name} is INVALID: {item.get('statusReason', '')}")
        return True if item.get("status") == "VALID" else str(item.get("status"))

    return check


class ComputeEnvironmentProps(Props):
    name: str
    compute_type: str = "SPOT"
    allocation_strategy: str | None = "SPOT_CAPACITY_OPTIMIZED"
    instance_types: list[str] = ["optimal"]
    min_vcpus: int = 0
    #: sent on create only: Batch moves it at runtime
    desired_vcpus: int = 0
    max_vcpus: int = 64
    subnets: list[str]
    security_group_ids: list[str]
    instance_role: str | None = None
    service_role: str
    launch_template_id: str | None = None
    launch_template_version: str | None = None
    bid_percentage: int | None = None
    state: str = "ENABLED"

    @model_validator(mode="after")
    def _check(self) -> ComputeEnvironmentProps:
        if self.compute_type not in ("EC2", "SPOT", "FARGATE", "FARGATE_SPOT"):
            raise ValueError(f"compute_type {self.compute_type!r} is not EC2, SPOT, FARGATE or FARGATE_SPOT")
        if not self.min_vcpus <= self.desired_vcpus <= self.max_vcpus:
            raise ValueError("min_vcpus <= desired_vcpus <= max_vcpus must hold")
        if self.compute_type.startswith("FARGATE") and (self.instance_role or self.launch_template_id):
            raise ValueError("Fargate compute environments take no instance role or launch template")
        return self

    @property
    def fargate(self) -> bool:
        return self.compute_type.startswith("FARGATE")


@register
class ComputeEnvironment(Resource[ComputeEnvironmentProps]):
    kind = "batch.compute_environment"
    service = "batch"
    Props = ComputeEnvironmentProps
    replace_on: ClassVar = frozenset(
        {"name", "compute_type", "allocation_strategy", "instance_role", "launch_template_id", "bid_percentage"}
    )
    unordered: ClassVar = frozenset({"instance_types", "subnets", "security_group_ids"})
    behaviour_fields: ClassVar = frozenset({"desired_vcpus"})
    duplicate_codes: ClassVar = frozenset({"ClientException:already exists"})
    timeout = 900.0

    def duplicate(self, err: BaseException) -> bool:
        from resources.base import error_code, error_message

        return error_code(err) == "ClientException" and "already exists" in error_message(err)

    def _describe_many(self, ctx: NodeContext, names: list[str]) -> list[dict[str, Any]]:
        items = ctx.client("batch").describe_compute_environments(computeEnvironments=names)["computeEnvironments"]
        return [i for i in items if i.get("status") not in _GONE]

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        items = self._describe_many(ctx, [name])
        return items[0] if items else None

    def find(self, ctx: NodeContext, props: ComputeEnvironmentProps) -> str | None:
        return props.name if self._describe(ctx, props.name) else None

    def _observe(self, item: dict[str, Any]) -> Observed:
        cr = item.get("computeResources", {})
        lt = cr.get("launchTemplate") or {}
        name = item["computeEnvironmentName"]
        props = {
            "name": name,
            "compute_type": cr.get("type"),
            "allocation_strategy": cr.get("allocationStrategy"),
            "instance_types": sorted(cr.get("instanceTypes", [])),
            "min_vcpus": cr.get("minvCpus", 0),
            "max_vcpus": cr.get("maxvCpus"),
            "subnets": sorted(cr.get("subnets", [])),
            "security_group_ids": sorted(cr.get("securityGroupIds", [])),
            "instance_role": cr.get("instanceRole"),
            "service_role": item.get("serviceRole"),
            "launch_template_id": lt.get("launchTemplateId"),
            "launch_template_version": lt.get("version"),
            "bid_percentage": cr.get("bidPercentage"),
            "state": item.get("state"),
            "tags": {k: v for k, v in (item.get("tags") or {}).items() if not k.startswith("aws:")},
        }
        attrs = {"id": name, "name": name, "arn": item["computeEnvironmentArn"]}
        return Observed(id=name, props=props, attrs=attrs)

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        item = self._describe(ctx, id)
        return self._observe(item) if item else None

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        return {o.id: o for o in (self._observe(i) for i in self._describe_many(ctx, ids))}

    def create(self, ctx: NodeContext, props: ComputeEnvironmentProps) -> str:
        cr: dict[str, Any] = {
            "type": props.compute_type,
            "maxvCpus": props.max_vcpus,
            "subnets": props.subnets,
            "securityGroupIds": props.security_group_ids,
        }
        if not props.fargate:
            cr.update(
                minvCpus=props.min_vcpus,
                desiredvCpus=props.desired_vcpus,
                instanceTypes=props.instance_types,
                instanceRole=props.instance_role,
            )
            if props.allocation_strategy:
                cr["allocationStrategy"] = props.allocation_strategy
            if props.launch_template_id:
                lt: dict[str, str] = {"launchTemplateId": props.launch_template_id}
                if props.launch_template_version:
                    lt["version"] = props.launch_template_version
                cr["launchTemplate"] = lt
            if props.bid_percentage is not None:
                cr["bidPercentage"] = props.bid_percentage
        batch = ctx.client("batch")
        ctx.call(
            batch.create_compute_environment,
            retry_on=IAM_NOT_YET,
            computeEnvironmentName=props.name,
            type="MANAGED",
            state=props.state,
            computeResources=cr,
            serviceRole=props.service_role,
            tags=dict(ctx.tags),
        )
        ctx.created(props.name)
        ctx.wait("compute environment VALID", _status_check(lambda n: self._describe(ctx, n), props.name))
        return props.name

    def update(
        self, ctx: NodeContext, id: str, props: ComputeEnvironmentProps, observed: Observed, changes: set[str]
    ) -> None:
        batch = ctx.client("batch")
        if changes - {"tags"}:
            cr: dict[str, Any] = {
                "maxvCpus": props.max_vcpus,
                "subnets": props.subnets,
                "securityGroupIds": props.security_group_ids,
            }
            if not props.fargate:
                cr.update(minvCpus=props.min_vcpus, instanceTypes=props.instance_types)
            batch.update_compute_environment(
                computeEnvironment=id, state=props.state, computeResources=cr, serviceRole=props.service_role
            )
            ctx.wait("compute environment VALID", _status_check(lambda n: self._describe(ctx, n), id))
        if "tags" in changes:
            batch.tag_resource(resourceArn=observed.attrs["arn"], tags=dict(ctx.tags))

    def delete(
        self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ComputeEnvironmentProps | None
    ) -> None:
        batch = ctx.client("batch")
        item = self._describe(ctx, id)
        if item is None:
            return
        if item.get("state") != "DISABLED":
            batch.update_compute_environment(computeEnvironment=id, state="DISABLED")
            ctx.wait(
                "compute environment disabled", lambda: (self._describe(ctx, id) or {}).get("status") != "UPDATING"
            )
        ctx.call(batch.delete_compute_environment, retry_on=("ClientException:job queue",), computeEnvironment=id)
        ctx.wait("compute environment deleted", lambda: self._describe(ctx, id) is None)


class JobQueueProps(Props):
    name: str
    priority: int = 1
    #: compute environment ARNs, in the order jobs try them
    compute_environments: list[str]
    state: str = "ENABLED"


@register
class JobQueue(Resource[JobQueueProps]):
    kind = "batch.job_queue"
    service = "batch"
    Props = JobQueueProps
    replace_on: ClassVar = frozenset({"name"})

    def duplicate(self, err: BaseException) -> bool:
        from resources.base import error_code, error_message

        return error_code(err) == "ClientException" and "already exists" in error_message(err)

    def _describe_many(self, ctx: NodeContext, names: list[str]) -> list[dict[str, Any]]:
        items = ctx.client("batch").describe_job_queues(jobQueues=names)["jobQueues"]
        return [i for i in items if i.get("status") not in _GONE]

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        items = self._describe_many(ctx, [name])
        return items[0] if items else None

    def find(self, ctx: NodeContext, props: JobQueueProps) -> str | None:
        return props.name if self._describe(ctx, props.name) else None

    def _observe(self, item: dict[str, Any]) -> Observed:
        name = item["jobQueueName"]
        order = sorted(item.get("computeEnvironmentOrder", []), key=lambda o: o["order"])
        props = {
            "name": name,
            "priority": item.get("priority"),
            "compute_environments": [o["computeEnvironment"] for o in order],
            "state": item.get("state"),
            "tags": {k: v for k, v in (item.get("tags") or {}).items() if not k.startswith("aws:")},
        }
        return Observed(id=name, props=props, attrs={"id": name, "name": name, "arn": item["jobQueueArn"]})

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        item = self._describe(ctx, id)
        return self._observe(item) if item else None

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        return {o.id: o for o in (self._observe(i) for i in self._describe_many(ctx, ids))}

    @staticmethod
    def _order(props: JobQueueProps) -> list[dict[str, Any]]:
        return [{"order": i + 1, "computeEnvironment": ce} for i, ce in enumerate(props.compute_environments)]

    def create(self, ctx: NodeContext, props: JobQueueProps) -> str:
        ctx.client("batch").create_job_queue(
            jobQueueName=props.name,
            state=props.state,
            priority=props.priority,
            computeEnvironmentOrder=self._order(props),
            tags=dict(ctx.tags),
        )
        ctx.created(props.name)
        ctx.wait("job queue VALID", _status_check(lambda n: self._describe(ctx, n), props.name))
        return props.name

    def update(self, ctx: NodeContext, id: str, props: JobQueueProps, observed: Observed, changes: set[str]) -> None:
        batch = ctx.client("batch")
        if changes - {"tags"}:
            batch.update_job_queue(
                jobQueue=id, state=props.state, priority=props.priority, computeEnvironmentOrder=self._order(props)
            )
        if "tags" in changes:
            batch.tag_resource(resourceArn=observed.attrs["arn"], tags=dict(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: JobQueueProps | None) -> None:
        batch = ctx.client("batch")
        item = self._describe(ctx, id)
        if item is None:
            return
        if item.get("state") != "DISABLED":
            batch.update_job_queue(jobQueue=id, state="DISABLED")
            ctx.wait("job queue disabled", lambda: (self._describe(ctx, id) or {}).get("status") != "UPDATING")
        batch.delete_job_queue(jobQueue=id)
        ctx.wait("job queue deleted", lambda: self._describe(ctx, id) is None)
