"""A task graph: load three shards, clean each, join them and summarise, with independent nodes in parallel.

    python examples/task_graph.py [--workers N]

The graph is a plain dict in Dask's format: ``key: (function, argument_or_key, ...)``. Intermediate results stay
in the cluster's object storage and flow from node to node; only the requested keys come back to the client.
"""

from __future__ import annotations

import argparse

from scaler import Client, SchedulerClusterCombo


def load(shard: int) -> list[int]:
    return list(range(shard * 1000, (shard + 1) * 1000))


def clean(rows: list[int]) -> list[int]:
    return [row for row in rows if row % 7 != 0]


def join(*parts: list[int]) -> list[int]:
    return sorted(row for part in parts for row in part)


def summarise(rows: list[int]) -> dict[str, int]:
    return {"rows": len(rows), "total": sum(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    graph = {
        **{f"raw-{i}": (load, i) for i in range(3)},
        **{f"clean-{i}": (clean, f"raw-{i}") for i in range(3)},
        "joined": (join, "clean-0", "clean-1", "clean-2"),
        "summary": (summarise, "joined"),
    }
    with SchedulerClusterCombo(n_workers=args.workers) as cluster:
        with Client(address=cluster.get_address()) as client:
            result = client.get(graph, ["summary"])
    print(f"summary: {result['summary']}")
    expected = [row for row in range(3000) if row % 7 != 0]
    assert result == {"summary": {"rows": len(expected), "total": sum(expected)}}


if __name__ == "__main__":
    main()
