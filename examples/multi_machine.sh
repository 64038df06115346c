#!/usr/bin/env bash
# A cluster over several machines: the scheduler on one, workers on the others, clients anywhere.
#
#   on the head machine:    examples/multi_machine.sh head   HEAD_IP [PORT]          # scheduler (+ object storage)
#   on each worker machine: examples/multi_machine.sh worker HEAD_IP [PORT] [N]      # N workers (default: cores)
#   from any machine:       examples/multi_machine.sh client HEAD_IP [PORT]          # a small job, to check
#
# The scheduler listens on PORT (default 8516), object storage on PORT+1 and the monitor on PORT+2: open those
# three ports from the worker and client machines to the head, and nothing else. Scaler has no authentication
# yet: bind to a private network (HEAD_IP is the head's address on it), never to a public interface.
# Every machine needs the same Python version and Scaler installed (pip install scaler), plus whatever the
# tasks import.
set -euo pipefail

role="${1:?usage: $0 head|worker|client HEAD_IP [PORT] [N]}"
head_ip="${2:?usage: $0 head|worker|client HEAD_IP [PORT] [N]}"
port="${3:-8516}"
address="tcp://${head_ip}:${port}"
python="${PYTHON:-python3}"

case "$role" in
    head)
        # Also starts object storage at PORT+1 and publishes monitoring at PORT+2 (scaler_top / scaler_gui).
        exec scaler_scheduler "$address"
        ;;
    worker)
        workers="${4:-$(nproc)}"
        # A fixed pool of workers on this machine; --mode dynamic lets the scheduler's scaling policy decide.
        exec scaler_worker_manager baremetal_native "$address" --mode fixed --max-task-concurrency "$workers"
        ;;
    client)
        exec "$python" - "$address" <<'PYTHON'
import socket
import sys

from scaler import Client

with Client(address=sys.argv[1]) as client:
    hosts = client.map(lambda _: socket.gethostname(), range(20))
    print(f"20 tasks ran on: {', '.join(sorted(set(hosts)))}")
    print(f"sum of squares: {sum(client.map(pow, range(100), [2] * 100))}")
PYTHON
        ;;
    *)
        echo "$0: unknown role $role (head, worker or client)" >&2
        exit 2
        ;;
esac
