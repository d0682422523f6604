"""Every figure the README and the docs quote is what `python -m bench` measured: the pages quote figures only in
generated blocks (bench/figures.py) and those blocks are rendered from bench/results.json
(tests/e2e/test_bench_results.py shows that file still counts what the code does today)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import figures

#: measured-looking numbers that are not mfprov's measurements, and why they may stand in the prose
NOT_OURS = {
    "about 15 s": "docs/stacks.md: AWS's figure for an Aurora Serverless v2 resume from 0 ACUs",
}
#: a number of seconds or of AWS calls: what the bench measures
_FIGURE = re.compile(r"\b\d+(?:\.\d+)? (?:ms|s)\b|\b\d[\d,]* (?:AWS )?calls\b")


def test_every_generated_block_is_what_the_last_bench_run_measured() -> None:
    assert not figures.stale(figures.load()), "figures out of date: run python -m bench.figures (or python -m bench)"


def test_the_readme_has_the_presets_figures() -> None:
    readme = (figures.ROOT / "README.md").read_text()
    block = re.search(r"<!-- bench:presets -->\n(.*?)<!-- /bench -->", readme, re.S)
    assert block is not None
    for preset in figures.load()["presets"]:
        assert f"| {figures.LABELS.get(preset, preset)} |" in block.group(1)


@pytest.mark.parametrize("page", [p for p in figures.pages() if p.name != "BENCHMARKS.md"], ids=lambda p: p.name)
def test_no_page_quotes_a_figure_outside_a_generated_block(page: Path) -> None:
    prose = figures.BLOCK.sub("", page.read_text())
    loose = [m.group(0) for m in _FIGURE.finditer(prose) if not any(m.group(0) in k for k in NOT_OURS)]
    assert not loose, f"{page.name} quotes {loose}: put figures in a <!-- bench:... --> block (bench/figures.py)"


def test_a_changed_result_makes_the_pages_stale() -> None:
    report = figures.load()
    report["presets"]["personal"]["resources"] += 1
    assert "README.md" in figures.stale(report)
