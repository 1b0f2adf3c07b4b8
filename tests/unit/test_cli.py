from __future__ import annotations

from pathlib import Path

import pytest

import salesforecast as sf
from salesforecast.cli import main


def test_demo_runs_the_pipeline_and_writes_a_bundle(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    code = main(
        [
            "demo",
            "--stores",
            "2",
            "--products",
            "4",
            "--start",
            "2022-01-01",
            "--out",
            str(out),
            "--report",
            str(tmp_path / "report"),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    for needle in ("generated", "validation: OK", "split:", "ensemble", "oracle", "bundle written"):
        assert needle in text
    assert sf.Forecaster.load(out).horizon == 28
    assert "report of 2 backtest windows" in text
    assert (tmp_path / "report" / "report.html").stat().st_size > 10_000
