"""README's performance table is the one the latest full `make bench` wrote (bench/results/SUMMARY.md)."""

from __future__ import annotations

from bench.common import RESULTS_DIR
from bench.run_all import README, README_END, README_START, readme_block, update_readme

SUMMARY = """# Benchmark summary

Date: 2026-01-02 03:04 UTC

| benchmark | headline figures | baseline | ratio | wall time |
|---|---|---|---|---|
| ingest | loader 1 rows/s | psql 2 rows/s | 0.5 | 9 s |

Last line each benchmark printed (this run):

- `ingest`: `ratio_vs_psql_copy=0.5`

Machine: Some CPU, 2 cores, 24 GiB RAM, Python 3.11, Linux
"""


def test_update_readme_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{README_START}\nold table\n{README_END}\n\nafter\n")
    summary = tmp_path / "SUMMARY.md"
    summary.write_text(SUMMARY)
    assert update_readme(summary, readme)
    once = readme.read_text()
    assert once.startswith("# Title\n\nbefore\n\n") and once.endswith(f"{README_END}\n\nafter\n")
    assert "old table" not in once
    assert "| ingest | loader 1 rows/s | psql 2 rows/s | 0.5 | 9 s |" in once
    assert "Machine: Some CPU, 2 cores" in once and "Date: 2026-01-02 03:04 UTC" in once
    assert "Last line" not in once
    assert update_readme(summary, readme) and readme.read_text() == once  # idempotent


def test_update_readme_without_markers_changes_nothing(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    summary = tmp_path / "SUMMARY.md"
    summary.write_text(SUMMARY)
    assert not update_readme(summary, readme)
    assert readme.read_text() == "# no markers\n"


def test_readme_shows_the_latest_make_bench():
    text = README.read_text()
    assert README_START in text and README_END in text, "README lost its bench:summary markers"
    shown = text[text.index(README_START) + len(README_START):text.index(README_END)].strip()
    latest = readme_block((RESULTS_DIR / "SUMMARY.md").read_text()).strip()
    assert shown == latest, "README's performance table differs from bench/results/SUMMARY.md: run `make bench`"
    assert shown.count("\n|") >= 5  # header, rule and a row per benchmark
