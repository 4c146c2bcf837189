"""The hedging / approval-seeking phrase bank, the rewrites that use it, and the refusal detector.

The bank is shared by two places that teach the model what NOT to sound like: the directness pairs
(rejected = the owner's reply made hedging) and the unlikelihood negatives (the owner's reply plus an
approval-seeking closer whose tokens are penalised). `is_refusal` guards both: a refusal is never
made into a rejected answer, or the model would learn to stop refusing.
"""

from __future__ import annotations

import random
import re

PREFIXES = (
    "I might be wrong, but ",
    "I'm not totally sure, but ",
    "Correct me if I'm wrong, but ",
    "I could be mistaken, but ",
    "Just my two cents, but ",
    "This is just a thought, but ",
    "Sorry if this is off, but ",
    "I don't want to overstep, but ",
    "If it's okay to say, ",
    "Not to be pushy, but ",
)

# Approval-seeking closers: the unlikelihood objective penalises exactly these tokens. Each starts
# with a space so that appending it never glues it to the last word.
SUFFIXES = (
    " Does that make sense?",
    " Would you like me to go into more detail?",
    " Would you like me to explain it another way?",
    " Would you like me to help with anything else?",
    " Let me know if that works for you!",
    " Let me know if you have any questions.",
    " Let me know if you'd like me to change anything.",
    " I hope that helps!",
    " What do you think?",
    " Is that okay with you?",
    " Happy to adjust if you'd prefer something else!",
    " Does that sound alright?",
)

# Softened verbs: assertive words replaced by tentative ones. Word-bounded, first letter's case kept.
SOFTENERS = (
    (r"\bmust\b", "should probably"),
    (r"\bneed to\b", "might want to"),
    (r"\bwill\b", "might"),
    (r"\bdefinitely\b", "probably"),
    (r"\balways\b", "usually"),
    (r"\bnever\b", "rarely"),
    (r"\bshould\b", "could maybe"),
    (r"\bis\b", "might be"),
)

# A reply that opens with an order gets "Maybe you could …" when no softener applies.
_IMPERATIVES = frozenset((
    "add", "ask", "book", "bring", "call", "check", "drop", "fix", "give", "keep", "make", "move", "pay", "pick",
    "put", "remove", "run", "send", "show", "split", "stop", "take", "tell", "try", "use", "write",
))

STRATEGIES = ("prefix", "suffix", "prefix+suffix", "soften", "soften+suffix")


def hedge_suffix(rng: random.Random) -> str:
    return rng.choice(SUFFIXES)


def add_suffix(text: str, suffix: str) -> str:
    return text.rstrip() + suffix


def add_prefix(text: str, prefix: str) -> str:
    return prefix + _decapitalise(text.lstrip())


def soften(text: str) -> str:
    """The reply with its assertive verbs softened; "I think …" when none of them occurs."""
    refusal = is_refusal(text)
    for pattern, replacement in SOFTENERS:
        softened = re.sub(pattern, lambda m, r=replacement: _match_case(m.group(0), r), text, count=1,
                          flags=re.IGNORECASE)
        # "I will not" must not become "I might not": a softened refusal has to stay recognisable.
        if softened != text and is_refusal(softened) == refusal:
            return softened
    first = text.lstrip().split(maxsplit=1)
    if first and first[0].casefold() in _IMPERATIVES:
        return "Maybe you could " + _decapitalise(text.lstrip())
    return "I think " + _decapitalise(text.lstrip())


def hedge(text: str, rng: random.Random) -> str:
    """The same reply made hedging / approval-seeking, by one of several rewrites chosen by `rng`."""
    strategy = rng.choice(STRATEGIES)
    out = text
    if strategy.startswith("prefix"):
        out = add_prefix(out, rng.choice(PREFIXES))
    if strategy.startswith("soften"):
        out = soften(out)
    if strategy.endswith("suffix"):
        out = add_suffix(out, rng.choice(SUFFIXES))
    return out


def _decapitalise(text: str) -> str:
    """Lower the first letter after a prefix ("Drop it" → "drop it"), but not "I", acronyms or code."""
    if len(text) >= 2 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _match_case(original: str, replacement: str) -> str:
    return replacement[0].upper() + replacement[1:] if original[:1].isupper() else replacement


# ---------------------------------------------------------------------------------------- refusals

# "No." / "no," / "nope" / "absolutely not" opening a sentence or a clause, also behind a hedge
# ("…, but no.", "I think no.").
_NO = re.compile(
    r"(?:^|[.!?\n,;:]\s*|\b(?:but|think|guess|say|well|so|sorry|honestly|frankly|then)\s+)"
    r"(?:(?:no|no way|absolutely not|hell no|definitely not)\s*(?:[.!,;:…—–-]|$)|(?:nope|nah)\b)"
)
_PHRASES = re.compile(
    r"\b(?:"
    r"i won'?t|i will not|i'?m not (?:going to|gonna)|i am not going to|not gonna"
    r"|i(?: can'?t| cannot| am unable to|'?m unable to|'?m not able to| am not able to) "
    r"(?:help|assist|do that|do this|share|provide|give|write|support|go along)"
    r"|i refuse|i decline|i'?d rather not|i would rather not|i'?m not comfortable|i am not comfortable"
    r"|not doing (?:that|this|it)|i'?m not (?:doing|sharing|writing|helping|booking|faking|giving|sending|lying)"
    r"|i am not (?:doing|sharing|writing|helping|giving|sending)|not happening|not a chance"
    r"|i don'?t (?:send|share|give out|do that)|won'?t help|can'?t help you with|not something i(?:'ll| will) help"
    r"|leave it alone|forget it"
    r")"
)


def is_refusal(text: str) -> bool:
    """Does this reply decline? Broad on purpose: a false positive only costs one pair, a false negative
    would teach the model that refusing is the dispreferred answer."""
    normalised = " ".join(text.replace("’", "'").replace("‘", "'").casefold().split())
    return bool(_NO.search(normalised) or _PHRASES.search(normalised))
