"""The documentation site builds with no warning (-W), every reference checked (-n), and no internal link broken.

The link check reads the built HTML (offline: Sphinx's own linkcheck builder goes to the network): every relative
``href``/``src`` must name a file of the site, and every ``#fragment`` an id in that file.
"""

from __future__ import annotations

import html.parser
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from scaler.config import GuiConfig, ObjectStorageServerConfig, SchedulerConfig, TopConfig, field_specs
from scaler.worker_manager_adapter.registry import ADAPTERS

ROOT = Path(__file__).resolve().parents[2]


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)
            elif name in ("href", "src"):
                self.links.append(value)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "sphinx", "-E", "-W", "-n", "--keep-going", "-q", "-b", "html", "docs", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"the documentation does not build cleanly:\n{result.stdout}\n{result.stderr}"
    return out


def test_no_internal_link_is_broken(site: Path) -> None:
    pages = {path: _parse(path) for path in site.rglob("*.html")}
    broken = []
    for page, parsed in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                continue  # external: not checked (offline)
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {link} (no such file)")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    assert broken == []
    assert len(pages) >= 15  # the site is there: index, guides, commands, seven worker managers


def test_every_option_of_every_command_is_documented(site: Path) -> None:
    commands = (site / "commands.html").read_text(encoding="utf-8")
    for config_class in (SchedulerConfig, ObjectStorageServerConfig, TopConfig, GuiConfig):
        for spec in field_specs(config_class):
            shown = spec.name if spec.option.positional else spec.long_flag
            assert f">{shown}<" in commands, f"{config_class.__name__}.{spec.name} is not in commands.html"
    for name, entry in ADAPTERS.items():
        page = (site / "worker_managers" / f"{name}.html").read_text(encoding="utf-8")
        assert "How it was tested" in page
        for spec in field_specs(entry.load_config_class()):
            shown = spec.name if spec.option.positional else spec.long_flag
            assert f">{shown}<" in page, f"{name}: {spec.name} is not on its page"


def test_every_example_is_in_the_docs(site: Path) -> None:
    examples = (site / "examples.html").read_text(encoding="utf-8")
    for path in sorted((ROOT / "examples").iterdir()):
        if path.suffix in (".py", ".sh"):
            first_line = path.read_text().splitlines()[1 if path.suffix == ".sh" else 0].strip('"# ')
            assert first_line[:40] in examples.replace("&quot;", '"'), f"{path.name} is not shown in examples.html"


def test_public_api_is_in_the_reference(site: Path) -> None:
    import scaler

    api = (site / "api.html").read_text(encoding="utf-8")
    for name in scaler.__all__:
        if name != "__version__":
            assert f'id="scaler.{name}"' in api, f"scaler.{name} is not in the API reference"
