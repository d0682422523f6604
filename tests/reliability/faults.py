"""A fault injector for tests: it stands between mfprov's AWS clients and moto, at a set rate and seed, and
fails requests the way AWS and the network do. Nothing in product code knows about it.

It wraps moto's in-process stub (the ``before-send`` handler that answers for AWS), so it decides per HTTP
request — retries included — whether moto sees the request:

- ``unsent``: the request never arrives (connection refused, connect timeout);
- ``throttle``: AWS refuses it, unprocessed, with the throttling error of the service's protocol;
- ``5xx``: AWS answers 500/503 without doing the work;
- ``lost``: AWS does the work, but the answer is a 500 (a response lost on the way back) - the case that
  tests idempotency: botocore retries a create that already happened;
- ``consistency``: an error AWS gives while something made seconds ago is not yet visible to another
  service, or while a dependent is still going away (see ``CONSISTENCY``): unprocessed, and not retried by
  botocore, so mfprov's own retry policy must handle it.

Only requests of mfprov's own clients (user agent "mfprov") are touched, so the tests' own checks are not.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse
from moto.iam import models as iam_models
from moto.iam.exceptions import NotFoundException as IamNotFound

from provisioner.core.session import ClientFactory

#: (service, operation) -> (HTTP status, error code, message): what AWS answers while a resource made seconds
#: ago is not visible yet to the service called, or while something that depends on it is still going away
CONSISTENCY: dict[tuple[str, str], tuple[int, str, str]] = {
    ("ec2", "CreateSubnet"): (400, "InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"),
    ("ec2", "CreateSecurityGroup"): (400, "InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"),
    ("ec2", "CreateRouteTable"): (400, "InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"),
    ("ec2", "AttachInternetGateway"): (
        400,
        "InvalidInternetGatewayID.NotFound",
        "The internetGateway ID does not exist",
    ),
    ("ec2", "CreateRoute"): (400, "InvalidGatewayID.NotFound", "The gateway ID 'igw-1' does not exist"),
    ("ec2", "AssociateRouteTable"): (400, "InvalidSubnetID.NotFound", "The subnet ID 'subnet-1' does not exist"),
    ("ec2", "AuthorizeSecurityGroupEgress"): (400, "InvalidGroup.NotFound", "The security group does not exist"),
    ("ec2", "AuthorizeSecurityGroupIngress"): (400, "InvalidGroup.NotFound", "The security group does not exist"),
    ("ec2", "DeleteSubnet"): (400, "DependencyViolation", "The subnet has dependencies and cannot be deleted."),
    ("ec2", "DeleteSecurityGroup"): (400, "DependencyViolation", "resource sg-1 has a dependent object"),
    ("ec2", "DeleteVpc"): (400, "DependencyViolation", "The vpc has dependencies and cannot be deleted."),
    ("ec2", "DetachInternetGateway"): (
        400,
        "DependencyViolation",
        "Network vpc-1 has some mapped public address(es). Please unmap those public address(es) before detaching.",
    ),
    ("ec2", "DeleteRouteTable"): (400, "DependencyViolation", "The routeTable has dependencies and cannot be deleted."),
    ("batch", "CreateComputeEnvironment"): (
        400,
        "ClientException",
        "Error executing request, Exception : Unable to assume the role arn:aws:iam::1:role/x",
    ),
    ("batch", "DeleteComputeEnvironment"): (
        400,
        "ClientException",
        "Cannot delete, found existing JobQueue relationship",
    ),
    ("lambda", "CreateFunction"): (
        400,
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
    ),
    ("elasticloadbalancing", "CreateListener"): (400, "TargetGroupNotFound", "One or more target groups not found"),
    ("elasticloadbalancing", "DeleteTargetGroup"): (
        400,
        "ResourceInUse",
        "Target group is currently in use by a listener",
    ),
}

#: the throttling error each protocol family sends (all are retried by botocore's standard mode)
THROTTLE = {"ec2": "RequestLimitExceeded", "query": "Throttling", "json": "ThrottlingException"}
THROTTLE_DEFAULT = "TooManyRequestsException"

ALL_MODES = ("unsent", "throttle", "5xx", "lost", "consistency")


class _Call(threading.local):
    service: str = ""
    operation: str = ""
    protocol: str = ""


class FaultInjector:
    def __init__(
        self,
        seed: int,
        rate: float = 0.05,
        modes: Iterable[str] = ALL_MODES,
        consistency_rate: float = 0.5,
        operations: Iterable[tuple[str, str]] | None = None,
        lose_first: Iterable[tuple[str, str]] = (),
    ):
        """``operations``: only requests of these (service endpoint prefix, operation) pairs may fail;
        ``lose_first``: the first request of each of these pairs loses its answer, whatever the rate."""
        self.operations = None if operations is None else frozenset(operations)
        self.lose_first = frozenset(lose_first)
        self.lost_first: set[tuple[str, str]] = set()
        self.rate = rate
        self.consistency_rate = consistency_rate
        self.modes = tuple(m for m in modes if m != "consistency")
        self.consistency = "consistency" in modes
        self.rng = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._call = _Call()

    # ----------------------------------------------------------- decisions

    def _note_call(self, model: Any = None, **_: Any) -> None:
        """``before-call``: which operation the next requests of this thread belong to."""
        if model is not None:
            self._call.service = model.service_model.endpoint_prefix
            self._call.operation = model.name
            self._call.protocol = model.service_model.protocol

    def _decide(self) -> str | None:
        key = (self._call.service, self._call.operation)
        with self._lock:
            if key in self.lose_first and key not in self.lost_first:
                self.lost_first.add(key)
                fault = "lost"
            elif self.operations is not None and key not in self.operations:
                return None
            elif self.consistency and key in CONSISTENCY and self.rng.random() < self.consistency_rate:
                fault = "consistency"
            elif self.modes and self.rng.random() < self.rate:
                fault = self.rng.choice(self.modes)
            else:
                return None
            self.injected[fault] += 1
        return fault

    # ----------------------------------------------------------- responses

    def _error(self, status: int, code: str, message: str, url: str) -> AWSResponse:
        protocol = self._call.protocol
        headers: dict[str, str] = {}
        if protocol == "ec2":
            body = (
                f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                "<RequestID>fault</RequestID></Response>"
            )
        elif protocol in ("query", "rest-xml"):
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
                "<RequestId>fault</RequestId></ErrorResponse>"
            )
            if self._call.service == "s3":
                body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        elif protocol == "json":
            body = json.dumps({"__type": code, "message": message})
            headers["Content-Type"] = "application/x-amz-json-1.1"
        else:  # rest-json
            body = json.dumps({"message": message})
            headers.update({"x-amzn-ErrorType": code, "Content-Type": "application/json"})
        return AWSResponse(url, status, headers, MockRawResponse(body))  # type: ignore[arg-type]

    def answer(self, original: Any, stub: BotocoreStubber, event_name: str, request: Any, **kw: Any) -> Any:
        if not stub.enabled or "mfprov" not in str(request.headers.get("User-Agent", "")):
            return original(stub, event_name, request, **kw)
        fault = self._decide()
        url = request.url
        if fault is None:
            return original(stub, event_name, request, **kw)
        if fault == "unsent":
            raise self.rng.choice([EndpointConnectionError(endpoint_url=url), ConnectTimeoutError(endpoint_url=url)])
        if fault == "throttle":
            code = THROTTLE.get(self._call.protocol, THROTTLE_DEFAULT)
            return self._error(400 if code != "TooManyRequestsException" else 429, code, "Rate exceeded", url)
        if fault == "5xx":
            return self._error(503, "ServiceUnavailable", "Service is unavailable", url)
        if fault == "lost":
            original(stub, event_name, request, **kw)  # the work is done; its answer never arrives
            return self._error(500, "InternalError", "We encountered an internal error", url)
        status, code, message = CONSISTENCY[(self._call.service, self._call.operation)]
        return self._error(status, code, message, url)

    def install(self, monkeypatch: Any) -> None:
        """From now on, every ClientFactory's requests pass through this injector before moto answers."""
        injector = self
        original_call = BotocoreStubber.__call__

        def stub_call(stub: BotocoreStubber, event_name: str, request: Any, **kw: Any) -> Any:
            return injector.answer(original_call, stub, event_name, request, **kw)

        monkeypatch.setattr(BotocoreStubber, "__call__", stub_call)
        original_init = ClientFactory.__init__

        def patched(self: ClientFactory, *a: Any, **k: Any) -> None:
            original_init(self, *a, **k)
            self.session.events.register("before-call", injector._note_call)

        monkeypatch.setattr(ClientFactory, "__init__", patched)
        # A stand-in for a moto gap that a retried request reaches: AWS answers RemoveRoleFromInstanceProfile for
        # a role no longer in the profile with NoSuchEntity; moto raises a bare ValueError.
        iam_backend = iam_models.IAMBackend
        remove = iam_backend.remove_role_from_instance_profile

        def remove_role(backend: Any, profile_name: str, role_name: str) -> None:
            profile = backend.get_instance_profile(profile_name)
            if role_name not in {r.name for r in profile.roles}:
                raise IamNotFound(f"The role {role_name} is not in instance profile {profile_name}.")
            remove(backend, profile_name, role_name)

        monkeypatch.setattr(iam_backend, "remove_role_from_instance_profile", remove_role)
