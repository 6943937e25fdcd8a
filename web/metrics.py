"""Metric definitions for the pages, from the semantic layer (dbt_project/models/semantic/): the
page titles, captions and table headers of a metric are its label and description there, so a
metric is described in one place. Read from dbt's ``target/semantic_manifest.json`` when a parse
wrote one, else from the YAML it is built from."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import yaml

from core.settings import project_dir

SOURCE = Path("dbt_project/models/semantic/_semantic__models.yml")


@functools.cache
def definitions() -> dict[str, dict]:
    manifest = project_dir() / "target" / "semantic_manifest.json"
    metrics = []
    if manifest.exists():
        try:
            metrics = json.loads(manifest.read_text()).get("metrics", [])
        except ValueError:
            metrics = []
    if not metrics:
        metrics = (yaml.safe_load((project_dir() / SOURCE).read_text()) or {}).get("metrics", [])
    return {m["name"]: {"name": m["name"], "label": m.get("label") or m["name"].replace("_", " "),
                        "description": (m.get("description") or "").strip(), "type": m.get("type")}
            for m in metrics}


def label(name: str) -> str:
    return definitions()[name]["label"]


def description(name: str) -> str:
    return definitions()[name]["description"]
