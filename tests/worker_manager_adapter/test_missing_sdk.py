"""An AWS-family manager started without its optional SDK says, in one line, which extra to install."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import BIN

pytestmark = pytest.mark.cloud

ADAPTERS = {
    "aws_raw_ecs": ["--ecs-subnets", "subnet-0abc123"],
    "aws_hpc": ["--job-queue", "q", "--job-definition", "d", "--s3-bucket", "b"],
    "orb_aws_ec2": ["--image-id", "ami-0528819f94f4f5fa5"],
}


def hide(package: str, root: Path) -> Path:
    """A folder that, first on PYTHONPATH, makes ``import package`` fail as if it were not installed."""
    (root / package).mkdir(parents=True)
    text = f"raise ModuleNotFoundError(\"No module named '{package}'\", name='{package}')\n"
    (root / package / "__init__.py").write_text(text)
    return root


@pytest.mark.parametrize(
    ("adapter", "package", "extra"),
    [("aws_raw_ecs", "boto3", "aws"), ("aws_hpc", "boto3", "aws"), ("orb_aws_ec2", "boto3", "orb"),
     ("orb_aws_ec2", "orb", "orb")],
)  # fmt: skip
def test_missing_sdk_names_the_extra(adapter: str, package: str, extra: str, tmp_path: Path) -> None:
    blocker = hide(package, tmp_path / "blocked")
    result = subprocess.run(
        [str(BIN / "scaler_worker_manager"), adapter, "tcp://127.0.0.1:1", *ADAPTERS[adapter]],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(blocker)},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr  # one line, no traceback
    assert f"needs the {package} package" in result.stderr and f"pip install 'scaler[{extra}]'" in result.stderr
