"""Cache keys: a canonical JSON of the request, hashed.

exact key = everything that shapes the answer: system prompt, full history, last message,
            sampling parameters and the pinned model (None for a routed turn: any model the
            router picks may answer, so a routed turn can be served a routed answer).
scope     = the same without the last user message. Semantic search only compares prompts
            within one scope, so the same words under another system prompt or after another
            conversation never match.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from chatroute import jsonsafe


def norm_text(text: str | None) -> str | None:
    """NFC, unified newlines, outer whitespace stripped. Inner whitespace is kept (code)."""
    if text is None:
        return None
    return unicodedata.normalize("NFC", text).replace("\r\n", "\n").strip()


def _message(m: Any) -> list[str | None]:
    if isinstance(m, Mapping):
        role, content = m.get("role"), m.get("content")
    elif isinstance(m, Sequence) and not isinstance(m, str) and len(m) == 2:
        role, content = m
    else:
        role, content = m.role, m.content
    return [str(role), norm_text(str(content) if content is not None else "")]


def _param(v: Any) -> Any:
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return round(v, 6) if v != int(v) else int(v)  # 1.0 and 1 are the same setting
    if isinstance(v, Mapping):
        return {str(k): _param(x) for k, x in v.items() if x is not None}
    if isinstance(v, (list, tuple)):
        return [_param(x) for x in v]
    return v


def canonical_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drop unset values so {"temperature": None} and {} are one key."""
    return _param(dict(params or {}))


def _digest(obj: Any) -> str:
    blob = jsonsafe.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def scope_key(system: str | None, history: Sequence[Any], params: Mapping[str, Any] | None,
              pinned_model: str | None) -> str:
    return _digest({
        "v": 1,
        "system": norm_text(system) or None,
        "history": [_message(m) for m in history],
        "params": canonical_params(params),
        "pinned": pinned_model or None,
    })


def exact_key(scope: str, prompt: str) -> str:
    return _digest({"v": 1, "scope": scope, "prompt": norm_text(prompt)})
