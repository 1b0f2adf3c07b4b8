"""Bundles refuse tampering: edited manifests, paths outside the bundle, symlinks, parameters
that name files, malformed manifests; saving never deletes a user's files."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import salesforecast as sf
from salesforecast.errors import InvalidArgumentError, ModelFileError


@pytest.fixture(scope="module")
def fitted() -> sf.Forecaster:
    df = sf.generate_sales(n_stores=2, n_products=2, start="2023-01-01", end="2023-04-30", seed=5)
    fc = sf.Forecaster(
        [sf.LightGBM(n_estimators=20), sf.SeasonalNaive()],
        sf.FeatureSpec(lags=[7, 14]),
        freq="1d",
        horizon=14,
        cv_windows=1,
    )
    with pytest.warns(sf.errors.UndeclaredColumnsWarning):
        return fc.fit(df)


def edit(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def model_root(folder: Path) -> Path:
    return folder / json.loads((folder / "manifest.json").read_text())["root"]


def test_save_refuses_a_folder_with_other_files(fitted: sf.Forecaster, tmp_path: Path) -> None:
    target = tmp_path / "mine"
    (target / "old_run").mkdir(parents=True)
    (target / "notes.txt").write_text("keep me")
    (target / "old_run" / "x.csv").write_text("1")
    with pytest.raises(InvalidArgumentError, match="not part of a salesforecast bundle"):
        fitted.save(target)
    assert (target / "notes.txt").read_text() == "keep me"
    assert (target / "old_run" / "x.csv").exists()
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt", "old_run"]


def test_save_replaces_only_a_bundle(fitted: sf.Forecaster, tmp_path: Path) -> None:
    target = tmp_path / "b"
    first = fitted.save(target)
    first_root = model_root(target)
    second = fitted.save(target)
    assert first != second  # a new version and creation time
    # The replaced version stays until the next save (a reader may have just read its manifest).
    assert len(list((target / "versions").iterdir())) == 2
    third = fitted.save(target)
    assert len(list((target / "versions").iterdir())) == 2
    assert not first_root.exists()
    assert sf.Forecaster.load(target, digest=third).horizon == 14
    with pytest.raises(ModelFileError, match="digest"):
        sf.Forecaster.load(target, digest=second)
    with pytest.raises(InvalidArgumentError, match="SHA-256"):
        sf.Forecaster.load(target, digest="not-a-digest")


def test_an_edited_manifest_is_caught_by_the_digest(fitted: sf.Forecaster, tmp_path: Path) -> None:
    target = tmp_path / "b"
    digest = fitted.save(target)
    edit(target, lambda m: m["settings"].update(horizon=3))
    assert sf.Forecaster.load(target).horizon == 3  # no reference: the edit cannot be seen
    with pytest.raises(ModelFileError, match="digest"):
        sf.Forecaster.load(target, digest=digest)


def test_signed_bundles_refuse_edits_and_unsigned_bundles(
    fitted: sf.Forecaster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unsigned = tmp_path / "unsigned"
    fitted.save(unsigned)
    monkeypatch.setenv("SALESFORECAST_BUNDLE_KEY", "test-key-1")
    signed = tmp_path / "signed"
    fitted.save(signed)
    assert sf.Forecaster.load(signed).horizon == 14
    with pytest.raises(ModelFileError, match="signature"):
        sf.Forecaster.load(unsigned)
    edit(signed, lambda m: m["settings"].update(horizon=3))
    with pytest.raises(ModelFileError, match="signature"):
        sf.Forecaster.load(signed)
    monkeypatch.setenv("SALESFORECAST_BUNDLE_KEY", "another-key")
    fitted.save(tmp_path / "other")
    monkeypatch.setenv("SALESFORECAST_BUNDLE_KEY", "test-key-1")
    with pytest.raises(ModelFileError, match="signature"):
        sf.Forecaster.load(tmp_path / "other")


@pytest.mark.parametrize(
    "path", ["../outside.txt", "/etc/passwd", "s3://bucket/model.txt", "models/../../x.txt"]
)
def test_manifest_paths_outside_the_bundle_are_refused(
    fitted: sf.Forecaster, tmp_path: Path, path: str
) -> None:
    target = tmp_path / "b"
    fitted.save(target)
    (tmp_path / "outside.txt").write_text("tree_sizes")

    def swap(m: dict[str, Any]) -> None:
        checksum = m["files"].pop("models/lightgbm.txt")
        m["files"][path] = checksum
        m["models"][0]["files"] = [path]

    edit(target, swap)
    with pytest.raises(ModelFileError, match="refused"):
        sf.Forecaster.load(target)


def test_a_root_outside_the_bundle_is_refused(fitted: sf.Forecaster, tmp_path: Path) -> None:
    target = tmp_path / "b"
    fitted.save(target)
    edit(target, lambda m: m.update(root="versions/../../elsewhere"))
    with pytest.raises(ModelFileError, match="refused"):
        sf.Forecaster.load(target)


def test_a_format_1_manifest_cannot_name_a_root(fitted: sf.Forecaster, tmp_path: Path) -> None:
    target = tmp_path / "b"
    fitted.save(target)
    edit(target, lambda m: m.update(format_version=1, root="../../../etc"))
    with pytest.raises(ModelFileError, match="format-1 manifest has no `root`"):
        sf.Forecaster.load(target)
    edit(target, lambda m: m.update(format_version=2, root=5))
    with pytest.raises(ModelFileError, match="root"):
        sf.Forecaster.load(target)


def test_non_standard_json_constants_are_refused(
    fitted: sf.Forecaster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALESFORECAST_BUNDLE_KEY", "k")
    target = tmp_path / "b"
    fitted.save(target)
    text = (target / "manifest.json").read_text()
    # A signature computed with NaN turned into null would still match: NaN is refused.
    (target / "manifest.json").write_text(text.replace('"n_threads": null', '"n_threads": NaN'))
    with pytest.raises(ModelFileError, match=r"manifest\.json is not valid JSON"):
        sf.Forecaster.load(target)


def test_parameter_values_cannot_smuggle_parameters() -> None:
    df = sf.generate_sales(n_stores=1, n_products=1, start="2023-01-01", end="2023-02-28")
    x = df.select("price", "discount").to_numpy()
    smuggled = sf.LightGBM(n_estimators=2, colsample_bytree="0.8 forcedsplits_filename=/x")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="whitespace"):
        smuggled.fit(x, df["sales"])


def test_symlinks_inside_the_bundle_are_not_followed(fitted: sf.Forecaster, tmp_path: Path) -> None:
    target = tmp_path / "b"
    fitted.save(target)
    model = model_root(target) / "models" / "lightgbm.txt"
    copy = tmp_path / "elsewhere.txt"
    copy.write_bytes(model.read_bytes())
    model.unlink()
    os.symlink(copy, model)
    with pytest.raises(ModelFileError, match="symbolic link"):
        sf.Forecaster.load(target)


def test_parameters_that_name_files_are_refused(fitted: sf.Forecaster, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="read or write files"):
        sf.LightGBM(forcedbins_filename="/etc/passwd")
    with pytest.raises(InvalidArgumentError, match="read or write files"):
        sf.XGBoost(model_out="x.ubj")
    target = tmp_path / "b"
    fitted.save(target)
    edit(target, lambda m: m["models"][0]["params"].update(forcedbins_filename="/etc/passwd"))
    with pytest.raises(ModelFileError, match="read or write files"):
        sf.Forecaster.load(target)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.pop("settings"), "lacks `settings`"),
        (lambda m: m.update(settings=[1, 2]), "settings"),
        (lambda m: m["settings"].update(horizon="14"), "horizon"),
        (lambda m: m["settings"].pop("freq"), "freq"),
        (lambda m: m["models"][0].pop("kind"), "kind"),
        (lambda m: m["models"].append("x"), "models"),
        (lambda m: m.update(models={"a": 1}), "models"),
        (lambda m: m["models"][0].update(kind="Pickle"), "unknown model kind"),
        (lambda m: m["models"][0]["params"].update(objective="nonsense"), "malformed"),
        (lambda m: m["files"].update({"models/lightgbm.txt": "abc"}), "SHA-256"),
        (lambda m: m.update(format_version=9), "format 9"),
        (lambda m: m.update(ensemble_fallback="oracle"), "ensemble_fallback"),
        (lambda m: m.update(ensemble_beaten=[3]), "ensemble_beaten"),
        (lambda m: m.update(ensemble_beaten=[5, 4]), "ensemble_beaten"),
        (lambda m: m.update(ensemble_beaten="3 of 4"), "ensemble_beaten"),
        (lambda m: m.update(ensemble_beaten=[0, 0]), "ensemble_beaten"),
        # A fallback is the baseline alone, after the blend lost.
        (lambda m: m.update(ensemble_fallback=m["models"][0]["name"]), "ensemble_fallback"),
    ],
)
def test_malformed_manifests_are_model_file_errors(
    fitted: sf.Forecaster,
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    target = tmp_path / "b"
    fitted.save(target)
    edit(target, change)
    with pytest.raises(ModelFileError, match=message):
        sf.Forecaster.load(target)


def test_a_manifest_that_is_not_an_object(fitted: sf.Forecaster, tmp_path: Path) -> None:
    target = tmp_path / "b"
    fitted.save(target)
    (target / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="not a JSON object"):
        sf.Forecaster.load(target)
    (target / "manifest.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        sf.Forecaster.load(target)


def test_loaded_forecaster_predicts_the_same(fitted: sf.Forecaster, tmp_path: Path) -> None:
    digest = fitted.save(tmp_path / "b")
    assert sf.Forecaster.load(tmp_path / "b", digest=digest).predict().equals(fitted.predict())
    assert isinstance(pl.read_parquet(model_root(tmp_path / "b") / "history.parquet"), pl.DataFrame)


def test_every_file_of_a_bundle_is_checked(fitted: sf.Forecaster, tmp_path: Path) -> None:
    source = tmp_path / "source"
    fitted.save(source)
    files = [p.relative_to(source) for p in source.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in files}
    assert {".txt", ".parquet", ".json"} <= kinds, kinds  # boosters, history, manifest
    for name in files:
        if name.name == "manifest.json":
            continue
        copy = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(source, copy)
        data = bytearray((copy / name).read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit in the middle of the file
        (copy / name).write_bytes(bytes(data))
        # Named as the manifest names it, within the version's root.
        with pytest.raises(
            ModelFileError, match=rf"checksum mismatch for .*{re.escape(name.name)}"
        ):
            sf.Forecaster.load(copy)


# Names that would run or unpickle what an artifact holds (and any name with "pickle" in it:
# read_pickle, allow_pickle).
UNSAFE = {"dill", "joblib", "marshal", "shelve", "eval", "exec", "__import__"}


def test_the_package_never_unpickles_or_evaluates_loaded_data() -> None:
    # Code only: docstrings and comments may say "no pickle".
    import io
    import tokenize

    package = Path(sf.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        found += [
            f"{path.relative_to(package)}:{tok.start[0]} {tok.string}"
            for tok in tokens
            if tok.type == tokenize.NAME
            and (tok.string in UNSAFE or "pickle" in tok.string.lower())
        ]
    assert len(list(package.rglob("*.py"))) > 20
    assert not found, found
