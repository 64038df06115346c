"""scaler.io.memory: giving freed heap back, without side effects at import."""

from __future__ import annotations

import subprocess
import sys


def test_importing_it_starts_no_child_process() -> None:
    # It found libc with ctypes.util.find_library, which runs `ldconfig -p` in a child: every scheduler and object
    # storage forked at start-up, and a harness looking for the scheduler's storage child took that one instead.
    code = (
        "import subprocess\n"
        "def refuse(*args, **kwargs):\n"
        "    raise AssertionError(f'a child process was started: {args}')\n"
        "subprocess.Popen.__init__ = refuse\n"
        "import scaler.io.memory as memory\n"
        "memory.release_free_memory()\n"
        "print(memory._trim is not None)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"  # glibc here: malloc_trim was found all the same
