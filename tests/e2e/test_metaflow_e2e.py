"""End to end: the CLI against a local moto server, then the real metaflow client on the stack it built.

Metaflow is configured only by the profile `mfprov outputs --write-profile` writes, plus
AWS_ENDPOINT_URL (the sandbox) and local metadata (the personal preset has no metadata service).

The full preset runs whole, its SageMaker notebook included, with its UI on behind a certificate ARN of the kind
a user copies from ACM: the sandbox cannot issue a real one, and its shims (provisioner/sandbox/shims.py) accept
any well-formed ARN, as the issue allows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

pytestmark = pytest.mark.e2e

FLOW = textwrap.dedent(
    """
    from metaflow import FlowSpec, step


    class ThreeStepFlow(FlowSpec):
        @step
        def start(self):
            self.numbers = list(range(10))
            self.next(self.square)

        @step
        def square(self):
            self.squares = [n * n for n in self.numbers]
            self.next(self.end)

        @step
        def end(self):
            self.total = sum(self.squares)


    if __name__ == "__main__":
        ThreeStepFlow()
    """
)

READ_BACK = textwrap.dedent(
    """
    import json
    from metaflow import Flow, namespace
    namespace(None)
    run = Flow("ThreeStepFlow").latest_run
    print(json.dumps({"successful": run.successful, "total": run.data.total,
                      "squares": run["square"].task.data.squares}))
    """
)


def private_env(home: Path, port: int, user: str) -> dict[str, str]:
    """The environment of a private sandbox (own MFPROV_HOME and port) with a private HOME and METAFLOW_HOME, and
    nothing of the caller's AWS or Metaflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "METAFLOW_"))}
    env.update(
        MFPROV_HOME=str(home / "mfprov-home"),
        MFPROV_SANDBOX_PORT=str(port),
        METAFLOW_HOME=str(home / "metaflowconfig"),
        HOME=str(home / "home"),
        USERNAME=user,
        PYTHONUNBUFFERED="1",
    )
    (home / "home").mkdir()
    return env


@pytest.fixture
def sandbox_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private sandbox and a private METAFLOW_HOME."""
    env = private_env(tmp_path, 4700 + os.getpid() % 200, "e2e")
    yield env
    subprocess.run([sys.executable, "-m", "provisioner", "sandbox", "stop"], env=env, check=False)


def mfprov(env: dict[str, str], cwd: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "provisioner", "--sandbox", *args],
        cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
    )  # fmt: skip
    assert proc.returncode == expect, f"mfprov {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def sandbox_url(env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-m", "provisioner", "sandbox", "status"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def sandbox_client(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="sandbox",
                        aws_secret_access_key="sandbox")  # fmt: skip


def full_in_the_sandbox(env: dict[str, str], work: Path) -> None:
    """The UI on (an ARN-shaped certificate, an allow-list), and everything else of the preset as it comes."""
    cert = "arn:aws:acm:us-east-1:123456789012:certificate/0f7e9a52-1c3b-4d7e-9a1f-5e2b8c4d6a10"
    path = work / "mfprov.toml"
    text = path.read_text()
    for old, new in (
        ('certificate_arn = ""', f'certificate_arn = "{cert}"'),
        ("\nallow_cidrs = []", '\nallow_cidrs = ["203.0.113.0/24"]'),
    ):
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text)


@pytest.mark.parametrize("preset", ["personal", "standard", "full"])
def test_metaflow_runs_a_flow_and_creates_a_state_machine_on_the_stack(
    preset: str, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = sandbox_env
    mfprov(env, work, "init", "--name", "e2e", "--preset", preset)
    if preset == "full":
        full_in_the_sandbox(env, work)
    mfprov(env, work, "up", "--yes")
    assert "Up to date" in mfprov(env, work, "up", "--yes").stderr
    mfprov(env, work, "drift")
    mfprov(env, work, "outputs", "--write-profile", "e2e")
    profile = json.loads((tmp_path / "metaflowconfig" / "config_e2e.json").read_text())
    assert profile["METAFLOW_DEFAULT_DATASTORE"] == "s3"
    # standard: the profile points at the metadata service; no container runs in the sandbox, so the flow
    # below records its metadata locally (METAFLOW_DEFAULT_METADATA=local overrides the profile).
    assert (
        profile["METAFLOW_DEFAULT_METADATA"] == {"personal": "local", "standard": "service", "full": "service"}[preset]
    )
    if preset == "full":  # the custom image's repository, as terraform-aws-metaflow's profile names it
        assert profile["METAFLOW_BATCH_CONTAINER_IMAGE"].startswith("metaflow-batch-")
        assert profile["METAFLOW_BATCH_CONTAINER_REGISTRY"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com"

    url = sandbox_url(env)
    assert url.startswith("http://127.0.0.1:")
    flow_env = {
        **env,
        "METAFLOW_PROFILE": "e2e",
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "METAFLOW_DEFAULT_METADATA": "local",
    }
    (work / "three_step_flow.py").write_text(FLOW)
    run = subprocess.run(
        [sys.executable, "three_step_flow.py", "--no-pylint", "run"],
        cwd=work, env=flow_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr

    back = subprocess.run(
        [sys.executable, "-c", READ_BACK], cwd=work, env=flow_env, capture_output=True, text=True, timeout=300
    )
    assert back.returncode == 0, back.stdout + back.stderr
    data = json.loads(back.stdout.strip().splitlines()[-1])
    assert data == {
        "successful": True,
        "total": sum(n * n for n in range(10)),
        "squares": [n * n for n in range(10)],
    }

    # The artifacts are really in the sandbox bucket the stack made.
    bucket = profile["METAFLOW_DATASTORE_SYSROOT_S3"].split("/")[2]
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="sandbox",
                      aws_secret_access_key="sandbox")  # fmt: skip
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="metaflow/ThreeStepFlow/")["Contents"]]
    assert keys, "no artifacts in the datastore bucket"

    sfn = subprocess.run(
        [sys.executable, "three_step_flow.py", "--no-pylint", "step-functions", "create"],
        cwd=work, env=flow_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert sfn.returncode == 0, sfn.stdout + sfn.stderr
    states = boto3.client("stepfunctions", endpoint_url=url, region_name="us-east-1", aws_access_key_id="sandbox",
                          aws_secret_access_key="sandbox")  # fmt: skip
    machines = {m["name"]: m["stateMachineArn"] for m in states.list_state_machines()["stateMachines"]}
    name = f"{profile['METAFLOW_SFN_STATE_MACHINE_PREFIX']}_ThreeStepFlow"  # the profile's prefix is used
    assert name in machines, machines
    described = states.describe_state_machine(stateMachineArn=machines[name])
    assert described["roleArn"] == profile["METAFLOW_SFN_IAM_ROLE"]
    definition = json.loads(described["definition"])
    assert profile["METAFLOW_BATCH_JOB_QUEUE"] in json.dumps(definition)

    # The state machine lives outside the stack; take the stack down and nothing of it is left.
    states.delete_state_machine(stateMachineArn=machines[name])
    # Emptied as a user empties it: every object (the flow's, the code package step-functions uploaded) and, where
    # the datastore is versioned (standard, full), every version and delete marker, or down keeps the bucket.
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    mfprov(env, work, "down", "--yes", "--delete-protected")
    count = {"personal": 21, "standard": 50, "full": 83}[preset]
    assert f"Plan: {count} to create" in mfprov(env, work, "plan").stdout  # the plan is a result
