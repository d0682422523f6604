"""Every botocore call checked against one principal's policies before it is sent.

``Guard(evaluator, env).install(client)`` registers a ``before-parameter-build`` handler: it maps the call to
its authorizations (``tests.iam.calls``), evaluates them (``tests.iam.evaluator``) and, when one is denied,
raises the ``AccessDenied`` ClientError AWS would answer, so the caller sees what it would see on AWS. Each
call is also logged (JSON lines) for the test to read: the caller may swallow the error (Metaflow retries).

Processes the test starts (a Metaflow run and the tasks it forks) get the same guard through
``tests/iam/site/sitecustomize.py`` with ``MFPROV_IAM_GUARD`` naming a JSON file written by ``write_spec``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.iam.calls import Env, Unmapped, checks_for
from tests.iam.evaluator import Evaluator

SITE = Path(__file__).resolve().parent / "site"
ENV_VAR = "MFPROV_IAM_GUARD"


class Guard:
    def __init__(self, evaluator: Evaluator, env: Env, log: Path | None = None, name: str = "principal") -> None:
        self.evaluator, self.env, self.log, self.name = evaluator, env, log, name
        self.calls: list[dict[str, Any]] = []

    def _record(self, entry: dict[str, Any]) -> None:
        self.calls.append(entry)
        if self.log is not None:
            with self.log.open("a") as f:
                f.write(json.dumps(entry) + "\n")

    def check(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        call = f"{service}:{operation}"
        try:
            checks = checks_for(service, operation, params, self.env)
        except Unmapped as e:
            self._record({"call": call, "unmapped": str(e), "pid": os.getpid()})
            raise RuntimeError(f"tests/iam/calls.py has no authorization mapping for {call}") from None
        denied = self.evaluator.first_denied(checks)
        self._record(
            {
                "call": call,
                "checks": [str(c) for c in checks],
                "denied": None if denied is None else str(denied),
                "pid": os.getpid(),
            }
        )
        if denied is not None:
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDenied" if service == "s3" else "AccessDeniedException",
                        "Message": f"{self.name} is not authorized to perform: {denied.action} on resource: "
                        f"{denied.resource} ({denied.reason})",
                    }
                },
                operation,
            )

    def _handler(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        self.check(model.service_model.service_name, model.name, params)

    def install(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build", self._handler)
        return client

    def install_everywhere(self) -> None:
        """Every client any botocore session creates from now on (in this process) is guarded."""
        import botocore.session

        create = botocore.session.Session.create_client
        guard = self

        def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
            return guard.install(create(self, *args, **kwargs))

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]


def write_spec(
    path: Path, policies: Mapping[str, Any], env: Env, bucket_keys: Mapping[str, str], log: Path, name: str
) -> dict[str, str]:
    """The guard's spec for subprocesses; returns the environment variables that turn it on there."""
    path.write_text(
        json.dumps(
            {
                "policies": policies,
                "env": {
                    "account": env.account,
                    "region": env.region,
                    "partition": env.partition,
                    "principal_arn": env.principal_arn,
                },
                "bucket_keys": dict(bucket_keys),
                "log": str(log),
                "name": name,
            }
        )
    )
    root = str(Path(__file__).resolve().parents[2])
    pythonpath = os.pathsep.join(p for p in (str(SITE), root, os.environ.get("PYTHONPATH", "")) if p)
    return {ENV_VAR: str(path), "PYTHONPATH": pythonpath}


def guard_from_spec(path: str) -> Guard:
    spec = json.loads(Path(path).read_text())
    keys = spec["bucket_keys"]
    env = Env(**spec["env"], bucket_key=lambda b: keys.get(b))
    return Guard(Evaluator(spec["policies"]), env, Path(spec["log"]), spec["name"])


def read_log(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
