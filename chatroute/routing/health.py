"""Per-model health: latency EWMAs, error rate, cooldowns, a circuit breaker, disabled models.

Rules (a failing model costs the user as little time as possible, and recovers on its own):
- 429 / 5xx / overloaded / timeouts / connection errors cool the model down for
  max(Retry-After, exponential backoff), and a later error NEVER shortens an existing
  cooldown: cooldown_until = max(existing, now + max(retry_after, backoff)).
- After `failure_threshold` consecutive failures the breaker opens; once the cooldown is
  over it is half-open: one trial request is allowed, success closes it, failure re-opens it
  with a doubled backoff.
- 401/403, a spent quota and a 404 on the path (a wrong base_url) disable the whole provider, a
  404 for the model that model, until the configuration changes (the
  board is opened with a fingerprint of the config; a different fingerprint clears them) or
  a request to it (a pinned one) is answered.
- Context overflow and content-policy refusals say nothing about the model's health.

The board is a JSON file in the data dir, written atomically and re-read when another
process (a concurrent `chatroute ask`) changed it, so processes share what they learned.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chatroute import jsonsafe
from chatroute.fsutil import atomic_write

FILE_NAME = "health.json"

# Priors for models never measured (seconds, tokens per second).
PRIOR_TTFT_S = 0.8
PRIOR_TPS = 60.0
LOCAL_PRIOR_TPS = 25.0
# Models the file keeps, the most recently used: a local server takes any model name, so every
# name a client of `chatroute serve` made up (404, disabled) would otherwise stay, and each
# failure rewrites the whole file. A real pool is a few dozen models.
MAX_MODELS = 512

_TRANSIENT = {"rate_limited", "overloaded", "server", "timeout", "connection"}
# A credit that covers too short an answer says nothing of the model, and time does not top it up.
# A request over the whole per-minute limit is this request's size, which no cooldown changes.
_IGNORED = {"context_overflow", "content_policy", "credit_limited", "request_too_large"}
_NOT_THE_MODEL = {"rate_limited", "auth", "quota", "not_found", "endpoint_not_found", "bad_request"}


@dataclass
class ModelHealth:
    ttft_s: float | None = None  # EWMA
    tokens_per_s: float | None = None  # EWMA
    error_rate: float = 0.0  # EWMA of failure (1) / success (0)
    requests: int = 0
    failures: int = 0
    # Of those, the ones that say nothing about the model's answers (rate limits, a bad key,
    # an unknown model name): observed.py leaves them out when it lowers an ability.
    provider_failures: int = 0
    consecutive_failures: int = 0
    cooldown_until: float = 0.0  # epoch seconds
    backoff_s: float = 0.0  # the last backoff applied (doubles while the breaker stays open)
    last_error: str | None = None
    disabled: str | None = None  # reason, when disabled until the config changes
    disabled_config: str | None = None
    seen_at: float = 0.0  # epoch seconds of the last request recorded


# What each ModelHealth field holds, to read a hand-edited or damaged file field by field.
_NUMBER_FIELDS = {"ttft_s", "tokens_per_s", "error_rate", "cooldown_until", "backoff_s", "seen_at"}
_COUNT_FIELDS = {"requests", "failures", "provider_failures", "consecutive_failures"}
_TEXT_FIELDS = {"last_error", "disabled", "disabled_config"}


def _model_health(saved: dict[str, Any]) -> ModelHealth:
    """A model's entry as saved; a value of the wrong kind is read as the field's default."""
    fields: dict[str, Any] = {}
    for name, value in saved.items():
        if name in _NUMBER_FIELDS and (n := jsonsafe.number(value)) is not None:
            fields[name] = n
        elif name in _COUNT_FIELDS and (n := jsonsafe.number(value)) is not None:
            fields[name] = max(0, int(n))
        elif name in _TEXT_FIELDS and isinstance(value, str):
            fields[name] = value
    return ModelHealth(**fields)


# How a disable ends (record_success lifts it too).
_UNTIL_LIFTED = "until the config changes or a turn pinned to it is answered"


@dataclass
class HealthBoard:
    path: Path | None = None
    clock: Callable[[], float] = time.time
    alpha: float = 0.3  # EWMA weight of the newest latency sample
    error_alpha: float = 0.1
    failure_threshold: int = 3
    base_backoff_s: float = 5.0
    max_backoff_s: float = 600.0
    config_fingerprint: str | None = None
    models: dict[str, ModelHealth] = field(default_factory=dict)
    disabled_providers: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # Above 0: a success is written at most this often (the next save or flush() writes it).
    # A server relaying many requests at once would otherwise rewrite the file for each one;
    # failures are always written at once, since other processes must see their cooldowns.
    save_every_s: float = 0.0
    _mtime: float = 0.0
    _saved_at: float = 0.0  # by `clock`
    _dirty: bool = False
    # Changed since the file was last read or written: what a write puts over the file's
    # newer content. `_cleared`: models whose cooldown and disable were lifted on purpose.
    _touched: set[str] = field(default_factory=set)
    _cleared: set[str] = field(default_factory=set)
    _cleared_providers: set[str] = field(default_factory=set)

    # -- persistence -----------------------------------------------------------------------

    @classmethod
    def open(cls, data_dir: Path | None = None, **kw: Any) -> HealthBoard:
        if data_dir is None:
            from chatroute.paths import resolve_paths

            data_dir = resolve_paths().data_dir
        board = cls(path=Path(data_dir) / FILE_NAME, **kw)
        board._reload(force=True)
        return board

    @classmethod
    def load(cls, path: Path, **kw: Any) -> HealthBoard:
        """The board persisted at `path` (a JSON file; created on first write)."""
        board = cls(path=Path(path), **kw)
        board._reload(force=True)
        return board

    def _reload(self, force: bool = False) -> None:
        read = self._read_file(force)
        if read is None:
            return
        self.models, self.disabled_providers, self._mtime = read
        self._forget_changes()
        self._drop_stale_disables()

    def _forget_changes(self) -> None:
        """Nothing of this board's is left to put over the file: it was just read or written."""
        self._touched.clear()
        self._cleared.clear()
        self._cleared_providers.clear()

    def _read_file(self, force: bool = False) -> tuple[dict[str, ModelHealth], dict[str, dict[str, str | None]],
                                                        float] | None:
        """The file's models, disabled providers and mtime; None when it is unchanged since this
        board last read or wrote it (unless `force`), absent or unreadable."""
        if self.path is None or not self.path.exists():
            return None
        try:
            mtime = self.path.stat().st_mtime_ns
            if not force and mtime == self._mtime:
                return None
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # a corrupt or half-visible file must never break routing
        raw = raw if isinstance(raw, dict) else {}
        models = raw.get("models")
        parsed = {str(k): _model_health(d) for k, d in models.items() if isinstance(d, dict)} \
            if isinstance(models, dict) else {}
        disabled = raw.get("disabled_providers")
        providers = {
            str(p): {str(k): v for k, v in d.items() if v is None or isinstance(v, str)}
            for p, d in disabled.items() if isinstance(d, dict)} if isinstance(disabled, dict) else {}
        return parsed, providers, mtime

    def _merge_file(self) -> None:
        """Before a write: take what other processes wrote since this board read the file, and
        keep this board's own changes on top. A cooldown another process set is never dropped
        (a server's held-back successes, written as it stops, erased an `ask`'s 429 cooldown)."""
        read = self._read_file()
        if read is None:
            return
        models, providers, self._mtime = read
        for name in self._touched:
            mine, theirs = self.models.get(name), models.get(name)
            if mine is None:
                continue
            if theirs is not None and name not in self._cleared:
                mine.cooldown_until = max(mine.cooldown_until, theirs.cooldown_until)
                if theirs.disabled and not mine.disabled:
                    mine.disabled, mine.disabled_config = theirs.disabled, theirs.disabled_config
            models[name] = mine
        for provider in self._cleared_providers:
            providers.pop(provider, None)
        providers.update(self.disabled_providers)
        self.models, self.disabled_providers = models, providers
        self._drop_stale_disables()

    def _refresh(self) -> None:
        """Catch up with the file before recording: merged under this board's unsaved changes
        (successes held back by save_every_s), else read as it is."""
        if self._touched:
            self._merge_file()
        else:
            self._reload()

    def save(self, *, merge: bool = True) -> None:
        if self.path is None:
            return
        if merge:
            self._merge_file()
        self._forget_changes()
        if len(self.models) > MAX_MODELS:
            newest = sorted(self.models.items(), key=lambda kv: kv[1].seen_at, reverse=True)[:MAX_MODELS]
            self.models = dict(newest)
        data = {
            "version": 1,
            "models": {k: asdict(v) for k, v in self.models.items()},
            "disabled_providers": self.disabled_providers,
        }
        atomic_write(self.path, jsonsafe.dumps(data, indent=1), durable=False)
        self._saved_at, self._dirty = self.clock(), False
        try:
            self._mtime = self.path.stat().st_mtime_ns
        except OSError:
            pass

    def _drop_stale_disables(self) -> None:
        """Disables recorded under another configuration no longer hold."""
        if self.config_fingerprint is None:
            return
        for h in self.models.values():
            if h.disabled and h.disabled_config != self.config_fingerprint:
                h.disabled = None
                h.disabled_config = None
        for p in [p for p, d in self.disabled_providers.items() if d.get("config") != self.config_fingerprint]:
            del self.disabled_providers[p]

    def _get(self, model: str) -> ModelHealth:
        """The model's entry, to record something for it now."""
        h = self.models.setdefault(model, ModelHealth())
        h.seen_at = self.clock()
        self._touched.add(model)
        return h

    # -- recording -------------------------------------------------------------------------

    def record_success(
        self,
        model: str,
        *,
        ttft_s: float | None = None,
        tokens_per_s: float | None = None,
        output_tokens: int | None = None,
        total_s: float | None = None,
    ) -> None:
        self._refresh()
        h = self._get(model)
        self._lift_disables(model, h)
        h.requests += 1
        h.error_rate = (1 - self.error_alpha) * h.error_rate
        h.consecutive_failures = 0
        h.backoff_s = 0.0
        if ttft_s is not None and ttft_s >= 0:
            h.ttft_s = ttft_s if h.ttft_s is None else (1 - self.alpha) * h.ttft_s + self.alpha * ttft_s
        if tokens_per_s is None and output_tokens and total_s and ttft_s is not None and total_s > ttft_s:
            tokens_per_s = output_tokens / (total_s - ttft_s)
        # Short replies give meaningless rates (one chunk); only learn from real streams.
        if tokens_per_s is not None and tokens_per_s > 0 and (output_tokens is None or output_tokens >= 16):
            h.tokens_per_s = (
                tokens_per_s
                if h.tokens_per_s is None
                else (1 - self.alpha) * h.tokens_per_s + self.alpha * tokens_per_s
            )
        if self.save_every_s > 0 and self.clock() - self._saved_at < self.save_every_s:
            self._dirty = True
        else:
            self.save()

    def _lift_disables(self, model: str, h: ModelHealth) -> None:
        """An answer proves the key, the account and the model name good again (fixed at the
        provider's end, a quota topped up), though the config is unchanged."""
        if h.disabled:
            h.disabled = h.disabled_config = None
            self._cleared.add(model)
        provider = model.split("/", 1)[0]
        if self.disabled_providers.pop(provider, None) is not None:
            self._cleared_providers.add(provider)

    def flush(self) -> None:
        """Write the successes `save_every_s` held back, if any."""
        if self._dirty:
            self.save()

    def record_failure(
        self, model: str, kind: str, *, retry_after: float | None = None, message: str | None = None
    ) -> float:
        """Record a failure; returns the model's cooldown_until (epoch seconds)."""
        kind = str(getattr(kind, "value", kind))
        self._refresh()
        h = self._get(model)
        now = self.clock()
        h.last_error = kind if not message else f"{kind}: {message[:200]}"
        if kind in _IGNORED:
            self.save()
            return h.cooldown_until
        h.requests += 1
        h.failures += 1
        if kind in _NOT_THE_MODEL:
            h.provider_failures += 1
        h.error_rate = (1 - self.error_alpha) * h.error_rate + self.error_alpha
        if kind in ("auth", "quota", "endpoint_not_found"):
            # A key, an account or a base_url: every model of the provider fails alike until the
            # user acts, and a config change (a base_url fixed) lifts it at once, as no cooldown would.
            provider = model.split("/", 1)[0]
            reason = {"auth": "authentication failed", "quota": "quota or credit exhausted",
                      "endpoint_not_found": "API endpoint not found: check base_url"}[kind]
            self.disabled_providers[provider] = {"reason": reason, "config": self.config_fingerprint}
        elif kind == "not_found":
            h.disabled = "model not found"
            h.disabled_config = self.config_fingerprint
        else:  # transient (or unknown kinds, treated as transient)
            h.consecutive_failures += 1
            if h.consecutive_failures >= self.failure_threshold:
                # Breaker (re-)opens: the backoff doubles each time a trial fails.
                h.backoff_s = min(self.max_backoff_s, max(self.base_backoff_s * 4, h.backoff_s * 2))
            else:
                h.backoff_s = min(self.max_backoff_s, self.base_backoff_s * 2 ** (h.consecutive_failures - 1))
            wait = max(float(retry_after or 0.0), h.backoff_s)
            h.cooldown_until = max(h.cooldown_until, now + wait)  # never shortened
        self.save()
        return h.cooldown_until

    def disable(self, model: str, reason: str) -> None:
        h = self._get(model)
        h.disabled = reason
        h.disabled_config = self.config_fingerprint
        self.save()

    def enable(self, model: str) -> None:
        h = self._get(model)
        h.disabled = None
        h.disabled_config = None
        h.cooldown_until = 0.0
        h.consecutive_failures = 0
        self._cleared.add(model)
        provider = model.split("/", 1)[0]
        self.disabled_providers.pop(provider, None)
        self._cleared_providers.add(provider)
        self.save()

    def reset(self) -> None:
        self.models.clear()
        self.disabled_providers.clear()
        self.save(merge=False)

    # -- queries ---------------------------------------------------------------------------

    def breaker(self, model: str) -> str:
        """closed | open | half_open."""
        h = self.models.get(model)
        if h is None or h.consecutive_failures < self.failure_threshold:
            return "closed"
        return "open" if self.clock() < h.cooldown_until else "half_open"

    def cooldown_remaining(self, model: str) -> float:
        h = self.models.get(model)
        return 0.0 if h is None else max(0.0, h.cooldown_until - self.clock())

    def unavailable_reason(self, model: str) -> str | None:
        """Why the router must skip this model now, or None if it may be tried."""
        self._refresh()
        provider = model.split("/", 1)[0]
        if provider in self.disabled_providers:
            reason = self.disabled_providers[provider].get("reason")
            return f"provider {provider} disabled ({reason}) {_UNTIL_LIFTED}"
        h = self.models.get(model)
        if h is None:
            return None
        if h.disabled:
            return f"disabled ({h.disabled}) {_UNTIL_LIFTED}"
        left = h.cooldown_until - self.clock()
        if left > 0:
            what = "circuit open" if h.consecutive_failures >= self.failure_threshold else "cooling down"
            # Rounded up: "cooling down for 0 s" read as a model that should have been tried. Longer
            # waits in minutes or hours, as `models` and the picker say them ("cooling 15 min").
            from chatroute.format import fmt_wait

            wait = f"{math.ceil(left)} s" if left < 120 else fmt_wait(left)
            return f"{what} for {wait} after {h.last_error or 'errors'}"
        return None

    def expected_latency(self, model: str, output_tokens: float, *, local: bool = False) -> float:
        """Seconds to the full answer: EWMA ttft + tokens / EWMA tokens-per-second (priors if unseen)."""
        h = self.models.get(model)
        ttft = h.ttft_s if h and h.ttft_s is not None else PRIOR_TTFT_S
        tps = h.tokens_per_s if h and h.tokens_per_s else (LOCAL_PRIOR_TPS if local else PRIOR_TPS)
        return float(ttft + output_tokens / max(tps, 1e-3))

    def snapshot(self, models: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Per model id: the stored fields plus `breaker` and `cooldown_remaining_s`; a model
        whose provider is disabled shows that in `disabled`. `models` adds rows for models
        with no history yet (so a disabled provider shows on all of its models)."""
        self._refresh()
        now = self.clock()
        out: dict[str, dict[str, Any]] = {}
        for k in sorted(set(self.models) | set(models or ())):
            v = self.models.get(k, ModelHealth())
            row = {**asdict(v), "breaker": self.breaker(k), "cooldown_remaining_s": max(0.0, v.cooldown_until - now)}
            prov = self.disabled_providers.get(k.split("/", 1)[0])
            if prov and not row["disabled"]:
                row["disabled"] = f"provider: {prov.get('reason')}"
            out[k] = row
        return out


def skip_label(row: dict[str, Any]) -> str | None:
    """Why routing skips a model now, in a few words, from its snapshot() row: `disabled
    (provider: authentication failed)`, `cooling 5 min`; None when it does not. One wording for
    `chatroute models` and the TUI's model picker."""
    from chatroute.format import fmt_wait

    if row.get("disabled"):
        return f"disabled ({row['disabled']})"
    if row.get("cooldown_remaining_s", 0.0) > 0:
        return f"cooling {fmt_wait(row['cooldown_remaining_s'])}"
    return None
