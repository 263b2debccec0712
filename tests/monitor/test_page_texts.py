"""The pages' words: every key a template asks for exists in both languages, and the rules' English
notes are shown in Chinese."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.http.pages.alerts import rule_note
from monitor.http.pages.base import TEXT

TEMPLATES = Path(__file__).resolve().parents[2] / "monitor" / "http" / "pages" / "templates"


def test_every_text_key_the_templates_name_is_there_in_chinese_and_english() -> None:
    keys = {k for f in TEMPLATES.glob("*.html") for k in re.findall(r"t\('([a-z_0-9]+)'\)", f.read_text("utf-8"))}
    missing = sorted(k for k in keys if k not in TEXT)
    assert missing == []
    assert all(len(pair) == 2 and all(pair) for pair in TEXT.values())


@pytest.mark.parametrize(("note", "zh"), [
    ("cancelled at the panel after 42 s", "报警器上已取消（42 秒后）"),
    ("stopped flapping", "已不再频繁掉线"),
    ("tested", "已完成测试按键"),
    ("已到校门", "已到校门"),
])
def test_a_note_the_rules_wrote_reads_in_chinese(note: str, zh: str) -> None:
    assert rule_note(note, "zh") == zh
    assert rule_note(note, "en") == note


def test_every_state_kind_role_and_ticket_action_the_pages_name_has_its_words() -> None:
    from alerts.model import AlertState
    from alerts.tickets import Action, TicketStatus
    from devices.liveness import State
    from devices.model import DeviceKind
    from monitor.http.auth import ROLES

    wanted = [str(s) for s in State] + [str(k) for k in DeviceKind] + [str(s) for s in TicketStatus]
    wanted += [str(s) for s in AlertState] + [f"act_{a}" for a in Action] + [f"role_{r}" for r in ROLES]
    wanted += [f"kind_{k}" for k in ("dormitory", "canteen", "gate", "classroom", "playground", "other")]
    assert [k for k in wanted if k not in TEXT] == []
