"""Every ```python block of README.md runs, in order, in one namespace (as a notebook session
would), in a temporary working directory. A block that needs a server a unit test cannot start
is marked on the line before its fence with ``<!-- readme-test: skip (the reason) -->``."""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
FENCE = re.compile(r"^\s*```")
# Skipped blocks are the exception: each one is documentation no test keeps honest.
MAX_SKIPS = 2


@dataclass(frozen=True)
class Block:
    line: int  # README line number of the block's first line of code
    code: str
    skip: str | None  # the reason, for a block marked to be skipped


def python_blocks(text: str) -> list[Block]:
    """The ```python blocks of a markdown text, in order, with their skip markers."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if not FENCE.match(lines[i]):
            i += 1
            continue
        language = lines[i].strip()[3:].strip()
        end = next((j for j in range(i + 1, len(lines)) if FENCE.match(lines[j])), None)
        assert end is not None, f"README.md line {i + 1}: a code fence is never closed"
        if language == "python":
            marker = SKIP.search(lines[i - 1]) if i > 0 else None
            code = "\n".join(lines[i + 1 : end]) + "\n"
            blocks.append(Block(i + 2, code, marker["reason"] if marker else None))
        i = end + 1
    return blocks


def run_block(block: Block, namespace: dict[str, Any]) -> None:
    # Padded so that tracebacks name README.md's own line numbers.
    code = compile("\n" * (block.line - 1) + block.code, str(README), "exec")
    try:
        exec(code, namespace)
    except Exception as e:
        pytest.fail(
            f"README.md block at line {block.line} raised {type(e).__name__}: {e}\n\n"
            + "".join(traceback.format_exception(e)),
            pytrace=False,
        )


def test_markers_mark_python_blocks() -> None:
    """A skip marker belongs on the line right before a ```python fence, and skips stay few."""
    lines = README.read_text().splitlines()
    for n, line in enumerate(lines):
        if "readme-test" in line:
            assert SKIP.search(line), f"README.md line {n + 1}: malformed marker {line!r}"
            following = lines[n + 1].strip() if n + 1 < len(lines) else ""
            assert following == "```python", (
                f"README.md line {n + 1}: a skip marker must be followed by a ```python fence"
            )
    skipped = [f"line {b.line}: {b.skip}" for b in python_blocks(README.read_text()) if b.skip]
    assert len(skipped) <= MAX_SKIPS, f"too many skipped README blocks: {skipped}"


def test_readme_snippets_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 5, "README.md lost its ```python blocks"
    monkeypatch.chdir(tmp_path)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    # A URI set earlier in this process (another test's server) wins over the variable; put it
    # back afterwards (None: the variable decides again).
    previous_uri = tracking_utils._tracking_uri
    mlflow.set_tracking_uri(tracking_uri)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    try:
        for block in blocks:
            if block.skip is None:
                run_block(block, namespace)
    finally:
        mlflow.set_tracking_uri(previous_uri)
    skipped = [f"line {b.line}: {b.skip}" for b in blocks if b.skip]
    if skipped:
        print("skipped README blocks:", *skipped, sep="\n  ")
