"""Exact and near-duplicate owner replies are trained once and counted."""

from __future__ import annotations

from notme.data.dedupe import ReplyDeduper
from tests.data.conftest import build, conversation, msg, recipe, sft_messages, store

LONG = "the boiler stopped heating water last night, no error on the panel, the pilot light is on"


def test_exact_duplicates_ignore_case_punctuation_and_spacing():
    deduper = ReplyDeduper(0.85)
    assert deduper.check("See you at 8!") is None
    assert deduper.check("see  you at 8") == "exact"
    assert deduper.check("see you at 9") is None


def test_near_duplicates_use_the_threshold_and_one_turns_them_off():
    near = LONG.replace("last night", "last nite")
    deduper = ReplyDeduper(0.85)
    assert deduper.check(LONG) is None
    assert deduper.check(near) == "near"
    assert deduper.check("the boiler is fine now, thanks for sending the technician so quickly") is None
    off = ReplyDeduper(1.0)
    assert off.check(LONG) is None and off.check(near) is None


def test_the_build_trains_a_repeated_reply_once_and_reports_it():
    store(conversation("whatsapp:ana", msg("Ana", "coming?", 0), msg("me", "on my way.", 1)),
          conversation("whatsapp:rui", msg("Rui", "where are you", 0), msg("me", "On my way", 1),
                       msg("Rui", "and the boiler?", 2), msg("me", LONG, 3)),
          conversation("whatsapp:tomas", msg("Tomás", "any news?", 0), msg("me", LONG + "!", 1)))
    report, files = build(recipe())
    replies = [c for r in sft_messages(files) for role, c in r if role == "assistant"]
    assert sorted(replies) == sorted(["on my way.", LONG])
    assert report.dedupe == {"exact": 2, "near": 0}
