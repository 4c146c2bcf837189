"""Secrets and personal details replaced before anything reaches the disk.

On by default: API keys and tokens of the common providers, private keys, JWTs, bearer tokens,
passwords in connection strings and in `KEY=value` / `"key": "value"` assignments. Optional:
e-mail addresses and phone numbers. Each replacement is a readable placeholder such as
`<api-key>`, so conversations stay coherent and a model trained on them never sees the secret.

A pattern table, not detect-secrets: that library flags high-entropy strings (hashes, ids) that
are ordinary text in chats, misses newer key formats (sk-ant-, sk-proj-, hf_), and is slower per
message than these anchored expressions.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field

import phonenumbers

# (kind, pattern, literal triggers). A pattern runs only on text containing one of its triggers:
# most messages hold none, so scrubbing costs a few substring tests instead of a regex scan each.
_TOKEN_PATTERNS: list[tuple[str, str, tuple[str, ...]]] = [
    ("private_key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
                    r"(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*\Z)", ("PRIVATE KEY",)),
    ("api_key", r"\bsk-ant-[a-z]{2,8}\d{0,3}-[A-Za-z0-9_\-]{20,}", ("sk-ant-",)),  # Anthropic
    ("api_key", r"\bsk-or-v1-[a-f0-9]{32,}", ("sk-or-",)),  # OpenRouter
    ("api_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", ("sk-",)),  # OpenAI
    ("api_key", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    ("api_key", r"\bgithub_pat_[A-Za-z0-9_]{22,}", ("github_pat_",)),
    ("api_key", r"\bglpat-[A-Za-z0-9_\-]{20,}", ("glpat-",)),  # GitLab
    ("api_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b", ("AKIA", "ASIA", "AGPA", "AIDA", "AROA")),
    ("api_key", r"\bAIza[0-9A-Za-z_\-]{35}", ("AIza",)),  # Google
    ("api_key", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", ("xox",)),  # Slack
    ("api_key", r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+", ("hooks.slack.com",)),
    ("api_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}", ("_live_", "_test_")),  # Stripe
    ("api_key", r"\bhf_[A-Za-z0-9]{30,}", ("hf_",)),  # Hugging Face
    ("api_key", r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",)),
    ("api_key", r"\bpypi-[A-Za-z0-9_\-]{50,}", ("pypi-",)),
    ("api_key", r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}", ("SG.",)),  # SendGrid
    ("api_key", r"\b\d{8,10}:AA[A-Za-z0-9_\-]{33}\b", (":AA",)),  # Telegram bot
    ("jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", ("eyJ",)),
    ("token", r"(?<=\bBearer )[A-Za-z0-9._~+/=\-]{16,}", ("Bearer ",)),
]
_PLACEHOLDER = {
    "private_key": "<private-key>", "api_key": "<api-key>", "jwt": "<jwt>", "token": "<token>",
    "password": "<password>", "email": "<email>", "phone": "<phone>",
}

_TOKENS = [(kind, re.compile(pattern, re.DOTALL), triggers) for kind, pattern, triggers in _TOKEN_PATTERNS]

# The password in scheme://user:password@host.
_URL_PASSWORD = re.compile(r"(?<=://)([^\s:/@]+):([^\s@/]{3,})(?=@[\w.\-]+)")

# NAME=value, export NAME=value, NAME: value, "name": "value" where the name says secret.
_SECRET_NAME = (
    r"[A-Za-z0-9_.\-]*(?:pass(?:word|wd)?|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key"
    r"|private[_\-]?key|auth|credential)[A-Za-z0-9_.\-]*"
)
_ASSIGNMENT = re.compile(
    rf"""(?P<name>(?:\bexport\s+)?["']?\b{_SECRET_NAME}["']?\s*(?:=|:)\s*)(?P<q>["']?)(?P<value>[^\s"'`,;]{{4,}})(?P=q)""",
    re.IGNORECASE,
)
# Values that are already placeholders or examples, not secrets.
_NOT_SECRET = re.compile(
    r"^(?:<[^>]*>|\$\{?\w+\}?|%\w+%|\{\{.*\}\}|x{3,}|\*{3,}|\.{3,}|(?:your|my|the|an?)[_\-].*|"
    r"changeme|example.*|placeholder|redacted|none|null|true|false|required|optional|"
    r"os\.environ.*|process\.env.*|getenv.*|env\(.*)$",
    re.IGNORECASE,
)
_ASSIGNMENT_TRIGGERS = ("pass", "pwd", "secret", "token", "key", "auth", "credential")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b")


@dataclass
class Scrubber:
    """Replaces secrets (always, unless disabled) and e-mails / phones (when asked) in text."""

    secrets: bool = True
    emails: bool = False
    phones: bool = False
    phone_region: str = "US"
    counts: Counter[str] = field(default_factory=Counter)

    def scrub(self, text: str) -> tuple[str, Counter[str]]:
        """The text with replacements made, and how many of each kind were made."""
        found: Counter[str] = Counter()
        if self.secrets:
            text = self._scrub_secrets(text, found)
        if self.emails and "@" in text:
            text, n = _EMAIL.subn(_PLACEHOLDER["email"], text)
            found["email"] += n
        if self.phones and any(c.isdigit() for c in text):
            text = self._scrub_phones(text, found)
        found = +found
        self.counts.update(found)
        return text, found

    def _scrub_secrets(self, text: str, found: Counter[str]) -> str:
        for kind, pattern, triggers in _TOKENS:
            if any(t in text for t in triggers):
                text, n = pattern.subn(_PLACEHOLDER[kind], text)
                found[kind] += n

        def url_password(match: re.Match[str]) -> str:
            found["password"] += 1
            return f"{match.group(1)}:{_PLACEHOLDER['password']}"

        def assignment(match: re.Match[str]) -> str:
            value = match.group("value")
            if _NOT_SECRET.match(value) or value in _PLACEHOLDER.values():
                return match.group(0)
            found["password"] += 1
            q = match.group("q")
            return f"{match.group('name')}{q}{_PLACEHOLDER['password']}{q}"

        if "://" in text:
            text = _URL_PASSWORD.sub(url_password, text)
        if ("=" in text or ":" in text) and any(t in text.casefold() for t in _ASSIGNMENT_TRIGGERS):
            text = _ASSIGNMENT.sub(assignment, text)
        return text

    def _scrub_phones(self, text: str, found: Counter[str]) -> str:
        spans = [
            (m.start, m.end)
            for m in phonenumbers.PhoneNumberMatcher(text, self.phone_region, leniency=phonenumbers.Leniency.VALID)
        ]
        for start, end in reversed(spans):
            text = text[:start] + _PLACEHOLDER["phone"] + text[end:]
        found["phone"] += len(spans)
        return text

    def mask_handle(self, handle: str) -> str:
        """A speaker handle that is an e-mail or a phone number, as a stable pseudonym when those
        are masked: two contacts stay two speakers, and neither handle is written down."""
        is_email = self.emails and _EMAIL.fullmatch(handle)
        is_phone = (self.phones and re.fullmatch(r"\+?[\d\s().\-]{7,}", handle)
                    and sum(c.isdigit() for c in handle) <= 15)  # E.164; longer is an id (Discord)
        if is_email or is_phone:
            return "contact-" + hashlib.blake2b(handle.encode(), digest_size=3).hexdigest()
        return handle
