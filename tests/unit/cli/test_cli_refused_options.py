"""Job-proxy managers (aws_hpc, oci_hpc, symphony) refuse the common options they cannot honour, with one line,
instead of accepting and ignoring them; --help still lists every option, marked."""

from __future__ import annotations

import pathlib

import pytest

from scaler.cli import worker_manager
from scaler.config import ConfigError

ADDRESS = "tcp://127.0.0.1:6378"
REQUIRED = {
    "aws_hpc": ["-q", "queue", "-d", "definition", "--s3-bucket", "bucket"],
    "oci_hpc": [
        "-wmi", "wm", "--compartment-id", "ocid1.compartment.oc1..x", "--availability-domain", "AD-1",
        "--subnet-id", "ocid1.subnet.oc1..x", "--container-image", "image", "--object-storage-namespace", "ns",
        "--object-storage-bucket", "bucket",
    ],
    "symphony": ["-sn", "ScalerService"],
}  # fmt: skip
COMMON_REFUSED = [
    ("-sdc", "5"), ("--preload", "pkg.mod:setup"), ("-gc", "5"), ("-tm", "5"), ("-hps",), ("-wsa", ADDRESS),
]  # fmt: skip
CASES = [(kind, flag) for kind in REQUIRED for flag in COMMON_REFUSED] + [
    ("aws_hpc", ("-mtc", "4")), ("aws_hpc", ("-tts", "5")), ("oci_hpc", ("-mtc", "4")), ("oci_hpc", ("-tts", "5")),
]  # fmt: skip


def load(kind: str, *extra: str) -> object:
    return worker_manager.load_worker_manager_config([kind, ADDRESS, *REQUIRED[kind], *extra], {})[1]


@pytest.mark.parametrize(("kind", "flag"), CASES, ids=[f"{kind}{flag[0]}" for kind, flag in CASES])
def test_an_option_the_type_cannot_honour_is_refused(kind: str, flag: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError, match=rf"^argument .*{flag[0]}.*: not used by {kind}: "):
        load(kind, *flag)


def test_refused_in_toml_too(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "wm.toml"
    path.write_text(f'[[worker_manager]]\ntype = "symphony"\nscheduler_address = "{ADDRESS}"\n'
                    'service_name = "S"\npreload = "pkg:setup"\n')  # fmt: skip
    with pytest.raises(ConfigError, match=r"preload: not used by symphony: "):
        worker_manager.load_worker_manager_config(["symphony", "-c", str(path)], {})


def test_what_the_types_honour_still_works() -> None:
    symphony = load("symphony", "-mtc", "3", "-tts", "7", "-dts", "30", "-his", "0.5")
    assert (symphony.max_task_concurrency, symphony.task_timeout_seconds) == (3, 7.0)  # type: ignore[attr-defined]
    assert load("aws_hpc", "-mcj", "5").max_concurrent_jobs == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", list(REQUIRED))
def test_help_lists_every_option_and_marks_the_refused(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        worker_manager.main([kind, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("-mtc", "-sdc", "-tts", "-dts", "--preload", "-gc", "-tm", "-hps", "-wsa", "-it", "-el"):
        assert f"{flag} " in text or f"{flag}," in text, flag
    assert text.count(f"(refused by {kind}: ") == (6 if kind == "symphony" else 8)
