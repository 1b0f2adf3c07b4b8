from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import salesforecast as sf
from salesforecast.errors import DataError, InvalidArgumentError, MissingColumnError


def test_csv_and_parquet_round_trip_any_frequency(tmp_path: Path) -> None:
    for freq in ("1d", "1w", "1mo"):
        df = sf.generate_sales(
            n_stores=2, n_products=2, start="2022-01-03", end="2022-12-31", freq=freq
        )
        csv, parquet = tmp_path / f"{freq}.csv", tmp_path / f"{freq}.parquet"
        df.sample(fraction=1.0, shuffle=True, seed=1).write_csv(csv)
        df.write_parquet(parquet)
        for path in (csv, parquet):
            back = sf.read_sales(path)
            assert back["date"].dtype == pl.Date
            assert back["sales"].dtype == pl.Float64
            assert back.select(df.columns).equals(df.sort(["store_id", "product_id", "date"]))
            assert sf.validate(back).freq == freq


def test_real_world_layout(tmp_path: Path) -> None:
    path = tmp_path / "weekly.csv"
    path.write_text(
        "sku,week,units\nA,03/01/2022,4\nA,10/01/2022,7\nB,03/01/2022,0\nB,10/01/2022,2\n"
    )
    frame = sf.read_sales(
        path, id_col="sku", time_col="week", target_col="units", time_format="%d/%m/%Y"
    )
    assert frame["week"].to_list() == [dt.date(2022, 1, 3), dt.date(2022, 1, 10)] * 2
    assert sf.validate(frame, id_col="sku", time_col="week", target_col="units").freq == "1w"


def test_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("series_id,date,sales\na,2022-01-01,1\na,not a date,2\n")
    with pytest.raises(DataError, match="not a date"):
        sf.read_sales(bad)
    with pytest.raises(MissingColumnError, match="units"):
        sf.read_sales(bad, target_col="units")
    with pytest.raises(InvalidArgumentError, match="xlsx"):
        sf.read_sales(tmp_path / "sales.xlsx")
