#!/usr/bin/env bash
# Create one virtual environment per peer system under bench/.peers/ (idempotent).
#
#   bash bench/setup_peers.sh                 # all peers
#   bash bench/setup_peers.sh dask opengris   # only some
#
# Each venv gets pinned versions; a stamp file holding the requirement line lets a re-run skip a venv that is
# already complete. A peer that fails to install (e.g. no wheel for this platform) is reported and skipped: its
# venv is left without a stamp, and bench/compare.py prints "not installed" in its column.
# Our own system is not installed here: it runs from the repository's .venv (pip install -e .[test]).
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS="$HERE/.peers"
PYTHON="${PYTHON:-python3}"
NUMPY="numpy==2.4.6"

declare -A REQS=(
    [procpool]="$NUMPY"
    [dask]="dask[distributed]==2026.8.0 $NUMPY"
    [opengris]="opengris-scaler==2.9.0 $NUMPY"
    [ray]="ray==2.60.0 $NUMPY"
)

if [ $# -gt 0 ]; then names=("$@"); else names=(procpool dask opengris ray); fi

mkdir -p "$PEERS"
status=0
for name in "${names[@]}"; do
    reqs="${REQS[$name]:-}"
    if [ -z "$reqs" ]; then echo "unknown peer: $name (known: ${!REQS[*]})" >&2; status=2; continue; fi
    venv="$PEERS/$name"
    stamp="$venv/.bench-installed"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$reqs" ] && [ -x "$venv/bin/python" ]; then
        echo "[$name] up to date ($reqs)"
        continue
    fi
    echo "[$name] installing: $reqs"
    rm -f "$stamp"
    if [ ! -x "$venv/bin/python" ]; then
        "$PYTHON" -m venv "$venv" || { echo "[$name] venv creation failed" >&2; status=1; continue; }
    fi
    # pip's notes about this machine's local mirror folders ("... is ignored: it is neither a file nor a directory")
    # are noise: filtered out, pip's own exit status kept.
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip install --quiet $reqs 2>&1 | grep -v "is neither a file nor a directory"
    if [ "${PIPESTATUS[0]}" -eq 0 ]; then
        echo "$reqs" > "$stamp"
        echo "[$name] ok"
    else
        echo "[$name] NOT INSTALLABLE: pip install failed (see above); compare.py will skip it" >&2
        status=1
    fi
done
exit $status
