"""``Client`` and ``SchedulerClusterCombo`` render as HTML in a notebook: address, workers, tasks, monitor hint."""

from __future__ import annotations

import html.parser
import socket

import pytest

from scaler import Client, SchedulerClusterCombo
from scaler.io.address import Address


class _Cells(html.parser.HTMLParser):
    """The table as {row label: cell text}, the way a browser would show it."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, str] = {}
        self._label: str | None = None
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("th", "td"):
            self._in = tag
            if tag == "td":
                assert self._label is not None
                self.rows[self._label] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "th":
            self._label = data
        elif self._in == "td" and self._label is not None:
            self.rows[self._label] += data


def _cells(markup: str) -> dict[str, str]:
    parser = _Cells()
    parser.feed(markup)
    return parser.rows


def test_client_repr_shows_address_workers_and_tasks(cluster: SchedulerClusterCombo) -> None:
    monitor = str(Address.parse(cluster.get_address()).with_port_offset(2))
    with Client(address=cluster.get_address()) as client:
        assert client.map(abs, [-1, -2]) == [1, 2]
        markup = client._repr_html_()
        cells = _cells(markup)
        assert markup.startswith('<div class="scaler-repr"><strong>Scaler Client</strong>')
        assert cells["scheduler"] == cluster.get_address()
        assert cells["state"] == "connected"
        assert cells["this client's unfinished tasks"] == "0"
        assert cells["workers"].startswith("2 (")
        assert "success" in cells["finished"]
        assert f"scaler_top {monitor}" in cells["monitor"] and "http://127.0.0.1:50001/" in cells["monitor"]
    cells = _cells(client._repr_html_())
    assert cells["state"] == "disconnected" and cells["workers"].startswith("unknown")


def test_combo_repr_before_and_after_shutdown() -> None:
    combo = SchedulerClusterCombo(n_workers=1, logging_level="WARNING")
    try:
        with Client(address=combo.get_address()) as client:
            assert client.submit(abs, -3).result(timeout=60) == 3
        cells = _cells(combo._repr_html_())
        assert cells["scheduler"] == combo.get_address()
        assert cells["object storage"] == combo.object_storage_address
        assert cells["state"] == "running, 1 worker process(es) started"
        assert cells["workers"].startswith("1 (")
        assert "success 1" in cells["finished"]
    finally:
        combo.shutdown()
    cells = _cells(combo._repr_html_())
    assert cells["state"] == "shut down" and cells["workers"].startswith("unknown")


def test_repr_escapes_what_it_shows() -> None:
    from scaler.client.notebook import cluster_html

    markup = cluster_html("<b>", [("a<", "x & <y>")], "tcp://127.0.0.1:1", None)
    assert "<strong>&lt;b&gt;</strong>" in markup
    assert "x &amp; &lt;y&gt;" in markup and "a&lt;" in markup


def test_repr_links_to_a_running_gui_or_says_how_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from scaler.client import notebook

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setattr(notebook, "GUI_PORT", server.getsockname()[1])
        running = _cells(notebook.cluster_html("t", [], "tcp://127.0.0.1:8518", None))["monitor"]
    assert "a web server answers there" in running and "scaler_gui tcp" not in running
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: nothing answers
        monkeypatch.setattr(notebook, "GUI_PORT", closed.getsockname()[1])
        stopped = _cells(notebook.cluster_html("t", [], "tcp://127.0.0.1:8518", None))["monitor"]
    assert "scaler_gui tcp://127.0.0.1:8518 then open http://127.0.0.1:" in stopped
