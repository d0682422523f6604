"""AWS Batch: managed compute environments and job queues.

Calls: CreateComputeEnvironment, DescribeComputeEnvironments, UpdateComputeEnvironment,
DeleteComputeEnvironment, CreateJobQueue, DescribeJobQueues, UpdateJobQueue, DeleteJobQueue,
TagResource.

Batch has no waiters and reports failure asynchronously: a create or update that was accepted can
still end INVALID (a role that cannot be assumed yet, a missing permission), with the reason in
``statusReason``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import model_validator

from provisioner.core.retry import WaitFailed
from resources.base import Observed, Props, Resource, error_message, register
from resources.pricing import CostLine, Where, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

COMPUTE_TYPES = ("EC2", "SPOT", "FARGATE", "FARGATE_SPOT")
EC2_STRATEGIES = ("BEST_FIT", "BEST_FIT_PROGRESSIVE")
SPOT_STRATEGIES = (*EC2_STRATEGIES, "SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED")
#: what Batch uses when a create names no allocation strategy
DEFAULT_STRATEGY = "BEST_FIT"
STATES = ("ENABLED", "DISABLED")
#: DescribeComputeEnvironments / DescribeJobQueues take at most 100 names
_DESCRIBE_BATCH = 100
#: a job queue orders at most 3 compute environments
_MAX_QUEUE_CES = 3

#: just after its roles and instance profile were made, CreateComputeEnvironment may not see them yet
IAM_NOT_YET = (
    "ClientException:not authorized",
    "ClientException:unable to assume",
    "ClientException:Invalid IamInstanceProfile",
    "ClientException:instance profile",
    "ClientException:serviceRole",
)
#: a CE cannot go while a queue (even one being deleted) still lists it, nor while it is being modified
_CE_STILL_USED = ("ClientException:JobQueue relationship", "ClientException:being modified")
_GONE = ("DELETED", "DELETING")
#: the service-linked role Batch reports as serviceRole when a create named none ("Using service-linked roles for
#: AWS Batch"); read back as None, as it was asked for
_SERVICE_LINKED = ":role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"


def _is_duplicate(err: BaseException) -> bool:
    """Batch answers a create of an existing name with a ClientException ("Object already exists")."""
    return isinstance(err, ClientError) and "already exists" in error_message(err).lower()


def _chunks(names: list[str]) -> list[list[str]]:
    return [names[i : i + _DESCRIBE_BATCH] for i in range(0, len(names), _DESCRIBE_BATCH)]


def _wait_settled(
    ctx: NodeContext, what: str, name: str, describe: Callable[[str], dict[str, Any] | None], *, absent_ok: bool
) -> None:
    """Wait until ``name`` is VALID or INVALID (not CREATING/UPDATING); raise WaitFailed when INVALID.

    The check itself never raises, so the status reason reaches the error intact.
    """
    last: dict[str, Any] = {}

    def check() -> bool | str:
        item = describe(name)
        if item is None:
            return True if absent_ok else "absent"
        last.clear()
        last.update(item)
        status = str(item.get("status"))
        return True if status in ("VALID", "INVALID") else status

    ctx.wait(what, check)
    if last.get("status") == "INVALID":
        raise WaitFailed(f"{name} is INVALID: {last.get('statusReason') or 'no reason given'}")


class ComputeEnvironmentProps(Props):
    name: str
    #: EC2, SPOT, FARGATE or FARGATE_SPOT
    compute_type: str = "SPOT"
    #: None for Fargate (set by itself when left out); None for EC2/SPOT means Batch's BEST_FIT
    allocation_strategy: str | None = "SPOT_CAPACITY_OPTIMIZED"
    #: not for Fargate (left at the default, it becomes [])
    instance_types: list[str] = ["optimal"]
    min_vcpus: int = 0
    #: sent on create only: Batch moves it at runtime
    desired_vcpus: int = 0
    max_vcpus: int = 64
    subnets: list[str]
    security_group_ids: list[str]
    #: instance profile ARN; None for Fargate
    instance_role: str | None = None
    #: role ARN Batch acts as; None: Batch's service-linked role AWSServiceRoleForBatch (created by Batch when
    #: absent), which AWS recommends and infrastructure updates require
    service_role: str | None = None
    launch_template_id: str | None = None
    #: sent as given ("$Default", "$Latest" or a number)
    launch_template_version: str | None = None
    bid_percentage: int | None = None
    state: str = "ENABLED"

    @property
    def fargate(self) -> bool:
        return self.compute_type.startswith("FARGATE")

    @model_validator(mode="after")
    def _check(self) -> ComputeEnvironmentProps:
        if self.compute_type not in COMPUTE_TYPES:
            raise ValueError(f"compute_type {self.compute_type!r} is not one of {', '.join(COMPUTE_TYPES)}")
        if self.state not in STATES:
            raise ValueError(f"state {self.state!r} is not ENABLED or DISABLED")
        if not 0 <= self.min_vcpus <= self.desired_vcpus <= self.max_vcpus:
            raise ValueError(
                f"vCPUs must satisfy 0 <= min_vcpus <= desired_vcpus <= max_vcpus; got min {self.min_vcpus}, "
                f"desired {self.desired_vcpus}, max {self.max_vcpus}"
            )
        if self.launch_template_version and not self.launch_template_id:
            raise ValueError("launch_template_version needs launch_template_id")
        if self.fargate:
            self._fargate_defaults()
        else:
            self._ec2_checks()
        return self

    def _fargate_defaults(self) -> None:
        given = self.model_fields_set
        if "allocation_strategy" not in given:
            self.allocation_strategy = None
        if "instance_types" not in given or self.instance_types == ["optimal"]:
            self.instance_types = []
        wrong = [
            label
            for label, bad in (
                ("allocation_strategy", self.allocation_strategy is not None),
                ("instance_types", bool(self.instance_types)),
                ("instance_role", self.instance_role is not None),
                ("launch template", self.launch_template_id is not None),
                ("bid_percentage", self.bid_percentage is not None),
                ("min_vcpus/desired_vcpus", bool(self.min_vcpus or self.desired_vcpus)),
            )
            if bad
        ]
        if wrong:
            raise ValueError(
                f"{self.compute_type} compute environments take no {', '.join(wrong)}: Fargate picks and sizes "
                "the capacity itself; leave them unset"
            )

    def _ec2_checks(self) -> None:
        if self.allocation_strategy is None:
            # Say what Batch will do, so the read-back matches.
            self.allocation_strategy = DEFAULT_STRATEGY
        allowed = SPOT_STRATEGIES if self.compute_type == "SPOT" else EC2_STRATEGIES
        if self.allocation_strategy not in allowed:
            raise ValueError(
                f"allocation_strategy {self.allocation_strategy!r} is not valid for {self.compute_type}; "
                f"use one of {', '.join(allowed)}"
            )
        if not self.instance_role:
            raise ValueError(f"{self.compute_type} compute environments need instance_role (an instance profile ARN)")
        if not self.instance_types:
            raise ValueError("instance_types must name at least one instance type or family (or 'optimal')")
        if self.bid_percentage is not None:
            if self.compute_type != "SPOT":
                raise ValueError("bid_percentage applies to SPOT compute environments only")
            if not 0 < self.bid_percentage <= 100:
                raise ValueError(f"bid_percentage {self.bid_percentage} is not between 1 and 100")


@register
class ComputeEnvironment(Resource[ComputeEnvironmentProps]):
    kind = "batch.compute_environment"
    service = "batch"
    Props = ComputeEnvironmentProps
    # Batch changes these in place only through an "infrastructure update", which needs the
    # AWSServiceRoleForBatch service-linked role and a non-BEST_FIT strategy; mfprov passes its own service
    # role, so AWS would refuse. A new compute environment it is (the job queue follows).
    replace_on: ClassVar = frozenset(
        {
            "name",
            "compute_type",
            "allocation_strategy",
            "instance_types",
            "subnets",
            "security_group_ids",
            "instance_role",
            "launch_template_id",
            "launch_template_version",
            "bid_percentage",
        }
    )
    unordered: ClassVar = frozenset({"instance_types", "subnets", "security_group_ids"})
    behaviour_fields: ClassVar = frozenset({"desired_vcpus"})
    duplicate_codes: ClassVar = frozenset({"ClientException"})
    timeout = 900.0

    def duplicate(self, err: BaseException) -> bool:
        return _is_duplicate(err)

    def forces_replacement(self, field: str, desired: Any, actual: Any) -> bool:
        # "You can't switch between a service-linked role and a regular IAM role" (UpdateComputeEnvironment): a
        # stack built with a role of its own that moves to the service-linked role (or back) gets a new environment
        if field == "service_role" and (desired is None) != (actual is None):
            return True
        return super().forces_replacement(field, desired, actual)

    # ------------------------------------------------------------------ describe

    def _describe_all(self, ctx: NodeContext, names: list[str]) -> list[dict[str, Any]]:
        """Every listed CE Batch still reports, DELETING and DELETED ones included."""
        batch = ctx.client("batch")
        out: list[dict[str, Any]] = []
        for chunk in _chunks(names):
            out += batch.describe_compute_environments(computeEnvironments=chunk)["computeEnvironments"]
        return out

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        """The CE, or None when absent, deleting or deleted."""
        items = [i for i in self._describe_all(ctx, [name]) if i.get("status") not in _GONE]
        return items[0] if items else None

    def _describe_until_deleted(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        """The CE while it exists at all: a DELETING CE still needs its service role."""
        items = [i for i in self._describe_all(ctx, [name]) if i.get("status") != "DELETED"]
        return items[0] if items else None

    def find(self, ctx: NodeContext, props: ComputeEnvironmentProps) -> str | None:
        return props.name if self._describe(ctx, props.name) else None

    def _observe(self, item: dict[str, Any]) -> Observed:
        cr = item.get("computeResources") or {}
        lt = cr.get("launchTemplate") or {}
        name = item["computeEnvironmentName"]
        fargate = str(cr.get("type", "")).startswith("FARGATE")
        props = {
            "name": name,
            "compute_type": cr.get("type"),
            "allocation_strategy": cr.get("allocationStrategy") or (None if fargate else DEFAULT_STRATEGY),
            "instance_types": sorted(cr.get("instanceTypes") or []),
            "min_vcpus": cr.get("minvCpus", 0),
            "max_vcpus": cr.get("maxvCpus"),
            "subnets": sorted(cr.get("subnets") or []),
            "security_group_ids": sorted(cr.get("securityGroupIds") or []),
            "instance_role": cr.get("instanceRole"),
            "service_role": None
            if str(item.get("serviceRole") or "").endswith(_SERVICE_LINKED)
            else item.get("serviceRole"),
            "launch_template_id": lt.get("launchTemplateId"),
            "launch_template_version": lt.get("version"),
            "bid_percentage": cr.get("bidPercentage") or None,  # 0 / absent: no bid cap set
            "state": item.get("state"),
            "tags": {k: v for k, v in (item.get("tags") or {}).items() if not k.startswith("aws:")},
        }
        attrs = {"id": name, "name": name, "arn": item["computeEnvironmentArn"]}
        return Observed(id=name, props=props, attrs=attrs)

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        item = self._describe(ctx, id)
        return self._observe(item) if item else None

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        items = [i for i in self._describe_all(ctx, ids) if i.get("status") not in _GONE]
        return {o.id: o for o in map(self._observe, items)}

    # -------------------------------------------------------------------- hooks

    @staticmethod
    def _compute_resources(props: ComputeEnvironmentProps) -> dict[str, Any]:
        cr: dict[str, Any] = {
            "type": props.compute_type,
            "maxvCpus": props.max_vcpus,
            "subnets": props.subnets,
            "securityGroupIds": props.security_group_ids,
        }
        if props.fargate:
            return cr
        cr.update(
            minvCpus=props.min_vcpus,
            desiredvCpus=props.desired_vcpus,
            instanceTypes=props.instance_types,
            instanceRole=props.instance_role,
            allocationStrategy=props.allocation_strategy,
        )
        if props.launch_template_id:
            lt: dict[str, str] = {"launchTemplateId": props.launch_template_id}
            if props.launch_template_version:
                lt["version"] = props.launch_template_version
            cr["launchTemplate"] = lt
        if props.bid_percentage is not None:
            cr["bidPercentage"] = props.bid_percentage
        return cr

    def create(self, ctx: NodeContext, props: ComputeEnvironmentProps) -> str:
        batch = ctx.client("batch")
        # a MANAGED environment without serviceRole uses (and if need be creates) AWSServiceRoleForBatch
        role = {"serviceRole": props.service_role} if props.service_role else {}
        ctx.call(
            batch.create_compute_environment,
            retry_on=IAM_NOT_YET,
            computeEnvironmentName=props.name,
            type="MANAGED",
            state=props.state,
            computeResources=self._compute_resources(props),
            tags=dict(ctx.tags),
            **role,
        )
        ctx.created(props.name)
        _wait_settled(ctx, "compute environment VALID", props.name, lambda n: self._describe(ctx, n), absent_ok=False)
        return props.name

    def update(
        self, ctx: NodeContext, id: str, props: ComputeEnvironmentProps, observed: Observed, changes: set[str]
    ) -> None:
        batch = ctx.client("batch")
        # Only "scaling update" fields are left here (the rest are replace_on); each is sent only when changed.
        kwargs: dict[str, Any] = {}
        cr: dict[str, Any] = {}
        if "max_vcpus" in changes:
            cr["maxvCpus"] = props.max_vcpus
        if "min_vcpus" in changes and not props.fargate:
            cr["minvCpus"] = props.min_vcpus
        if cr:
            kwargs["computeResources"] = cr
        if "state" in changes:
            kwargs["state"] = props.state
        if "service_role" in changes:  # one role of the stack's own for another (a switch is a replacement)
            kwargs["serviceRole"] = props.service_role
        if kwargs:
            batch.update_compute_environment(computeEnvironment=id, **kwargs)
            _wait_settled(ctx, "compute environment updated", id, lambda n: self._describe(ctx, n), absent_ok=False)
        if "tags" in changes:
            batch.tag_resource(resourceArn=observed.attrs["arn"], tags=dict(ctx.tags))

    def delete(
        self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ComputeEnvironmentProps | None
    ) -> None:
        batch = ctx.client("batch")
        item = self._describe(ctx, id)
        if item is None:
            # Batch has no not-found error for a CE: absent (or already going) is done, bar the wait.
            ctx.wait("compute environment deleted", lambda: self._describe_until_deleted(ctx, id) is None)
            return
        if item.get("state") != "DISABLED":
            batch.update_compute_environment(computeEnvironment=id, state="DISABLED")
        # An INVALID CE can still be deleted: only wait for the UPDATING to end.
        ctx.wait(
            "compute environment disabled",
            lambda: (self._describe(ctx, id) or {}).get("status") != "UPDATING",
        )
        ctx.call(batch.delete_compute_environment, retry_on=_CE_STILL_USED, computeEnvironment=id)
        # Until DELETED, not just DELETING: a CE that loses its service role while deleting never finishes.
        ctx.wait("compute environment deleted", lambda: self._describe_until_deleted(ctx, id) is None)

    def monthly_cost(self, props: ComputeEnvironmentProps, where: Where) -> list[CostLine]:
        if props.min_vcpus and not props.compute_type.startswith("FARGATE"):
            # instances kept at min_vcpus bill by the hour whatever runs; their type is Batch's choice
            kept = f"{props.min_vcpus} vCPUs kept running (min_vcpus)"
            return [CostLine(kept, None, "EC2 instance prices are not in the table")]
        return [usage_based("instances or Fargate tasks while jobs run")]


class JobQueueProps(Props):
    name: str
    #: higher runs first when queues share compute environments
    priority: int = 1
    #: compute environment ARNs, in the order jobs try them
    compute_environments: list[str]
    state: str = "ENABLED"

    @model_validator(mode="after")
    def _check(self) -> JobQueueProps:
        if self.state not in STATES:
            raise ValueError(f"state {self.state!r} is not ENABLED or DISABLED")
        if self.priority < 0:
            raise ValueError(f"priority {self.priority} must be 0 or more")
        if not 1 <= len(self.compute_environments) <= _MAX_QUEUE_CES:
            raise ValueError(
                f"a job queue takes 1 to {_MAX_QUEUE_CES} compute environments, not {len(self.compute_environments)}"
            )
        return self


@register
class JobQueue(Resource[JobQueueProps]):
    kind = "batch.job_queue"
    service = "batch"
    Props = JobQueueProps
    replace_on: ClassVar = frozenset({"name"})
    duplicate_codes: ClassVar = frozenset({"ClientException"})

    def duplicate(self, err: BaseException) -> bool:
        return _is_duplicate(err)

    def _describe_all(self, ctx: NodeContext, names: list[str]) -> list[dict[str, Any]]:
        batch = ctx.client("batch")
        out: list[dict[str, Any]] = []
        for chunk in _chunks(names):
            out += batch.describe_job_queues(jobQueues=chunk)["jobQueues"]
        return out

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        items = [i for i in self._describe_all(ctx, [name]) if i.get("status") not in _GONE]
        return items[0] if items else None

    def _describe_until_deleted(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        """The queue while it exists at all: a DELETING queue still holds on to its CEs."""
        items = [i for i in self._describe_all(ctx, [name]) if i.get("status") != "DELETED"]
        return items[0] if items else None

    def find(self, ctx: NodeContext, props: JobQueueProps) -> str | None:
        return props.name if self._describe(ctx, props.name) else None

    def _observe(self, item: dict[str, Any]) -> Observed:
        name = item["jobQueueName"]
        order = sorted(item.get("computeEnvironmentOrder") or [], key=lambda o: o["order"])
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
        items = [i for i in self._describe_all(ctx, ids) if i.get("status") not in _GONE]
        return {o.id: o for o in map(self._observe, items)}

    @staticmethod
    def _order(props: JobQueueProps) -> list[dict[str, Any]]:
        return [{"order": i + 1, "computeEnvironment": ce} for i, ce in enumerate(props.compute_environments)]

    def _wait_valid(self, ctx: NodeContext, what: str, name: str) -> None:
        _wait_settled(ctx, what, name, lambda n: self._describe(ctx, n), absent_ok=False)

    def create(self, ctx: NodeContext, props: JobQueueProps) -> str:
        ctx.client("batch").create_job_queue(
            jobQueueName=props.name,
            state=props.state,
            priority=props.priority,
            computeEnvironmentOrder=self._order(props),
            tags=dict(ctx.tags),
        )
        ctx.created(props.name)
        self._wait_valid(ctx, "job queue VALID", props.name)
        return props.name

    def update(self, ctx: NodeContext, id: str, props: JobQueueProps, observed: Observed, changes: set[str]) -> None:
        batch = ctx.client("batch")
        kwargs: dict[str, Any] = {}
        if "priority" in changes:
            kwargs["priority"] = props.priority
        if "state" in changes:
            kwargs["state"] = props.state
        if "compute_environments" in changes:
            kwargs["computeEnvironmentOrder"] = self._order(props)
        if kwargs:
            batch.update_job_queue(jobQueue=id, **kwargs)
            self._wait_valid(ctx, "job queue updated", id)
        if "tags" in changes:
            batch.tag_resource(resourceArn=observed.attrs["arn"], tags=dict(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: JobQueueProps | None) -> None:
        batch = ctx.client("batch")
        item = self._describe(ctx, id)
        if item is None:
            # Batch has no not-found error for a queue: absent (or already going) is done, bar the wait.
            ctx.wait("job queue deleted", lambda: self._describe_until_deleted(ctx, id) is None)
            return
        if item.get("state") != "DISABLED":
            batch.update_job_queue(jobQueue=id, state="DISABLED")
        ctx.wait("job queue disabled", lambda: (self._describe(ctx, id) or {}).get("status") != "UPDATING")
        batch.delete_job_queue(jobQueue=id)
        # Until DELETED: a DELETING queue still blocks the deletion of its compute environments.
        ctx.wait("job queue deleted", lambda: self._describe_until_deleted(ctx, id) is None)
