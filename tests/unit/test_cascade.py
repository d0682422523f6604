"""Which dependents a replacement takes with it: only those that hold on to what is replaced."""

from __future__ import annotations

import tomllib

from provisioner.cli.init_template import TEMPLATE
from provisioner.core.context import Facts
from provisioner.engine.plan import holds
from provisioner.stacks import metaflow
from provisioner.stacks.config import parse_config


def standard_blueprint():  # type: ignore[no-untyped-def]
    text = TEMPLATE.format(name="t1", stack="metaflow", preset="standard", suffix="abc12345")
    cfg = parse_config(tomllib.loads(text), "mfprov.toml")
    facts = Facts(account_id="123456789012", region="us-east-1", availability_zones=("us-east-1a", "us-east-1b"))
    return metaflow.build(cfg, facts)


def test_a_new_load_balancer_redeploys_the_stage_rather_than_replacing_it() -> None:
    """The stage's ``serves`` names the integrations (the VPC link, the load balancer's address) only to tell which
    configuration it must serve; replacing the stage would also drop the usage plan's hold on it."""
    bp = standard_blueprint()
    stage = "apigateway.stage.api"
    assert "elbv2.load_balancer.nlb" in bp.nodes[stage].refs()
    assert not holds(bp, stage, "elbv2.load_balancer.nlb")
    assert holds(bp, stage, "apigateway.rest_api.metadata")  # a stage lives in its API: a new API, a new stage
