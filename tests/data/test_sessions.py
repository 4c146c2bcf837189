"""Sessions and turns: gaps split messaging chats, runs of one speaker merge, the owner answers."""

from __future__ import annotations

from notme.data.sessions import split_sessions, turns_of
from tests.data.conftest import at, conversation, msg


def texts(conv, gap=120, merge=5, since=None, owner_role="assistant"):
    return [[(t.role, t.text) for t in turns_of(conv, s, merge, owner_role)]
            for s in split_sessions(conv, gap, at(since) if since is not None else None)]


def test_messaging_chat_splits_on_gaps_of_the_recipe_length():
    chat = conversation("whatsapp:ana", msg("Ana", "dinner?", 0), msg("me", "yes.", 1),
                        msg("Ana", "lunch tomorrow?", 121), msg("me", "can't.", 122))
    assert texts(chat) == [[("user", "dinner?"), ("assistant", "yes.")],
                           [("user", "lunch tomorrow?"), ("assistant", "can't.")]]
    assert len(texts(chat, gap=121)) == 1  # a gap shorter than the recipe's is one session


def test_ai_chat_is_one_session_whatever_the_gaps():
    chat = conversation("chatgpt:1", msg("me", "Fix it.", 0), msg("ChatGPT", "Done.", 1),
                        msg("me", "Now the tests.", 3000), msg("ChatGPT", "Done too.", 3001), kind="assistant")
    assert texts(chat) == [[("assistant", "Fix it."), ("user", "Done."),
                            ("assistant", "Now the tests."), ("user", "Done too.")]]


def test_runs_of_one_speaker_merge_with_newline_inside_the_window_and_blank_line_outside():
    chat = conversation("whatsapp:ana", msg("Ana", "where are you", 0), msg("me", "bus.", 1),
                        msg("me", "ten minutes.", 3), msg("me", "make that twenty.", 30))
    assert texts(chat) == [[("user", "where are you"), ("assistant", "bus.\nten minutes.\n\nmake that twenty.")]]


def test_group_chat_lines_carry_the_speaker_and_the_owners_never_do():
    chat = conversation("whatsapp:bloc", msg("Rui", "who's in saturday?", 0), msg("Rui", "10h", 1),
                        msg("Ana", "in", 2), msg("me", "in. 10h.", 3), group=True)
    assert texts(chat) == [[("user", "Rui: who's in saturday?\n10h\nAna: in"), ("assistant", "in. 10h.")]]


def test_since_leaves_out_earlier_messages_and_blank_messages_are_skipped():
    chat = conversation("whatsapp:ana", msg("Ana", "old", 0), msg("me", "old reply", 1),
                        msg("Ana", "new", 500), msg("me", "  ", 501), msg("me", "new reply", 502))
    assert texts(chat, since=400) == [[("user", "new"), ("assistant", "new reply")]]


def test_the_ai_framing_makes_the_owner_the_user():
    chat = conversation("chatgpt:1", msg("me", "Fix it.", 0), msg("ChatGPT", "Done.", 1), kind="assistant")
    assert texts(chat, owner_role="user") == [[("user", "Fix it."), ("assistant", "Done.")]]
