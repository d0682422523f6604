"""``mfprov demo``: the main job in one command, against the sandbox, narrated for a newcomer.

init -> up -> outputs -> someone opens SSH to the world on the Batch security group -> drift
finds it (exit 2) -> up puts it right -> drift is clean -> down keeps the protected datastore ->
down --delete-protected -> nothing is left.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.rule import Rule

from provisioner.sandbox import control as sandbox


def _mfprov(console: Console, cli: Callable[..., Any], workdir: Path, *args: str) -> int:
    """Run one real CLI command (``cli``, the typer app) as a user would type it, in the folder it would be typed
    in, and show it: the same command-line parsing, output and exit code, without starting Python again for each
    step (half a second a step)."""
    console.print(f"\n[bold cyan]$ mfprov {' '.join(args)}[/bold cyan]")
    here = Path.cwd()
    os.chdir(workdir)
    try:
        cli(list(args), prog_name="mfprov")
    except SystemExit as done:  # a click command always ends with it
        return done.code if isinstance(done.code, int) else 1
    finally:
        os.chdir(here)
    return 0


def leftovers(stack: str) -> list[str]:
    """Everything still carrying the stack's tag: tagging API for most services, IAM by its own calls."""
    found: list[str] = []
    tagging = boto3.client("resourcegroupstaggingapi")
    kms = boto3.client("kms")
    for page in tagging.get_paginator("get_resources").paginate(
        TagFilters=[{"Key": "mfprov:stack", "Values": [stack]}]
    ):
        for item in page["ResourceTagMappingList"]:
            arn = item["ResourceARN"]
            if ":kms:" in arn and kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingDeletion":
                continue
            found.append(arn)
    iam = boto3.client("iam")
    for role in iam.list_roles()["Roles"]:
        tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}
        if tags.get("mfprov:stack") == stack:
            found.append(role["Arn"])
    batch = boto3.client("batch")
    for ce in batch.describe_compute_environments()["computeEnvironments"]:
        if (ce.get("tags") or {}).get("mfprov:stack") == stack and ce.get("status") != "DELETED":
            found.append(ce["computeEnvironmentArn"])
    return found


def run_demo(console: Console, cli: Callable[..., Any], keep_sandbox: bool = False) -> int:
    started = time.monotonic()
    was_running = sandbox.status() is not None
    info = sandbox.start()
    sandbox.activate(info, "us-east-1")
    console.print(Rule("mfprov demo"))
    console.print(f"Sandbox AWS (moto) at {info.url}: no AWS account is used, nothing leaves this machine.")
    steps: list[tuple[str, int, int]] = []

    with tempfile.TemporaryDirectory(prefix="mfprov-demo-") as tmp:
        work = Path(tmp)
        os.environ["METAFLOW_HOME"] = str(work / "metaflowconfig")

        def step(title: str, expect: int, *args: str) -> bool:
            console.print(Rule(title, style="dim"))
            code = _mfprov(console, cli, work, *args)
            steps.append((title, expect, code))
            if code != expect:
                console.print(f"[bold red]demo stopped: `mfprov {' '.join(args)}` exited {code}, expected {expect}")
                return False
            return True

        ok = (
            step("1. write a config", 0, "init", "--name", "demo")
            and step("2. see the plan", 0, "plan")
            and step("3. build the stack", 0, "up", "--yes")
            and step("4. a second up changes nothing", 0, "up", "--yes")
            and step("5. the Metaflow profile", 0, "outputs", "--write-profile", "demo")
        )
        if ok:
            console.print(Rule("6. someone changes AWS behind mfprov's back", style="dim"))
            state = json.loads((work / ".mfprov" / "state.json").read_text())
            sg_id = state["resources"]["ec2.security_group.batch"]["id"]
            boto3.client("ec2").authorize_security_group_ingress(
                GroupId=sg_id,
                IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
                ],
            )
            console.print(f"Opened SSH (tcp/22) to 0.0.0.0/0 on the Batch security group {sg_id} with boto3.")
            ok = (
                step("7. drift sees it (exit 2)", 2, "drift")
                and step("8. up puts it right", 0, "up", "--yes")
                and step("9. drift is clean again (exit 0)", 0, "drift")
            )
        cleaned = step("10. down keeps what holds data (the bucket and its key are protected)", 0, "down", "--yes")
        cleaned = cleaned and step(
            "11. down --delete-protected takes the rest", 0, "down", "--yes", "--delete-protected"
        )
        if cleaned:
            console.print(Rule("12. nothing is left", style="dim"))
            left = leftovers("demo")
            for item in left:
                console.print(f"  [red]left behind:[/red] {item}")
            console.print(
                "No resource tagged mfprov:stack=demo is left (the KMS key is scheduled for deletion, as AWS requires)."
                if not left
                else f"{len(left)} resource(s) left behind."
            )
            steps.append(("12. nothing is left", 0, len(left)))

    if not keep_sandbox and not was_running:
        sandbox.stop()
    console.print(Rule("summary"))
    for title, expect, code in steps:
        mark = "[green]✓[/green]" if code == expect else "[red]✗[/red]"
        console.print(f" {mark} {title}")
    # every step as expected, the last one (nothing is left) reached
    good = all(code == expect for _, expect, code in steps) and bool(steps) and steps[-1][0].startswith("12.")
    console.print(
        f"{'[bold green]Demo complete' if good else '[bold red]Demo failed'}[/] in {time.monotonic() - started:.1f}s."
    )
    return 0 if good else 1
