"""The scaler launcher: validating every section before starting, and stopping the stack as one."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

import scaler

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib
from scaler.cli.launch_plan import LaunchStep, plan_launch
from scaler.cli.supervisor import supervise
from scaler.config import ConfigError
from scaler.io.address import Address, free_tcp_port

FULL = """
[object_storage_server]
bind_address = "tcp://127.0.0.1:8517"

[scheduler]
bind_address = "tcp://127.0.0.1:8516"
object_storage_address = "tcp://127.0.0.1:8517"
policy_content = "allocate=even_load; scaling=vanilla"

[[worker_manager]]
type = "baremetal_native"
scheduler_address = "tcp://127.0.0.1:8516"
worker_manager_id = "wm-a"
per_worker_capabilities = "linux,cpu=4"
logging_paths = ["/dev/stderr", "with \\"quotes\\" and ünïcode"]

[[worker_manager]]
type = "baremetal_native"
scheduler_address = "tcp://127.0.0.1:8516"
worker_manager_id = "wm-b"
mode = "fixed"

[gui]
monitor_address = "tcp://127.0.0.1:8518"

[top]
monitor_address = "tcp://127.0.0.1:8518"
"""


def plan(text: str) -> list[LaunchStep]:
    return plan_launch(tomllib.loads(text), "stack.toml", environ={})


def test_plan_starts_sections_in_order_each_fed_its_own_table() -> None:
    steps = plan(FULL)
    assert [step.label for step in steps] == [
        "[object_storage_server]",
        "[scheduler]",
        "[[worker_manager]] #1 (type = 'baremetal_native')",
        "[[worker_manager]] #2 (type = 'baremetal_native')",
        "[gui]",
        "[top]",
    ]
    assert [step.command[1:] for step in steps] == [
        ("-m", "scaler.cli.object_storage_server"),
        ("-m", "scaler.cli.scheduler"),
        ("-m", "scaler.cli.worker_manager", "baremetal_native"),
        ("-m", "scaler.cli.worker_manager", "baremetal_native"),
        ("-m", "scaler.cli.gui"),
        ("-m", "scaler.cli.top"),
    ]
    assert all(step.command[0] == sys.executable for step in steps)
    assert steps[0].ready_address == Address.parse("tcp://127.0.0.1:8517")
    assert [step.ready_address for step in steps[1:]] == [None] * 5
    # Only the scheduler and its object storage take the stack down when they exit.
    assert [step.essential for step in steps] == [True, True, False, False, False, False]
    document = tomllib.loads(FULL)
    assert tomllib.loads(steps[1].toml_text) == {"scheduler": document["scheduler"]}
    assert tomllib.loads(steps[2].toml_text) == {"worker_manager": [document["worker_manager"][0]]}
    assert tomllib.loads(steps[3].toml_text) == {"worker_manager": [document["worker_manager"][1]]}


def test_a_bad_key_in_the_last_section_fails_before_anything_starts() -> None:
    with pytest.raises(
        ConfigError, match=r"^stack.toml: \[gui\] unknown key 'gui_adress' \(did you mean 'gui_address'"
    ):
        plan(FULL.replace("[gui]\n", '[gui]\ngui_adress = "x"\n'))
    with pytest.raises(ConfigError, match=r"^stack.toml: \[top\] timeout: must be > 0 \(got 0\)"):
        plan(FULL + "timeout = 0\n")
    with pytest.raises(
        ConfigError, match=r"^stack.toml: \[\[worker_manager\]\] #2 \(type = 'baremetal_native'\) mode: invalid value"
    ):
        plan(FULL.replace('mode = "fixed"', 'mode = "FIXED"'))


def test_no_recognized_section() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^stack.toml: no recognized section \(expected \[object_storage_server\], \[scheduler\], "
        r"\[\[worker_manager\]\], \[gui\], \[top\]; found \[schedular\]\)",
    ):
        plan('[schedular]\nbind_address = "tcp://127.0.0.1:1"\n')
    with pytest.raises(ConfigError, match=r"no recognized section .*found an empty file"):
        plan("")


def test_unknown_section_beside_known_ones_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    # The documents: scaler starts the sections it recognizes. A section may be meant for another tool.
    steps = plan(FULL + '\n[gu]\nmonitor_address = "tcp://127.0.0.1:8518"\n')
    assert len(steps) == 6
    assert "stack.toml: skipping unknown section [gu] (recognized sections: " in caplog.text


def test_top_alone_is_started() -> None:
    steps = plan('[top]\nmonitor_address = "tcp://127.0.0.1:8518"\n')
    assert [(step.label, step.command[1:]) for step in steps] == [("[top]", ("-m", "scaler.cli.top"))]


def test_worker_manager_inherits_the_scheduler_address() -> None:
    text = (
        '[scheduler]\nscheduler_address = "tcp://0.0.0.0:8516"\n'
        '[[worker_manager]]\ntype = "baremetal_native"\n'
        '[[worker_manager]]\ntype = "baremetal_native"\nscheduler_address = "tcp://10.0.0.1:9"\n'
    )
    first, second = (tomllib.loads(step.toml_text)["worker_manager"][0] for step in plan(text)[1:])
    assert first["scheduler_address"] == "tcp://127.0.0.1:8516"  # a wildcard bind is reached through loopback
    assert second["scheduler_address"] == "tcp://10.0.0.1:9"  # an explicit one is kept


def test_worker_manager_without_scheduler_anywhere_names_only_the_file() -> None:
    with pytest.raises(ConfigError) as raised:
        plan('[[worker_manager]]\ntype = "baremetal_native"\n')
    assert str(raised.value) == (
        "stack.toml: [[worker_manager]] #1 (type = 'baremetal_native') missing required key scheduler_address"
    )  # scaler has no command line for it: the message must not suggest one


def test_missing_address_in_a_section() -> None:
    with pytest.raises(ConfigError, match=r"^stack.toml: \[scheduler\] missing required key scheduler_address"):
        plan("[scheduler]\nprotected = true\n")


def test_worker_manager_types() -> None:
    with pytest.raises(ConfigError, match=r"#1 \(type = 'bogus'\): unknown worker manager type \(known types: "):
        plan('[[worker_manager]]\ntype = "bogus"\nscheduler_address = "tcp://127.0.0.1:1"\n')
    with pytest.raises(ConfigError, match=r"missing required key job_queue"):
        plan('[[worker_manager]]\ntype = "aws_hpc"\nscheduler_address = "tcp://127.0.0.1:1"\n')


def test_scheduler_storage_would_collide_with_object_storage_section() -> None:
    text = FULL.replace('object_storage_address = "tcp://127.0.0.1:8517"\n', "")
    with pytest.raises(ConfigError, match=r'set object_storage_address = "tcp://127.0.0.1:8517" in \[scheduler\]'):
        plan(text)


def run_launcher(tmp_path: pathlib.Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "stack.toml"
    path.write_text(text)
    source = str(pathlib.Path(scaler.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "scaler.cli.scaler", str(path)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_launcher_process_with_only_an_unknown_section(tmp_path: pathlib.Path) -> None:
    result = run_launcher(tmp_path, "[cluster]\nworkers = 4\n")
    assert result.returncode == 2
    assert result.stderr.startswith("scaler: error: ")
    assert "no recognized section" in result.stderr and "found [cluster]" in result.stderr
    assert "Traceback" not in result.stderr


def test_launcher_process_with_malformed_toml(tmp_path: pathlib.Path) -> None:
    result = run_launcher(tmp_path, "[scheduler\n")
    assert result.returncode == 2
    assert "invalid TOML" in result.stderr and "line 1" in result.stderr


# --- supervision, with stand-in children ------------------------------------------------------------------------

# A child that records when it is up and when it gets SIGTERM (argv: name, log; "--config FILE" follows).
CHILD = """
import signal, sys, time
name, log = sys.argv[1], sys.argv[2]
def note(text):
    with open(log, "a") as file:
        file.write(text + "\\n")
def stop(signum, frame):
    note("stop " + name)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
note("up " + name)
while True:
    time.sleep(0.02)
"""

# A child that exits with a code once the named children are up (argv: code, log, names...).
EXIT_WHEN_UP = """
import sys, time
code, log, names = int(sys.argv[1]), sys.argv[2], sys.argv[3:sys.argv.index("--config")]
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        lines = open(log).read().split("\\n")
    except FileNotFoundError:
        lines = []
    if all(any(line.split()[:2] == ["up", name] for line in lines) for name in names):
        break
    time.sleep(0.02)
sys.exit(code)
"""


def step(label: str, script: str, *arguments: str, ready: Address | None = None) -> LaunchStep:
    return LaunchStep(label, (sys.executable, "-c", script, *arguments), "[x]\n", ready)


def lines(log: pathlib.Path) -> list[str]:
    return log.read_text().split()


def test_an_essential_child_exiting_sets_the_code_and_the_rest_stop_in_reverse_order(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "log"
    steps = [
        step("a", CHILD, "a", str(log)),
        step("b", CHILD, "b", str(log)),
        dataclasses.replace(step("c", EXIT_WHEN_UP, "3", str(log), "a", "b"), essential=True),
    ]
    assert supervise(steps, stop_timeout=10) == 3
    text = log.read_text()
    assert text.index("stop b") < text.index("stop a")


def test_a_failing_child_is_reported_and_the_others_keep_running(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A fixed-mode manager whose workers died, or a [gui] without aiohttp, must not take the scheduler down.
    log = tmp_path / "log"
    steps = [
        dataclasses.replace(step("scheduler", CHILD, "scheduler", str(log)), essential=True),
        step("manager", EXIT_WHEN_UP, "0", str(log), "scheduler"),
        step("gui", EXIT_WHEN_UP, "1", str(log), "scheduler"),
    ]
    seen_while_running: list[str] = []

    def stop_when_reported() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ("manager exited" in caplog.text and "gui exited" in caplog.text):
            time.sleep(0.02)
        time.sleep(0.5)  # several supervision rounds with only the scheduler left
        seen_while_running.append(log.read_text())
        os.kill(os.getpid(), signal.SIGTERM)

    helper = threading.Thread(target=stop_when_reported)
    helper.start()
    try:
        with caplog.at_level("INFO"):
            status = supervise(steps, stop_timeout=10)
    finally:
        helper.join()
    assert status == 0  # stopped by the signal
    assert "manager exited with code 0: the other processes keep running" in caplog.text
    assert "gui exited with code 1: the other processes keep running" in caplog.text
    assert "stop scheduler" not in seen_while_running[0]  # still running after both had exited
    assert "stop scheduler" in log.read_text()  # stopped by the launcher at the end


def test_the_launcher_ends_when_no_child_is_left(tmp_path: pathlib.Path) -> None:
    steps = [step("a", "import sys; sys.exit(0)"), step("b", "import sys; sys.exit(5)")]
    assert supervise(steps) == 5


def test_stop_signal_stops_all_and_exits_0(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "log"
    steps = [step("a", CHILD, "a", str(log)), step("b", CHILD, "b", str(log))]

    def signal_when_up() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if log.exists() and {"a", "b"} <= {line.split()[1] for line in log.read_text().splitlines()}:
                break
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    handler_before = signal.getsignal(signal.SIGTERM)
    sender = threading.Thread(target=signal_when_up)
    sender.start()
    try:
        assert supervise(steps) == 0
    finally:
        sender.join()
    text = log.read_text()
    assert text.index("stop b") < text.index("stop a")
    assert signal.getsignal(signal.SIGTERM) is handler_before  # the launcher's handlers are gone again


IGNORES_SIGTERM = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(sys.argv[1], "a") as file:
    file.write("up stubborn " + str(os.getpid()) + "\\n")
while True:
    time.sleep(0.02)
"""


def test_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "log"
    steps = [
        step("stubborn", IGNORES_SIGTERM, str(log)),
        dataclasses.replace(step("exit", EXIT_WHEN_UP, "5", str(log), "stubborn"), essential=True),
    ]
    started = time.monotonic()
    assert supervise(steps, stop_timeout=0.3) == 5
    assert time.monotonic() - started < 20
    pid = int(log.read_text().split()[2])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


LISTENS_LATE = """
import socket, sys, time
time.sleep(0.3)
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    time.sleep(0.02)
"""

CONNECTS = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
except OSError:
    sys.exit(7)
"""


def test_waits_for_a_ready_address_before_starting_the_next_child() -> None:
    port = free_tcp_port()
    address = Address.parse(f"tcp://127.0.0.1:{port}")
    client = dataclasses.replace(step("client", CONNECTS, str(port)), essential=True)
    steps = [step("storage", LISTENS_LATE, str(port), ready=address), client]
    assert supervise(steps) == 0  # "client" connected, then exited 0


def test_child_dying_before_ready_gives_its_code() -> None:
    address = Address.parse(f"tcp://127.0.0.1:{free_tcp_port()}")
    steps = [step("storage", "import sys; sys.exit(4)", ready=address), step("never", CHILD, "never", "/dev/null")]
    assert supervise(steps) == 4
