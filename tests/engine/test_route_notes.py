"""`chatroute route --json` says when a question was read as multiple choice (QualityModel.choice_gap)."""

from __future__ import annotations

import json

import pytest

from tests.engine.helpers import run_cli
from tests.routing.test_choice_gap import EXAM, OPEN

pytestmark = pytest.mark.usefixtures("configured")


def test_route_json_says_when_a_question_is_read_as_multiple_choice(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "route", "--json", EXAM)
    assert code == 0, err
    assert any("multiple choice" in n for n in json.loads(out)["notes"])
    code, out, err = run_cli(capsys, "route", "--json", OPEN)
    assert code == 0, err
    assert not any("multiple choice" in n for n in json.loads(out)["notes"])
