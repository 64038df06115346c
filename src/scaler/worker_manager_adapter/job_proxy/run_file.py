"""``python -m scaler.worker_manager_adapter.job_proxy.run_file PAYLOAD_PATH OUTPUT_PATH``: run one job payload
from a file and write its outcome to a file (what a container entrypoint calls after downloading the payload)."""

from __future__ import annotations

import sys
from pathlib import Path

from scaler.worker_manager_adapter.job_proxy.payload import run_payload


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m scaler.worker_manager_adapter.job_proxy.run_file PAYLOAD OUTPUT", file=sys.stderr)
        return 2
    payload_path, output_path = map(Path, argv)
    output = run_payload(payload_path.read_bytes())
    partial = output_path.with_name(output_path.name + ".partial")
    partial.write_bytes(output)
    partial.replace(output_path)  # readers never see a half-written outcome
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
