"""Run the benchmark for every system, each in its own virtual environment, and print one markdown table.

    python3 bench/compare.py                         # all systems, full size
    python3 bench/compare.py --quick --systems ours  # CI smoke (< 60 s for ours alone)
    python3 bench/compare.py --runs 2                # each system twice (interleaved), medians in the table

Each system runs ``bench/run_one.py`` in a subprocess with its own interpreter, its own process group and a
timeout; every process it started is stopped afterwards (found by a tag in its environment). A system that fails
or is not installed prints that in its column and the others still run. Nothing here asserts on time.
Raw results and logs go to bench/results/<timestamp>/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH = REPO_ROOT / "bench"
PEERS = BENCH / ".peers"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.core import Settings  # noqa: E402 - needs the path set above when run as a script
from bench.table import FATAL_STEPS, Outcome, combine, render  # noqa: E402


@dataclass(frozen=True)
class System:
    name: str
    label: str
    python: Path
    setup_hint: str


def systems() -> dict[str, System]:
    ours_python = Path(os.environ.get("BENCH_OURS_PYTHON", REPO_ROOT / ".venv" / "bin" / "python"))
    peer_hint = "run: bash bench/setup_peers.sh {}"
    ours_hint = "run: python3 -m venv .venv && .venv/bin/pip install -e ."
    return {
        "ours": System("ours", "ours (scaler)", ours_python, ours_hint),
        "opengris": System("opengris", "opengris-scaler", PEERS / "opengris/bin/python", peer_hint.format("opengris")),
        "dask": System("dask", "dask", PEERS / "dask/bin/python", peer_hint.format("dask")),
        "ray": System("ray", "ray", PEERS / "ray/bin/python", peer_hint.format("ray")),
        "procpool": System("procpool", "ProcessPool", PEERS / "procpool/bin/python", peer_hint.format("procpool")),
    }


# --- running one system -----------------------------------------------------------------------------------------

#: systems that cannot be kept on 127.0.0.1 without a private network namespace
NEEDS_NETNS = {"ray": "Ray advertises the host's interface address, not 127.0.0.1"}


def netns_prefix() -> list[str] | None:
    """``unshare --net --`` where this machine allows a private network namespace (Linux, root), else None."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return None
    try:
        probe = subprocess.run([unshare, "--net", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return [unshare, "--net", "--"] if probe.returncode == 0 else None


def run_system(
    system: System,
    quick: bool,
    timeout_s: float,
    workers: int,
    out_dir: Path,
    run_index: int,
    netns: list[str] | None,
    allow_host_network: bool,
) -> Outcome:
    outcome = Outcome()
    if not system.python.exists():
        outcome.fatal = f"not installed ({system.setup_hint})"
        return outcome
    if netns is None and system.name in NEEDS_NETNS and not allow_host_network:
        outcome.fatal = (
            f"skipped: no private network namespace here (unshare --net) and {NEEDS_NETNS[system.name]};"
            " --netns off runs it anyway"
        )
        return outcome
    stem = f"{system.name}.run{run_index}"
    lines_path = out_dir / f"{stem}.jsonl"
    log_path = out_dir / f"{stem}.log"
    lines_path.unlink(missing_ok=True)  # run_one.py appends
    tag = uuid.uuid4().hex
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *inherited])
    env["PYTHONUNBUFFERED"] = "1"
    env["BENCH_RUN_TAG"] = tag
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    venv = system.python.parent.parent
    if (venv / "pyvenv.cfg").exists():
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = os.pathsep.join([str(system.python.parent), env.get("PATH", "")])
    command = [
        str(system.python),
        str(BENCH / "run_one.py"),
        "--system",
        system.name,
        "--out",
        str(lines_path),
        "--workers",
        str(workers),
    ] + (["--quick"] if quick else [])
    if netns is not None:
        command = [*netns, *command, "--netns"]
    print(
        f"== {system.label}: {' '.join(command)} (timeout {timeout_s:.0f}s, log {log_path})",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timed_out = False
        try:
            returncode = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            returncode = proc.wait()
        except BaseException:  # Ctrl-C: leave nothing running behind
            _kill_group(proc)
            _stop_tagged(tag)
            raise
    outcome.wall_s = time.perf_counter() - t0
    leftovers = _stop_tagged(tag)
    if leftovers:
        print(f"   stopped {leftovers} leftover process(es) of {system.label}", file=sys.stderr)

    current_step = None
    done = False
    if lines_path.exists():
        for line in lines_path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            event = record.get("event")
            if event == "begin":
                current_step = record["step"]
            elif event == "value":
                outcome.values[record["key"]] = record["value"]
            elif event == "error":
                outcome.errors[record["step"]] = record["error"]
            elif event == "done":
                done = True
    for step in FATAL_STEPS:
        if step in outcome.errors:
            outcome.fatal = f"{step}: {outcome.errors[step]}"
            break
    if timed_out:
        outcome.fatal = f"timeout after {timeout_s:.0f}s in step {current_step}"
    elif not done and outcome.fatal is None:
        outcome.fatal = f"exited with code {returncode} in step {current_step} (see {log_path})"
    if outcome.fatal:
        print(f"   {system.label}: {outcome.fatal}", file=sys.stderr)
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        print("   | " + "\n   | ".join(tail), file=sys.stderr)
    print(f"   {system.label}: {len(outcome.values)} values in {outcome.wall_s:.1f}s", file=sys.stderr, flush=True)
    return outcome


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _tagged_pids(tag: str) -> list[int]:
    marker = f"BENCH_RUN_TAG={tag}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def _stop_tagged(tag: str) -> int:
    """Stop every process still carrying this run's tag (cluster processes that outlived their driver)."""
    if not Path("/proc").is_dir():
        return 0
    pids = _tagged_pids(tag)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and _tagged_pids(tag):
            time.sleep(0.1)
        if not _tagged_pids(tag):
            break
    return len(pids)


def main(argv: list[str] | None = None) -> int:
    known = systems()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", default=",".join(known), help=f"comma-separated, from: {','.join(known)}")
    parser.add_argument("--quick", action="store_true", help="fewer tasks and samples (CI smoke)")
    parser.add_argument("--runs", type=int, default=1, help="run each system this many times, interleaved")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, help="seconds per system and run (default 600, quick 120)")
    parser.add_argument("--out-dir", type=Path, help="where raw results and logs go (default bench/results/<time>)")
    parser.add_argument(
        "--netns",
        choices=("auto", "on", "off"),
        default="auto",
        help="run each system in a private network namespace with loopback only (unshare --net, "
        "needs root): auto = where possible; Ray is skipped without one unless 'off'",
    )
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        parser.error(f"unknown system(s) {unknown}; known: {', '.join(known)}")
    timeout_s = args.timeout if args.timeout is not None else (120.0 if args.quick else 600.0)
    out_dir = (args.out_dir or BENCH / "results" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings.quick() if args.quick else Settings()
    settings.n_workers = args.workers
    netns = netns_prefix() if args.netns != "off" else None
    if args.netns == "on" and netns is None:
        parser.error("--netns on: 'unshare --net' does not work here (needs Linux and root)")
    print(f"network: {'private namespace per system (loopback only)' if netns else 'host network'}", file=sys.stderr)

    runs: dict[str, list[Outcome]] = {n: [] for n in names}
    for run_index in range(1, args.runs + 1):
        for name in names:
            runs[name].append(
                run_system(
                    known[name],
                    args.quick,
                    timeout_s,
                    args.workers,
                    out_dir,
                    run_index,
                    netns,
                    allow_host_network=args.netns == "off",
                )
            )
    outcomes = {n: combine(runs[n]) for n in names}
    labels = {n: known[n].label for n in names}
    table = render(names, labels, outcomes, settings)
    title = (
        f"{settings.n_workers} workers, {os.cpu_count()} cores, {'quick' if args.quick else 'full'} settings, "
        f"median of {args.runs} run(s), {'loopback-only network namespace' if netns else 'host network'}"
    )
    text = f"{title}\n\n{table}\n"
    (out_dir / "table.md").write_text(text, encoding="utf-8")
    raw = {
        n: [{"values": o.values, "errors": o.errors, "fatal": o.fatal, "wall_s": o.wall_s} for o in runs[n]]
        for n in names
    }
    (out_dir / "results.json").write_text(
        json.dumps({"settings": vars(settings), "runs": raw}, indent=1), encoding="utf-8"
    )
    print(text)
    print(f"(raw results: {out_dir})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
