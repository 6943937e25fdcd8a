"""Place the real public sample files (``../shared/data``) into a landing zone under their
contracts' prefixes, in dated ``yyyy/mm/dd/`` folders that follow each feed's file order."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ingestion.landing import Landing

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]


@dataclass(frozen=True)
class RealFile:
    source: Path
    key: str


def default_data_dir() -> Path:
    from core.settings import project_dir

    return project_dir().parent / "shared" / "data"


def real_files(data_dir: Path, datasets: list[str] | None = None) -> list[RealFile]:
    """Landing keys for every known real sample file present in ``data_dir``."""
    data_dir = Path(data_dir)
    files: list[RealFile] = []

    def want(name: str) -> bool:
        return datasets is None or name in datasets

    kc = data_dir / "king_county" / "kc_house_data.csv"
    if want("king_county") and kc.exists():
        files.append(RealFile(kc, "king_county/sales/2015/05/27/kc_house_data.csv"))
    if want("nyc_dof"):
        for path in sorted((data_dir / "nyc_dof_rolling_sales").glob("nyc_rollingsales_*.csv")):
            files.append(RealFile(path, f"nyc_dof/rolling_sales/2020/09/18/{path.name}"))
    if want("uk_land_registry"):
        for path in sorted((data_dir / "uk_land_registry" / "price_paid_monthly").glob("*_*.csv")):
            month_name, year = path.stem.split("_")
            month = _MONTHS.index(month_name) + 1
            files.append(RealFile(path, f"uk_land_registry/price_paid/{year}/{month:02d}/28/{path.name}"))
    indices = data_dir / "market_indices"
    if want("case_shiller"):
        for path in sorted(indices.glob("caseshiller_*.csv")):
            files.append(RealFile(path, f"fred/case_shiller/2024/01/01/{path.name}"))
    if want("zillow"):
        for path in sorted(indices.glob("zillow_zhvi_*.csv")):
            files.append(RealFile(path, f"zillow/zhvi/2025/02/15/{path.name}"))
    return files


def stage_real_feeds(landing: Landing, data_dir: Path | None = None, datasets: list[str] | None = None) -> list[str]:
    """Copy the real files into ``landing`` (streamed); returns the keys written."""
    keys = []
    for item in real_files(data_dir or default_data_dir(), datasets):
        with open(item.source, "rb") as src, landing.writer(item.key) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        keys.append(item.key)
    return keys
