"""The metadata service's schema migration, through the migration Lambda the stack made (presets ``standard`` and
``full``).

The Lambda asks the service's migration server (the NLB's port 8082) for the schema status, upgrades the schema
(``PATCH /upgrade``: the image's goose migrations) and asks again. A newer metadata-service image expects the newer
schema, so ``up`` runs it after the service's image changed (``metadata.migrate_on_image_change``), and ``mfprov
migrate`` runs it on demand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from provisioner.engine.reconcile import EngineError
from resources.base import Observed, error_code, resource_type

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.ops.workspace import Session

#: the addresses of the migration Lambda, the service and its task definition (provisioner/stacks/metadata_service)
FUNCTION = "lambda.function.db_migrate"
SERVICE = "ecs.service.metadata"
TASK_DEFINITION = "ecs.task_definition.metadata"
#: Lambda runs a function for 15 minutes at most; the answer is waited for a little longer
_LAMBDA_LIMIT = 900


class MigrationError(EngineError):
    """The migration could not be started (no Lambda, AWS refused the invoke)."""


@dataclass
class Migration:
    function: str
    #: the Lambda's answer: {"init-status", "upgrade-result", "final-status"}, or its error
    answer: Any
    #: why it failed (the function raised, or the schema is still behind); None: migrated
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _images(containers: Any) -> set[str]:
    return {str(c.get("image")) for c in containers or [] if isinstance(c, Mapping)}


def running_images(s: Session, observed: Mapping[str, Observed | None] | None = None) -> set[str] | None:
    """The images of the task definition the metadata service runs (None: no service yet), from what a refresh
    ``observed``, or asked now. It is the service's, not the newest task definition's: the service is what serves
    the database, and it may lag behind its task definition."""
    if observed is None:
        record = s.state.resources.get(SERVICE)
        service = resource_type("ecs.service").read(s.runner.ctx(SERVICE, "ecs.service"), record.id) if record else None
    else:
        service = observed.get(SERVICE)
    arn = service.props.get("task_definition") if service else None
    if not arn:
        return None
    known = (observed or {}).get(TASK_DEFINITION)
    if known is not None and known.attrs.get("arn") == arn:
        return _images(known.props.get("containers"))
    described = s.clients.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return {str(c.get("image")) for c in described.get("containerDefinitions", [])}


def wanted(s: Session) -> bool:
    """Whether ``up`` migrates after a new image: the stack has the migration Lambda, and the switch is on."""
    return FUNCTION in s.blueprint.nodes and s.ws.config.metadata.migrate_on_image_change


def migrate(s: Session) -> Migration:
    """Invoke the migration Lambda and wait for its answer."""
    record = s.state.resources.get(FUNCTION)
    if FUNCTION not in s.blueprint.nodes:
        raise MigrationError(
            f"stack {s.state.stack!r} has no metadata service (presets standard and full have one): nothing to migrate"
        )
    if record is None:
        raise MigrationError(f"the migration Lambda of stack {s.state.stack!r} does not exist yet: run `mfprov up`")
    client = s.clients.long_call_client("lambda", read_timeout=_LAMBDA_LIMIT + 60)
    try:
        reply = client.invoke(FunctionName=record.id, InvocationType="RequestResponse", Payload=b"{}")
        raw = reply["Payload"].read().decode()
    except ClientError as err:
        message = err.response.get("Error", {}).get("Message", "")
        raise MigrationError(f"cannot invoke the migration Lambda {record.id} ({error_code(err)}): {message}") from None
    except BotoCoreError as err:
        raise MigrationError(f"cannot invoke the migration Lambda {record.id}: {err}") from None
    try:
        answer: Any = json.loads(raw) if raw else None
    except ValueError:
        answer = raw
    return Migration(record.id, answer, _failure(reply.get("FunctionError"), answer))


def _failure(function_error: str | None, answer: Any) -> str | None:
    if function_error:
        detail = answer.get("errorMessage", "") if isinstance(answer, Mapping) else str(answer)
        return f"the migration Lambda failed ({function_error}): {detail}".rstrip(": ")
    final = answer.get("final-status") if isinstance(answer, Mapping) else None
    if not isinstance(final, Mapping) or "is_up_to_date" not in final:
        # not the stack's function, or a service that did not answer with a status: nothing says it migrated
        shown = json.dumps(answer, default=str)
        return f"its answer holds no final schema status: {shown[:200]}{'...' if len(shown) > 200 else ''}"
    if final["is_up_to_date"] is not True:
        behind = final.get("unapplied_migrations") or []
        return f"the schema is still not up to date after the upgrade ({len(behind)} migration(s) not applied)"
    return None
