from __future__ import annotations

import pytest

from examples import turn_loop


def test_turn_loop_prints_stages_tokens_and_cost(capsys: pytest.CaptureFixture[str]) -> None:
    turn_loop.main(["--turns", "2"])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["stage", "span"]
    stages = [line.split()[0] for line in lines[1:-1]]
    assert stages == ["retrieval", "generation", "memory_update"] * 2
    assert "chat gpt-4o-mini" in out
    total = float(lines[-1].split("$")[1].split()[0])
    assert total > 0
