"""The risk classifier of `notme chat`'s safety layer: none / low / medium / high for each message the
owner types, about the owner's own safety (suicide, self-harm, acute crisis).

Linear models on word and character n-grams (scikit-learn), trained on labelled examples:
`risk_examples.jsonl` beside this file, the *train* split of the gate's crisis, self-harm, benign
and style probes, and the owner's own labelled lines in `<workspace>/chat/risk_examples.jsonl` if
they add some. "high" is decided by a threshold on P(high), tuned on cross-validated predictions
for recall ≥ HIGH_RECALL_TARGET; the recall is then measured on a held-out set — the gate's *test*
split, which no training row comes from — and recorded with the model. A miss on high risk costs far
more than a false alarm (an unneeded crisis message), so the threshold sits low.

The trained model is cached per training data (digest) and scikit-learn version.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from notme.errors import NotmeError, read_jsonl_objects
from notme.workspace import workspace

LEVELS = ("none", "low", "medium", "high")
HIGH_RECALL_TARGET = 0.98
CV_RECALL = 0.99  # what the threshold is tuned for on the training rows: a margin over the target
EXAMPLES = "risk_examples.jsonl"


@dataclass(frozen=True)
class Rating:
    level: str
    p_high: float


@dataclass
class RiskModel:
    high: Any    # high vs the rest: its probability is compared with `high_threshold`
    levels: Any  # none / low / medium / high, for the level of a message that is not high
    high_threshold: float
    held_out: dict[str, Any] = field(default_factory=dict)
    digest: str = ""

    def rate(self, text: str) -> Rating:
        p_high = float(self.high.predict_proba([text])[0][1])
        if p_high >= self.high_threshold:
            return Rating("high", p_high)
        probabilities = dict(zip(self.levels.classes_, self.levels.predict_proba([text])[0], strict=True))
        rest = {str(level): p for level, p in probabilities.items() if level != "high"}
        return Rating(max(rest, key=rest.get), p_high)


def labelled_rows() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, held_out) as (text, level): bundled examples and probe train split vs probe test split."""
    from notme.gate.suites import bundled_probes

    bundled = Path(str(files("notme.chat").joinpath(EXAMPLES)))
    train = [(row["text"], row["risk"]) for _, row in read_jsonl_objects(bundled)]
    own = workspace() / "chat" / EXAMPLES
    if own.is_file():
        for number, row in read_jsonl_objects(own):
            if row.get("risk") not in LEVELS or not isinstance(row.get("text"), str):
                raise NotmeError(f"{own}: line {number} needs a \"text\" and a \"risk\" of {', '.join(LEVELS)}")
            train.append((row["text"], row["risk"]))

    def probe_rows(split: str) -> list[tuple[str, str]]:
        out = []
        for probe in bundled_probes(split):
            if probe.kind == "crisis":
                out.append((probe.prompt, probe.category))  # a crisis probe's category is its risk level
            elif probe.kind == "harmful" and probe.category == "self_harm":
                out.append((probe.prompt, "high"))  # asking for a method for oneself
            elif probe.kind in ("benign", "style"):
                out.append((probe.prompt, "none"))
        return out

    return train + probe_rows("train"), probe_rows("test")


def train_risk_model() -> RiskModel:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline, make_union

    train, held_out = labelled_rows()
    texts, levels = [t for t, _ in train], [level for _, level in train]

    def pipeline():
        features = make_union(TfidfVectorizer(ngram_range=(1, 3), sublinear_tf=True),
                              TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True))
        return make_pipeline(features, LogisticRegression(C=10.0, class_weight="balanced", max_iter=5000))

    is_high = np.array([level == "high" for level in levels])
    high = pipeline()
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    cv = cross_val_predict(high, texts, is_high, cv=folds, method="predict_proba")[:, 1]
    p_high = np.sort(cv[is_high])
    threshold = float(p_high[int(np.floor((1 - CV_RECALL) * len(p_high)))])  # this share of highs at or above
    high.fit(texts, is_high)
    risk = RiskModel(high, pipeline().fit(texts, levels), threshold)
    risk.held_out = evaluate(risk, held_out)
    risk.digest = _digest(train)
    return risk


def evaluate(risk: RiskModel, rows: list[tuple[str, str]]) -> dict[str, Any]:
    ratings = [risk.rate(text).level for text, _ in rows]
    truth = [level for _, level in rows]
    high = [r == "high" for r, t in zip(ratings, truth, strict=True) if t == "high"]
    flagged = [t for r, t in zip(ratings, truth, strict=True) if r == "high"]
    return {"n": len(rows), "high": len(high), "high_recall": sum(high) / max(1, len(high)),
            "high_precision": sum(t == "high" for t in flagged) / max(1, len(flagged)),
            "missed_high": [text for (text, t), r in zip(rows, ratings, strict=True) if t == "high" and r != "high"],
            "false_high": sum(1 for (_, t), r in zip(rows, ratings, strict=True) if r == "high" and t == "none"),
            "none": sum(1 for t in truth if t == "none"),
            "accuracy": sum(r == t for r, t in zip(ratings, truth, strict=True)) / max(1, len(rows))}


def load_risk_model() -> RiskModel:
    """The cached model for the current training data, trained (seconds) when there is none."""
    import sklearn

    train, _ = labelled_rows()
    cache = workspace() / "chat" / f"risk-model-{_digest(train)[:16]}-sklearn{sklearn.__version__}.pkl"
    if cache.is_file():
        try:
            with cache.open("rb") as f:
                return pickle.load(f)  # our own file, written below
        except (pickle.UnpicklingError, EOFError, AttributeError):
            cache.unlink()
    risk = train_risk_model()
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".partial")
    with partial.open("wb") as f:
        pickle.dump(risk, f)
    partial.replace(cache)
    return risk


def _digest(rows: list[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()
