#!/bin/sh
# Entrypoint of the aws_raw_ecs worker image (Dockerfile.ecs_worker beside this file).
#
#   COMMAND              what to run; the aws_raw_ecs worker manager sets it (scaler_worker_manager baremetal_native ...)
#   PYTHON_REQUIREMENTS  ';'-separated requirements the tasks need, installed first (scaler itself is in the image)
set -eu
: "${COMMAND:?COMMAND is not set: this image is started by the aws_raw_ecs worker manager}"
requirements="$(printf '%s' "${PYTHON_REQUIREMENTS:-}" | tr ';' '\n' | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | grep -v '^$' || true)"
if [ -n "$requirements" ]; then
    printf '%s\n' "$requirements" > /tmp/requirements.txt
    pip install --no-cache-dir -r /tmp/requirements.txt
fi
exec sh -c "$COMMAND"
