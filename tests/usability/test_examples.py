"""The programs in examples/ and every Python snippet of the README run as written (ports aside), with small sizes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli.helpers import BIN, free_port_block, stop, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # the venv's scaler_* commands


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize(
    ("script", "arguments", "expected"),
    [
        ("demo.py", ("--workers", "2", "--samples", "400000", "--chunks", "20"), "20 tasks on 2 workers: pi ~= 3.1"),
        ("parameter_sweep.py", ("--workers", "2", "--samples", "200"), "6 parameter sets x 3 folds fitted"),
        ("parfun_pipeline.py", ("--workers", "2", "--size", "5000"), "normalised 5000 values: mean "),
        ("task_graph.py", ("--workers", "2"), "summary: {'rows': 2571, 'total': 3855858}"),
    ],
)
def test_example_runs(script: str, arguments: tuple[str, ...], expected: str) -> None:
    result = _run(sys.executable, str(EXAMPLES / script), *arguments)
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout


def test_multi_machine_script_on_one_machine() -> None:
    port = free_port_block(3)
    script = str(EXAMPLES / "multi_machine.sh")
    options = {"env": ENV, "cwd": ROOT, "stdin": subprocess.DEVNULL, "text": True}
    head = subprocess.Popen(["bash", script, "head", "127.0.0.1", str(port)], **options)  # type: ignore[call-overload]
    worker = None
    try:
        wait_for_port(port)
        worker = subprocess.Popen(["bash", script, "worker", "127.0.0.1", str(port), "2"], **options)  # type: ignore[call-overload]
        client = _run("bash", script, "client", "127.0.0.1", str(port))
        assert client.returncode == 0, client.stdout + client.stderr
        assert "20 tasks ran on: " in client.stdout
        assert f"sum of squares: {sum(i * i for i in range(100))}" in client.stdout
    finally:
        if worker is not None:
            stop(worker)
        stop(head)


def test_multi_machine_script_names_its_roles() -> None:
    result = _run("bash", str(EXAMPLES / "multi_machine.sh"), "mayor", "127.0.0.1")
    assert result.returncode == 2 and "unknown role mayor (head, worker or client)" in result.stderr


def _readme_python_snippets() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_has_python_snippets() -> None:
    assert len(_readme_python_snippets()) >= 2


@pytest.mark.parametrize(
    "index",
    [
        # The "Works with" snippet starts parfun, pargraph, joblib and scikit-learn on a cluster: ~30 s when busy.
        pytest.param(index, marks=pytest.mark.slow) if "sklearn" in snippet else index
        for index, snippet in enumerate(_readme_python_snippets())
    ],
)
def test_readme_python_snippet_runs_as_written(index: int, tmp_path: Path) -> None:
    snippet = _readme_python_snippets()[index]
    # A fixed port in the text would collide with anything else using it on a shared machine: the only change.
    port = free_port_block(3)
    runnable = snippet.replace("8516", str(port))
    script = tmp_path / f"readme_snippet_{index}.py"
    script.write_text(runnable)
    result = _run(sys.executable, str(script))
    assert result.returncode == 0, f"README snippet {index} failed:\n{snippet}\n{result.stdout}\n{result.stderr}"
    # Where the README says what a print shows ("print(x)   # 5"), the output must say the same.
    printed = iter(result.stdout.splitlines())
    for line in snippet.splitlines():
        if line.strip().startswith("print(") and "#" in line:
            comment = line.split("#", 1)[1]
            shown = next(printed)
            assert shown in comment, f"README says {comment.strip()!r} but the snippet printed {shown!r}"


def test_install_system_deps_without_apt_says_so_and_succeeds(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a PATH with no tmux, chromium, chromedriver or apt-get
    bin_dir.mkdir()
    os.symlink("/usr/bin/id", bin_dir / "id") if os.path.exists("/usr/bin/id") else None
    result = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "install-system-deps")],
        capture_output=True, text=True, timeout=60, env={"PATH": str(bin_dir)},
    )  # fmt: skip
    assert result.returncode == 0
    assert "no apt-get here; install" in result.stderr and "tmux" in result.stderr
    assert "their tests are skipped until then" in result.stderr


def test_terminal_tests_skip_with_a_reason_without_tmux(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/monitor/test_top_terminal.py"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, "PATH": str(bin_dir)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tmux is not installed: run scripts/install-system-deps" in result.stdout
    assert " passed" not in result.stdout and "skipped" in result.stdout


def _docs_python_snippets() -> list[tuple[str, str]]:
    snippets = []
    for page in ("index.rst", "quickstart.rst"):
        text = (ROOT / "docs" / page).read_text()
        for block in re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text):
            snippets.append((page, textwrap.dedent(block)))
    return snippets


@pytest.mark.parametrize(("page", "snippet"), _docs_python_snippets())
def test_docs_python_snippet_runs(page: str, snippet: str, tmp_path: Path) -> None:
    script = tmp_path / "docs_snippet.py"
    script.write_text(snippet)
    result = _run(sys.executable, str(script))
    assert result.returncode == 0, f"{page} snippet failed:\n{snippet}\n{result.stdout}\n{result.stderr}"
    printed = iter(result.stdout.splitlines())
    for line in snippet.splitlines():
        if line.strip().startswith("print(") and "#" in line:
            shown = next(printed)
            assert shown in line.split("#", 1)[1], f"{page} says {line.split('#', 1)[1].strip()!r}, printed {shown!r}"
