"""Secrets never reach the corpus; ordinary text is left alone."""

from __future__ import annotations

import pytest

from notme.corpus.scrub import Scrubber

SECRETS = [
    ("my key is sk-ant-api03-" + "A1b2C3d4E5f6G7h8I9j0" * 3 + " ok", "api_key"),
    ("OPENAI: sk-proj-" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2" + "Rr1", "api_key"),
    ("sk-or-v1-" + "ab12" * 16, "api_key"),
    ("token ghp_" + "a" * 36, "api_key"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "api_key"),
    ("AKIAIOSFODNN7EXAMPLE is the id", "api_key"),
    ("key=AIza" + "SyA-1234567890abcdefghijklmnopqrstu", "api_key"),
    ("slack xoxb-123456789012-abcdefghijkl", "api_key"),
    ("stripe sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "api_key"),
    ("hf_" + "abcdefghijklmnopqrstuvwxyzABCDEF", "api_key"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt"),
    ("curl -H 'Authorization: Bearer abcdefghijklmnop1234567890'", "token"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n-----END OPENSSH PRIVATE KEY-----", "private_key"),
    ("postgres://admin:s3cretPass@db.internal:5432/app", "password"),
    ("DB_PASSWORD=hunter22", "password"),
    ("export GITHUB_TOKEN='abc123def456'", "password"),
    ('{"api_key": "live-1234-5678"}', "password"),
]


@pytest.mark.parametrize(("text", "kind"), SECRETS)
def test_each_kind_of_secret_is_replaced(text, kind):
    scrubbed, found = Scrubber().scrub(text)
    assert found[kind] >= 1, scrubbed
    assert scrubbed != text


def test_the_secret_value_is_gone_and_the_context_stays():
    scrubbed, _ = Scrubber().scrub("DB_PASSWORD=hunter22 and host=db1")
    assert scrubbed == "DB_PASSWORD=<password> and host=db1"
    scrubbed, _ = Scrubber().scrub("postgres://admin:s3cretPass@db.internal:5432/app")
    assert scrubbed == "postgres://admin:<password>@db.internal:5432/app"


def test_a_private_key_without_its_end_line_is_cut_to_the_end():
    scrubbed, found = Scrubber().scrub("here:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow")
    assert scrubbed == "here:\n<private-key>" and found == {"private_key": 1}


@pytest.mark.parametrize("text", [
    "The password field is required.",
    "set PASSWORD=${DB_PASSWORD} in the env file",
    "API_KEY=your-api-key-here",
    "token: <token>",
    "I'll skip the ask-for-approval step.",
    "sk-xxxx is a placeholder",
    "call me at 5pm, my flat is 3B",
    "see https://example.com/docs?id=42",
    "commit 3f2a9c1d4e5b6a7f8091a2b3c4d5e6f708192a3b fixed it",
])
def test_ordinary_text_is_left_alone(text):
    scrubbed, found = Scrubber().scrub(text)
    assert (scrubbed, dict(found)) == (text, {})


def test_emails_and_phones_only_when_asked():
    text = "write to sam.rivera@example.com or call +351 910 555 100"
    assert Scrubber().scrub(text) == (text, {})
    scrubbed, found = Scrubber(emails=True, phones=True).scrub(text)
    assert scrubbed == "write to <email> or call <phone>"
    assert found == {"email": 1, "phone": 1}


def test_local_phone_numbers_use_the_region():
    scrubbed, found = Scrubber(phones=True, phone_region="PT").scrub("liga para 912 345 678")
    assert found == {"phone": 1} and scrubbed == "liga para <phone>"


def test_masked_handles_stay_distinct_and_stable():
    s = Scrubber(emails=True, phones=True)
    a, b = s.mask_handle("+351910555101"), s.mask_handle("+351910555102")
    assert a != b and a == s.mask_handle("+351910555101") and a.startswith("contact-")
    assert s.mask_handle("Maya Chen") == "Maya Chen"
    assert Scrubber().mask_handle("+351910555101") == "+351910555101"


def test_counts_accumulate_over_messages():
    s = Scrubber()
    s.scrub("DB_PASSWORD=hunter22")
    s.scrub("and ghp_" + "b" * 36)
    assert s.counts == {"password": 1, "api_key": 1}
