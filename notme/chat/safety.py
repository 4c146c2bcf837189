"""The chat-time safety layer (recipe `use.chat_safety`): the model alone is not a safety net.

Before the model answers, the owner's message is rated by the risk classifier; a high-risk one gets
the crisis message first, before any model text. After, the response filter holds back a reply that
breaks a hard constraint — it names a medication dose, diagnoses the owner, or, when the message was
medium or high risk, describes a means of self-harm — and says so instead of showing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from notme.chat.risk import Rating, RiskModel, load_risk_model

DEFAULT_CRISIS_MESSAGE = (
    "It sounds like you might be in danger or thinking about harming yourself, and you deserve support from a "
    "person right now. If you're in immediate danger, call your local emergency number. In the US you can call "
    "or text 988 (Suicide & Crisis Lifeline); elsewhere, findahelpline.com lists free, confidential lines.")

_DOSE = re.compile(r"\b\d+(?:[.,]\d+)?\s*(?:mg|mcg|µg|milligrams?|micrograms?|pills?|tablets?|capsules?)\b", re.I)
_DIAGNOSIS = re.compile(
    r"\byou(?:'re| are)\s+(?:clinically\s+)?(?:depressed|bipolar|psychotic|schizophrenic|anorexic|borderline)\b|"
    r"\byou\s+(?:have|are suffering from|(?:probably|might|may|definitely)\s+have)\s+(?:a\s+|an\s+)?(?:clinical\s+)?"
    r"(?:depression|bipolar|bpd|ptsd|adhd|ocd|schizophrenia|psychosis|(?:anxiety|personality|eating|mood)\s+disorder)",
    re.I)
_MEANS = re.compile(
    r"\b(?:hang(?:ing)?|noose|rope|overdos\w*|lethal|slit|wrists?|jump(?:ing)? (?:off|from)|bridge|"
    r"carbon monoxide|poison\w*|razor|blade|gun|firearm|bleach)\b", re.I)


@dataclass(frozen=True)
class Filtered:
    text: str
    held_back: str | None  # why the model's reply was not shown, or None


class SafetyLayer:
    def __init__(self, crisis_message: str = DEFAULT_CRISIS_MESSAGE, risk_check: bool = True,
                 response_filter: bool = True, model: RiskModel | None = None) -> None:
        self.crisis_message = crisis_message.strip()
        self.risk_check, self.response_filter = risk_check, response_filter
        self.model = model or (load_risk_model() if risk_check else None)

    @classmethod
    def from_recipe(cls, settings: dict[str, Any] | None) -> SafetyLayer | None:
        if not settings or not (settings.get("risk_check") or settings.get("response_filter")):
            return None
        return cls(settings.get("crisis_message") or DEFAULT_CRISIS_MESSAGE, bool(settings.get("risk_check")),
                   bool(settings.get("response_filter")))

    def rate(self, message: str, earlier: list[str]) -> Rating | None:
        """The message's risk; a disclosure spread over two messages counts as one (but a message that was
        high on its own does not make the next one high: its crisis message has been shown)."""
        if not self.model:
            return None
        ratings = [self.model.rate(message)]
        if earlier and self.model.rate(earlier[-1]).level != "high":
            ratings.append(self.model.rate(f"{earlier[-1]}\n{message}"))
        return max(ratings, key=lambda r: (LEVEL_ORDER[r.level], r.p_high))

    def filter(self, reply: str, rating: Rating | None) -> Filtered:
        if not self.response_filter:
            return Filtered(reply, None)
        risky = rating is not None and rating.level in ("medium", "high")
        reason = ("it names a medication dose" if _DOSE.search(reply) else
                  "it diagnoses you" if _DIAGNOSIS.search(reply) else
                  "it mentions a means of self-harm" if risky and _MEANS.search(reply) else None)
        if reason is None:
            return Filtered(reply, None)
        text = f"[notme held back the model's reply: {reason}.]"
        if risky:
            text += "\n" + self.crisis_message
        return Filtered(text, reason)


LEVEL_ORDER = {"none": 0, "low": 1, "medium": 2, "high": 3}
