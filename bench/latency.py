"""The latency model (benchmark only): every AWS request waits a round trip, and the calls that start or end
a slow resource hold their worker for that resource's typical time on AWS, scaled down.

Real AWS polls until a database or a NAT gateway is ready; moto has them ready at once. Holding the worker
after the call stands in for that wait, so the engine's scheduling meets the same shape of work as on AWS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

#: seconds each takes on AWS (typical figures: AWS documentation, provider issue threads, own experience);
#: keyed by the operation that starts or ends the wait
SLOW_SECONDS: dict[str, float] = {
    "rds:CreateDBInstance": 480.0,
    "rds:DeleteDBInstance": 300.0,
    "rds:CreateDBCluster": 120.0,
    "rds:DeleteDBCluster": 120.0,
    "ec2:CreateNatGateway": 90.0,
    "ec2:DeleteNatGateway": 60.0,
    "batch:CreateComputeEnvironment": 30.0,
    "batch:DeleteComputeEnvironment": 45.0,
    "batch:CreateJobQueue": 10.0,
    "batch:DeleteJobQueue": 20.0,
    "elasticloadbalancing:CreateLoadBalancer": 150.0,
    "elasticloadbalancing:DeleteLoadBalancer": 20.0,
    "sagemaker:CreateNotebookInstance": 300.0,
    "sagemaker:DeleteNotebookInstance": 120.0,
    "ecs:CreateService": 60.0,
    "ecs:DeleteService": 60.0,
    "cognito-idp:CreateUserPoolDomain": 30.0,
    "lambda:CreateFunction": 30.0,
}


@dataclass
class LatencyModel:
    rtt: float = 0.040
    #: the slow times are divided by this
    scale: float = 60.0
    held: dict[str, float] = field(default_factory=dict)

    def slow(self, operation: str) -> float:
        return SLOW_SECONDS.get(operation, 0.0) / self.scale

    def before_send(self, **_: Any) -> None:
        time.sleep(self.rtt)

    def after_call(self, model: Any = None, **_: Any) -> None:
        if model is None:
            return
        hold = self.slow(f"{model.service_model.endpoint_prefix}:{model.name}")
        if hold:
            time.sleep(hold)

    def install(self, session: Any) -> None:
        session.events.register("before-send", self.before_send)
        session.events.register("after-call", self.after_call)
