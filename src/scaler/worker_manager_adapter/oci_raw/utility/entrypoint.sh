#!/usr/bin/env bash
# Entrypoint of the oci_raw worker image: install the requirements with uv, then run the worker command.
#
#   COMMAND              what to run; the oci_raw worker manager sets it (scaler_worker_manager baremetal_native ...)
#   PYTHON_REQUIREMENTS  requirements.txt text; blank lines and comments only: install nothing (an image that
#                        already has scaler and the task dependencies)
#   PYTHON_VERSION       the Python of the environment; uv fetches it when the image lacks it
#   SCALER_VENV          where the environment goes (default /opt/scaler-venv)
set -euo pipefail

: "${COMMAND:?COMMAND is not set: this image is started by the oci_raw worker manager}"

# pip's comment rule: "#" at the start of a line or after a space (a URL's "#sha256=..." is kept).
requirements="$(printf '%s\n' "${PYTHON_REQUIREMENTS:-}" \
    | sed -e 's/^#.*//' -e 's/[[:space:]]#.*//' -e 's/[[:space:]]*$//' | grep -v '^[[:space:]]*$' || true)"
if [ -n "$requirements" ]; then
    if printf '%s\n' "$requirements" | grep -q 'git+' && ! command -v git > /dev/null; then
        # A requirement from a git repository needs git, which the small base image leaves out.
        apt-get update -qq && apt-get install -y -qq --no-install-recommends git > /dev/null
    fi
    venv="${SCALER_VENV:-/opt/scaler-venv}"
    requirements_file="$(mktemp)"
    printf '%s\n' "$requirements" > "$requirements_file"
    uv venv --python "${PYTHON_VERSION:-3}" "$venv"
    uv pip install --python "$venv/bin/python" -r "$requirements_file"
    export PATH="$venv/bin:$PATH"
fi

exec bash -c "$COMMAND"
