"""Bad input is logged at a limited rate per outcome, with a count of the lines held back."""

from __future__ import annotations

import logging

import pytest

from monitor.mqtt.ratelog import RateLimitedLog, truncate

T0 = 1_764_000_000.0


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Lines:
    return Lines()


@pytest.fixture
def bad(lines: Lines) -> RateLimitedLog:
    logger = logging.getLogger("tests.ratelog")
    logger.handlers[:] = [lines]
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    return RateLimitedLog(logger, per_minute=3)


def test_first_lines_of_a_minute_are_logged_with_their_arguments(bad: RateLimitedLog, lines: Lines) -> None:
    assert bad.warn("invalid", T0, "dropped %s: %s", "cam-1", "not JSON") is True
    assert lines.lines == ["dropped cam-1: not JSON"]


def test_lines_beyond_the_limit_are_held_back(bad: RateLimitedLog, lines: Lines) -> None:
    logged = [bad.warn("invalid", T0 + i, "bad %d", i) for i in range(10)]
    assert logged == [True, True, True] + [False] * 7
    assert lines.lines == ["bad 0", "bad 1", "bad 2"]


def test_each_outcome_has_its_own_limit(bad: RateLimitedLog, lines: Lines) -> None:
    for i in range(5):
        bad.warn("invalid", T0 + i, "invalid %d", i)
        bad.warn("unknown_device", T0 + i, "unknown %d", i)
    assert lines.lines.count("invalid 0") == 1
    assert [line for line in lines.lines if line.startswith("unknown")] == ["unknown 0", "unknown 1", "unknown 2"]
    assert len(lines.lines) == 6


def test_next_minute_reports_the_count_held_back_and_logs_again(bad: RateLimitedLog, lines: Lines) -> None:
    for i in range(10):
        bad.warn("invalid", T0 + i, "bad %d", i)
    assert bad.warn("invalid", T0 + 59.9, "still held") is False
    assert bad.warn("invalid", T0 + 60, "new minute") is True
    assert lines.lines[3:] == ["8 more invalid messages were dropped in the last minute (not logged)", "new minute"]


def test_quiet_minute_adds_no_summary_line(bad: RateLimitedLog, lines: Lines) -> None:
    bad.warn("invalid", T0, "one")
    bad.warn("invalid", T0 + 120, "two")
    assert lines.lines == ["one", "two"]


def test_count_held_back_is_reported_even_when_the_bad_input_stops(bad: RateLimitedLog, lines: Lines) -> None:
    for i in range(50):
        bad.warn("invalid", T0 + i * 0.1, "bad %d", i)
    bad.flush(T0 + 30)
    assert len(lines.lines) == 3  # the minute is not over yet
    bad.flush(T0 + 60)
    assert lines.lines[-1] == "47 more invalid messages were dropped in the last minute (not logged)"
    bad.flush(T0 + 200)
    assert len(lines.lines) == 4  # reported once


def test_flush_with_nothing_held_logs_nothing(bad: RateLimitedLog, lines: Lines) -> None:
    bad.warn("invalid", T0, "one")
    bad.flush(T0 + 600)
    assert lines.lines == ["one"]


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (b'{"ts": 1}', '{"ts": 1}'),
        (b"x" * 120, "x" * 120),
        (b"x" * 121, "x" * 120 + "... (121 bytes)"),
        (b"\xff\xfeok", "\ufffd\ufffdok"),
        (b"", ""),
    ],
)
def test_payload_is_truncated_for_the_log(payload: bytes, text: str) -> None:
    assert truncate(payload) == text


def test_truncated_payload_never_holds_more_than_the_limit() -> None:
    assert truncate(b"y" * 5000, limit=10) == "yyyyyyyyyy... (5000 bytes)"
