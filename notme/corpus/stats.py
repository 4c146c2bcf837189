"""The corpus summary: per source, how much there is, how much of it is the owner's, over which
dates, and what was left out or scrubbed and why."""

from __future__ import annotations

from collections import Counter
from typing import Any

from notme.corpus.store import Corpus
from notme.corpus.text import word_count

_COUNTS = ("conversations", "group_conversations", "messages", "my_messages", "my_words")


def _empty() -> dict[str, Any]:
    return {key: 0 for key in _COUNTS} | {
        "first": None, "last": None,
        "skipped_messages": Counter(), "dropped_conversations": Counter(), "scrubbed": Counter(),
    }


def _widen(summary: dict[str, Any], timestamp: str | None) -> None:
    if timestamp:
        if summary["first"] is None or timestamp < summary["first"]:
            summary["first"] = timestamp
        if summary["last"] is None or timestamp > summary["last"]:
            summary["last"] = timestamp


def corpus_stats(corpus: Corpus) -> dict[str, Any]:
    corpus.require()
    meta = corpus.meta()
    sources: dict[str, dict[str, Any]] = {}
    by_month: dict[str, list[int]] = {}  # "YYYY-MM" → [messages, the owner's messages]
    for _, _, _, record in corpus.iter_records():
        summary = sources.setdefault(record["source"], _empty())
        summary["conversations"] += 1
        summary["group_conversations"] += bool(record.get("is_group"))
        for message in record["messages"]:
            summary["messages"] += 1
            if message.get("is_me"):
                summary["my_messages"] += 1
                summary["my_words"] += word_count(message.get("text", ""))
            _widen(summary, message.get("timestamp"))
            if message.get("timestamp"):
                month = by_month.setdefault(message["timestamp"][:7], [0, 0])
                month[0] += 1
                month[1] += bool(message.get("is_me"))
        summary["skipped_messages"].update(record.get("skipped", {}))
        summary["scrubbed"].update(record.get("scrubbed", {}))
    for entry in meta["inputs"].values():
        summary = sources.setdefault(entry["source"], _empty())
        summary["dropped_conversations"].update(entry.get("dropped", {}))

    total = _empty()
    for summary in sources.values():
        for key in _COUNTS:
            total[key] += summary[key]
        for key in ("skipped_messages", "dropped_conversations", "scrubbed"):
            total[key].update(summary[key])
        _widen(total, summary["first"])
        _widen(total, summary["last"])

    def plain(summary: dict[str, Any]) -> dict[str, Any]:
        return {k: dict(v.most_common()) if isinstance(v, Counter) else v for k, v in summary.items()}

    return {
        "corpus": corpus.name,
        "path": str(corpus.path),
        "owner": {"names": meta["me"], "by_source": meta["owner_by_source"]},
        "excluded": len(meta["excluded"]),
        "total": plain(total),
        "sources": {name: plain(s) for name, s in sorted(sources.items())},
        "by_month": dict(sorted(by_month.items())),
    }
