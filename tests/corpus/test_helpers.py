"""The small shared pieces every ingester relies on."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from notme.corpus.schema import Message, sort_by_time
from notme.corpus.text import clean_text, normalize_identity, short_title
from notme.corpus.timestamps import from_apple, from_iso, from_local_iso, from_unix, from_wallclock, iso_utc
from notme.ingest.base import Owner, owner_from_chat_names, walk_to_root

LISBON = ZoneInfo("Europe/Lisbon")


class TestTimestamps:
    def test_fixed_width_so_string_order_is_time_order(self):
        whole = from_iso("2025-01-06T10:00:00Z")
        later = from_iso("2025-01-06T10:00:00.500Z")
        assert whole == "2025-01-06T10:00:00.000Z" and later == "2025-01-06T10:00:00.500Z"
        assert whole < later

    @pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
                                       "1850-01-01T00:00:00Z", "not a date", "", None, 42])
    def test_impossible_iso_times_are_null_not_errors(self, value):
        assert from_iso(value) is None

    @pytest.mark.parametrize("value", [-9e10, -1, float("inf"), float("nan"), 1e20, "x", None, True])
    def test_impossible_unix_times_are_null_not_errors(self, value):
        assert from_unix(value) is None

    def test_unix_seconds_as_number_or_string(self):
        assert from_unix(1704067200) == from_unix("1704067200") == "2024-01-01T00:00:00.000Z"

    def test_apple_nanoseconds_and_legacy_seconds(self):
        assert from_apple(757_382_400 * 10**9) == from_apple(757_382_400) == "2025-01-01T00:00:00.000Z"
        assert from_apple(0) is None

    def test_local_wall_clock_with_and_without_offset(self):
        assert from_local_iso("2025-07-01T10:00:00", LISBON) == ("2025-07-01T09:00:00.000Z", True)
        assert from_local_iso("2025-07-01T10:00:00+02:00", LISBON) == ("2025-07-01T08:00:00.000Z", False)
        assert from_local_iso("garbage", LISBON) == (None, False)
        assert from_wallclock(datetime(2025, 1, 6, 18, 0), LISBON) == "2025-01-06T18:00:00.000Z"

    def test_naive_iso_without_a_zone_is_refused(self):
        assert from_iso("2025-07-01T10:00:00") is None
        with pytest.raises(ValueError, match="naive"):
            iso_utc(datetime(2025, 1, 1))


def test_sort_by_time_keeps_undated_messages_after_their_neighbour():
    def m(mid, ts):
        return Message(speaker="a", is_me=False, text=mid, timestamp=ts, id=mid)

    messages = [m("b", "2025-01-01T10:02:00.000Z"), m("a", "2025-01-01T10:01:00.000Z"), m("undated", None),
                m("c", "2025-01-01T10:03:00.000Z"), m("c2", "2025-01-01T10:03:00.000Z")]
    assert [x.id for x in sort_by_time(messages)] == ["a", "undated", "b", "c", "c2"]


def test_walk_to_root_follows_parents_and_survives_loops_and_gaps():
    parents = {"c": "b", "b": "a", "a": None, "x": "y", "y": "x"}
    assert walk_to_root("c", parents.get) == ["a", "b", "c"]
    assert walk_to_root("x", parents.get) == ["y", "x"]
    assert walk_to_root("orphan", {"orphan": "missing"}.get) == ["missing", "orphan"]


class TestOwnerFromChatNames:
    def test_the_other_speaker_of_chats_named_after_their_contact(self):
        chats = [("Maya Chen", ["Maya Chen", "Sam"], False), ("Tomás", ["Sam", "Tomás"], False),
                 ("Climbing", ["Ana", "Sam", "Rui"], True)]
        assert owner_from_chat_names(chats) == "Sam"

    def test_a_name_that_is_a_chat_is_never_the_owner(self):
        # "Climbing" lost its group events: two speakers, but not named after either.
        chats = [("Ana", ["Ana", "Sam"], False), ("Climbing", ["Ana", "Rui"], False)]
        assert owner_from_chat_names(chats) == "Sam"
        assert owner_from_chat_names([("Ana", ["Ana", "Sam"], False), ("Sam", ["Sam", "Ana"], False)]) is None

    def test_disagreeing_chats_decide_nothing(self):
        assert owner_from_chat_names([("Ana", ["Ana", "Sam"], False), ("Rui", ["Rui", "Bo"], False)]) is None
        assert owner_from_chat_names([("Crew", ["Ana", "Sam"], True)]) is None


def test_owner_matching_ignores_case_marks_and_phone_formatting():
    owner = Owner(["Sam Rivera", "+351 910 555 100"])
    assert owner.matches("sam rivera") and owner.matches("~\u202fSam Rivera") and owner.matches("+351910555100")
    assert not owner.matches("Sam") and not owner.matches(None)
    assert normalize_identity("\u200e+1 (555) 010-2233") == "+15550102233"


def test_clean_text_and_short_title():
    assert clean_text("\ufeff\u200eline one  \r\nline\u2028two\ufffc ") == "line one\nline\ntwo"
    assert short_title("\n\n  Fix the index on orders  \nmore") == "Fix the index on orders"
    assert short_title("x" * 100, limit=10) == "x" * 9 + "…"
