"""The answer cache: an exact tier and a verified semantic tier, kept in the app's SQLite DB.

A wrong hit is worse than a miss, so a semantic hit needs three things within the same scope
(system prompt, history, params, pinned model): a neighbour by embedding, the exact facts of
`guards.hard_refuse_reason` (numbers, units, negation, quoted text and code, names, explicit
time) equal, and the learned verifier (`verifier.py`), which reads both prompts together,
judging them the same question. Only complete answers are stored.

Concurrency: each AnswerCache has its own connection. Writes run in BEGIN IMMEDIATE and
triggers bump counters in `cache_meta`; another process notices through PRAGMA data_version
and loads only what changed, so a lookup never rescans the table.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from chatroute.cache import damage
from chatroute.cache.guards import hard_refuse_reason
from chatroute.cache.index import VectorIndex
from chatroute.cache.keys import exact_key, norm_text, scope_key
from chatroute.cache.refusal import is_refusal
from chatroute.cache.spelling import Respeller, respeller_for, verifier_view
from chatroute.cache.tables import SCHEMA, Tx, db_path_of
from chatroute.cache.text import Features, features
from chatroute.cache.verifier import Verifier, get_verifier
from chatroute.providers.think_tags import stored_answer

log = logging.getLogger(__name__)

EmbedFn = Callable[[list[str]], np.ndarray]

# The neighbour floor: cosine between the *topic words* of the two prompts (the frame "how do I
# / can you" removed). It only picks candidates for the verifier, so it sits low enough to let
# rephrasings by other words through (scripts/train_cache_verifier.py reports the trade-off).
# Same as the config default (chatroute.config.CacheConfig.threshold).
DEFAULT_THRESHOLD = 0.65
PENALTY_STEP = 0.02  # each regenerate-after-hit raises that entry's cosine bar by this much
# ... and the verifier's bar by Verifier.step (both: a penalised entry needs a closer, surer match)
MAX_PENALTIES = 2  # ... and this many disable the entry for good
MAX_SEMANTIC_CHARS = 8000  # longer prompts (pasted files) are served by the exact tier only
CANDIDATES = 4  # neighbours checked against the guards, best first
VERIFY_AT_MOST = 3  # ... of which at most this many reach the verifier: a miss stays cheap
# The verifier's bar after a regenerate never exceeds this: it stays reachable by a near-certain
# match (the trainer sets the verifier's step so that one regenerate takes it here).
MAX_BAR = 0.9999
FLUSH_SECONDS = 2.0  # hit/miss counters and LRU touches are written at most this often
# How the stored neighbour vectors are made (the topic words, their respelling, the static
# embedder). Entries stored under another recipe are embedded again when the index loads:
# their old vectors would hide rephrasings the current recipe makes neighbours (entries from
# before stop 41 kept typos in their topic words). Bump it with any change to that path.
VECTOR_RECIPE = 3
REEMBED_BATCH = 512


class _ConfigLike(Protocol):
    enabled: bool
    max_entries: int
    ttl_hours: float
    threshold: float


@dataclass
class CacheSettings:
    """Used when no chatroute.config.CacheConfig is given (same fields)."""

    enabled: bool = True
    max_entries: int = 50_000
    ttl_hours: float = 24 * 30
    threshold: float = DEFAULT_THRESHOLD


@dataclass(frozen=True)
class CacheHit:
    text: str
    similarity: float
    source_turn_id: str | None
    entry_id: int
    lookup_ms: float
    model: str | None
    tier: str  # "exact" | "semantic"


@dataclass(frozen=True)
class CacheStats:
    entries: int
    hits: int
    misses: int
    exact_hits: int
    semantic_hits: int
    saved_usd: float
    false_hits: int  # regenerates after a hit
    unpriced_hits: int = 0  # hits whose saving is unknown (no known price): not in saved_usd

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AnswerCache:
    def __init__(self, db_path: Any, embed: EmbedFn | Any | None = None, config: _ConfigLike | None = None) -> None:
        self.config: _ConfigLike = config if config is not None else CacheSettings()
        if embed is None:
            self._embed_fn: EmbedFn | None = None  # the real embedder, loaded on first need
        elif callable(embed):
            self._embed_fn = embed
        else:
            self._embed_fn = embed.embed  # an Embedder object
        self.path = db_path_of(db_path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 10000")
        # Why the cache's tables cannot be used (damage.py), once found; told to on_damaged.
        self.damaged: str | None = None
        self.on_damaged: Callable[[str], None] | None = None
        # Told once the damage is gone: another process's `cache clear` made the tables anew.
        self.on_recovered: Callable[[], None] | None = None
        self._damaged_schema: int | None = None  # the schema's version when the damage was last looked at
        try:
            # These read the schema: an entry of the cache's SQLite cannot read fails them first.
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable against app crashes, no fsync per insert
            with self._write():
                lost = self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'cache_entries'").fetchone() is None
                for sql in SCHEMA:
                    self._conn.execute(sql)
                if lost:
                    # Made just now, while its counters may be from a table that was lost (dropped
                    # by hand): a stale count would evict every new entry from a cache it calls full,
                    # and other processes' indexes would keep ids that are gone.
                    self._conn.execute("UPDATE cache_meta SET value = 0 WHERE key = 'count'")
                    self._conn.execute("UPDATE cache_meta SET value = value + 1 WHERE key IN ('version', 'deletes')")
                # A new, empty cache is of the current recipe: nothing to embed again.
                self._conn.execute(
                    "INSERT INTO cache_meta SELECT 'recipe', ? WHERE NOT EXISTS (SELECT 1 FROM cache_entries)"
                    " AND NOT EXISTS (SELECT 1 FROM cache_meta WHERE key = 'recipe')", (VECTOR_RECIPE,))
            missing = damage.missing_columns(self._conn)
            if missing:
                self.damaged = f"cache_entries has no column {', '.join(missing)}"
        except sqlite3.DatabaseError as exc:
            # Opened all the same: the turn goes on to a model, and the user is told (not_usable).
            self._not_usable(exc)
        self._index: VectorIndex | None = None
        self._data_version: int | None = None
        self._seen: tuple[int, int] = (-1, -1)  # (version, deletes) the index reflects
        self.last_reason: str | None = None  # why the last lookup missed (debugging, eval)
        self._pending: dict[str, float] = {}
        self._pending_used: dict[int, float] = {}
        self._pending_clears: int | None = None  # the clears count when those were counted
        self._flushed_at = time.monotonic()
        # Writes the last lookups' counts when no later lookup comes to write them (_count_lookup).
        self._flush_timer: threading.Timer | None = None
        self._closed = False
        self._verifier: Verifier | None = None
        self.last_verifier: float | None = None  # the verifier's probability for the last candidate judged
        self.last_pooled: float | None = None  # and the cosine of the two prompts' pooled encoder states
        # How a semantic hit passed: (the bar, and the rephrasing path's two bars when it passed by
        # that path with a probability under the bar; None when it reached the bar)
        self.last_pass: tuple[float, tuple[float, float] | None] | None = None
        self._warming = False  # warm() is loading the index (maybe embedding every entry again)
        # Told the number of entries before they are embedded again (once, after an upgrade): a
        # command that has no warm-up says why its first lookup takes seconds.
        self.on_reembed: Callable[[int], None] | None = None
        self._memo_vec: dict[str, np.ndarray] = {}
        self._memo_weight: dict[str, float] = {}

    @classmethod
    def open(cls, db: Any, embedder: EmbedFn | Any | None = None, config: _ConfigLike | None = None) -> AnswerCache:
        return cls(db, embedder, config)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._flush_timer is not None:
                self._flush_timer.cancel()
                self._flush_timer = None
            try:
                self.flush()
            except sqlite3.Error as exc:
                # Only hit/miss counters are lost. Not a warning: with no logging configured it
                # would print a stray stderr line next to the one error that says what failed.
                log.debug("cache flush on close failed: %s", exc)
            self._conn.close()

    # ---- public API -------------------------------------------------------------------

    def warm(self) -> None:
        """Load the neighbour index now (embedding again any entries of an older recipe), so
        the first lookup does not wait for it. Never raises on bad cache data."""
        if not self.config.enabled or self._closed:
            return
        self._warming = True
        try:
            self._reembed_stale()  # batch by batch: lookups and stores go on between batches
            with self._lock:
                self._ensure_index()
        except sqlite3.DatabaseError as exc:
            self._not_usable(exc)
        finally:
            self._warming = False

    def lookup(self, system: str | None, history: Sequence[Any], prompt: str,
               params: Mapping[str, Any] | None = None, pinned_model: str | None = None, *,
               count: bool = True, now: float | None = None) -> CacheHit | None:
        """The cached answer for this request, or None. Never raises on bad cache data."""
        t0 = time.perf_counter()
        now = time.time() if now is None else now
        self.last_verifier = self.last_pooled = self.last_pass = None
        self._memo_vec, self._memo_weight = {}, {}
        if not self.config.enabled:
            self.last_reason = "disabled"
            return None
        if self._closed:  # a lookup racing the app's shutdown
            self.last_reason = "closed"
            return None
        if self.config.max_entries <= 0:  # a cache of size 0 holds nothing to serve
            self.last_reason = "max_entries = 0"
            return None
        with self._lock:
            self._look_again()
            try:
                hit = self._lookup(system, history, prompt, params, pinned_model, now)
            except sqlite3.DatabaseError as exc:  # a broken cache must never break a turn
                self._not_usable(exc)
                self.last_reason = f"error: {exc}"
                hit = None
            ms = (time.perf_counter() - t0) * 1000
            if count:
                self._count_lookup(hit, now)
            if hit is None:
                return None
            return CacheHit(hit[0], hit[1], hit[2], hit[3], ms, hit[4], hit[5])

    def store(self, system: str | None, history: Sequence[Any], prompt: str,
              params: Mapping[str, Any] | None, pinned_model: str | None, text: str,
              model: str | None, turn_id: str | None, finish_reason: str | None, *,
              now: float | None = None) -> int | None:
        """Keep a complete answer; returns the entry id, or None when it was not storable."""
        if not self.config.enabled or self._closed:
            return None
        if self.config.max_entries <= 0:
            # What a larger cache kept before is beyond the size now: evicted, as a lower size is.
            with self._lock, self._write():
                self._flush_locked()
                self._evict_locked(time.time() if now is None else now)
            return None
        # Only a natural end: 'length' is truncated, tool calls are not answers, and a None or
        # any other reason means interrupted or failed. Nor a refusal (refusal.py).
        if finish_reason != "stop" or not isinstance(text, str) or not text.strip() or is_refusal(text):
            return None
        prompt_n = norm_text(prompt) or ""
        if not prompt_n:
            return None
        feats = features(prompt_n[:MAX_SEMANTIC_CHARS])
        if feats.time_sensitive:
            return None  # the answer would go stale; such prompts never hit either
        now = time.time() if now is None else now
        scope = scope_key(system, history, params, pinned_model)
        key = exact_key(scope, prompt_n)
        vec = self._vector(feats) if len(prompt_n) <= MAX_SEMANTIC_CHARS else None
        blob = vec.astype(np.float16).tobytes() if vec is not None else None
        meta = json.dumps({"finish_reason": finish_reason})
        with self._lock:
            self._look_again()
        try:
            return self._store(key, scope, prompt_n, vec, blob, text, model, pinned_model, turn_id, meta, now)
        except sqlite3.DatabaseError as exc:
            if not damage.is_damage(exc):
                raise
            self._not_usable(exc)
            return None

    def _store(self, key: str, scope: str, prompt_n: str, vec: np.ndarray | None, blob: bytes | None, text: str,
               model: str | None, pinned_model: str | None, turn_id: str | None, meta: str, now: float) -> int:
        with self._lock, self._write():
            self._flush_locked()  # LRU order must be current before anything is evicted
            self._sync_locked()
            row = self._conn.execute("SELECT id FROM cache_entries WHERE exact_key = ?", (key,)).fetchone()
            if row is not None:
                # Same request answered again (e.g. a regenerate): the fresh answer replaces the
                # old one and starts with a clean record.
                entry_id = int(row[0])
                self._conn.execute(
                    "UPDATE cache_entries SET text=?, model=?, turn_id=?, meta=?, created_at=?, "
                    "last_used_at=?, hits=0, penalties=0 WHERE id=?",
                    (text, model, turn_id, meta, now, now, entry_id),
                )
            else:
                cur = self._conn.execute(
                    "INSERT INTO cache_entries (exact_key, scope, prompt, vector, text, model, pinned_model,"
                    " turn_id, meta, created_at, last_used_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (key, scope, prompt_n, blob, text, model, pinned_model, turn_id, meta, now, now),
                )
                entry_id = int(cur.lastrowid or 0)
                if self._index is not None and vec is not None:
                    self._index.add(entry_id, scope, vec)
            self._evict_locked(now)
            self._mark_seen_locked()
        return entry_id

    def penalise(self, entry_id: int, *, false_hit: bool = True) -> None:
        """The user regenerated away from this entry's answer: raise its bar, and count a false
        hit when the answer was served from here (not when it was the model's, then stored)."""
        with self._lock, self._write():
            self._conn.execute("UPDATE cache_entries SET penalties = penalties + 1 WHERE id = ?", (entry_id,))
            if false_hit:
                self._bump("false_hits", 1)

    def penalise_turn(self, source_turn_id: str | None, *, false_hit: bool = True) -> int:
        """penalise() for the entry stored from that turn's answer; returns how many."""
        if not source_turn_id:
            return 0
        with self._lock:
            ids = [r[0] for r in self._conn.execute(
                "SELECT id FROM cache_entries WHERE turn_id = ?", (source_turn_id,))]
        for entry_id in ids:
            self.penalise(entry_id, false_hit=false_hit)
        return len(ids)

    def record_hit(self, entry_id: int, saved_usd: float | None) -> None:
        """Add what a hit saved (the cost of the model that would have answered) to the tally,
        or count it apart when that is unknown (None): it is not a saving of $0.

        lookup() already counted the hit itself; this only adds the money.
        """
        if saved_usd is not None and not saved_usd > 0:
            return
        with self._lock, self._write():
            if saved_usd is None:
                self._bump("unpriced_hits", 1)
            else:
                self._bump("saved_usd", float(saved_usd))

    def stats(self) -> CacheStats:
        self.flush()
        with self._lock:
            count = self._conn.execute("SELECT value FROM cache_meta WHERE key='count'").fetchone()
            vals = dict(self._conn.execute("SELECT key, value FROM cache_stats").fetchall())
        return CacheStats(
            entries=int(count[0]) if count else 0,
            hits=int(vals.get("hits", 0)),
            misses=int(vals.get("misses", 0)),
            exact_hits=int(vals.get("exact_hits", 0)),
            semantic_hits=int(vals.get("semantic_hits", 0)),
            saved_usd=float(vals.get("saved_usd", 0.0)),
            false_hits=int(vals.get("false_hits", 0)),
            unpriced_hits=int(vals.get("unpriced_hits", 0)),
        )

    def check(self) -> str | None:
        """Look for damage before any lookup meets it (`cache stats`): told as a lookup's would be
        (`damaged`, on_damaged), and returned."""
        if self.damaged is None:
            try:
                with self._lock:
                    problem = damage.find(self._conn)
            except sqlite3.DatabaseError as exc:
                self._not_usable(exc)
            else:
                if problem is not None:
                    self._mark_damaged(problem)
        return self.damaged

    def clear(self) -> None:
        """Drop every entry and reset the counters: the cache's tables are made anew, so a
        damaged cache is rebuilt too (damage.rebuild); nothing else in the file is touched."""
        with self._lock:
            self._pending, self._pending_used = {}, {}
            # Another process (the TUI, serve) may hold counts of lookups from before this: the
            # rebuild moves the clears count on, and they are dropped.
            damage.rebuild(self._conn)
            self._index = None  # loaded again, empty, on next use
            self._data_version = None
            self.damaged = None

    def _not_usable(self, exc: sqlite3.DatabaseError) -> None:
        """A query on the cache's tables failed. Another process's lock is a wait; anything else
        is damage, which no later query will get past: the first is told (on_damaged), not
        every lookup's, and never as a traceback."""
        if not damage.is_damage(exc):
            log.debug("cache busy: %s", exc)
            return
        self._mark_damaged(str(exc))

    def _mark_damaged(self, reason: str) -> None:
        if self.damaged is None:
            self.damaged = reason
            self._damaged_schema = self._schema_version()
            if self.on_damaged is not None:
                self.on_damaged(self.damaged)
        log.debug("cache damaged: %s", reason)

    def _schema_version(self) -> int | None:
        try:
            return int(self._conn.execute("PRAGMA schema_version").fetchone()[0])
        except sqlite3.DatabaseError:
            return None

    def _look_again(self) -> None:
        """Damage found before: once the schema has changed since (`cache clear` in another
        process drops and makes the tables anew), look again, as `cache stats` does; sound, the
        cache is used again and that is told (on_recovered). An unchanged schema costs one
        pragma, so a lookup does not pay for the check while the cache stays damaged."""
        if self.damaged is None:
            return
        version = self._schema_version()
        if version is None or version == self._damaged_schema:
            return
        self._damaged_schema = version
        try:
            if damage.missing_columns(self._conn) or damage.find(self._conn) is not None:
                return
        except sqlite3.DatabaseError:
            return
        self.damaged = None
        self._index = None  # loaded again from the tables as they are now
        self._data_version = None
        log.debug("cache sound again")
        if self.on_recovered is not None:
            self.on_recovered()

    # ---- lookup internals ---------------------------------------------------------------

    def _lookup(self, system: str | None, history: Sequence[Any], prompt: str,
                params: Mapping[str, Any] | None, pinned_model: str | None,
                now: float) -> tuple[str, float, str | None, int, str | None, str] | None:
        prompt_n = norm_text(prompt) or ""
        if not prompt_n:
            self.last_reason = "empty prompt"
            return None
        feats = features(prompt_n[:MAX_SEMANTIC_CHARS])
        if feats.time_sensitive:
            self.last_reason = "time-sensitive"
            return None
        scope = scope_key(system, history, params, pinned_model)
        cutoff = now - self.config.ttl_hours * 3600.0
        row = self._conn.execute(
            "SELECT id, text, turn_id, model, created_at, penalties, meta FROM cache_entries WHERE exact_key = ?",
            (exact_key(scope, prompt_n),),
        ).fetchone()
        if row is not None:
            entry_id, text, turn_id, model, created_at, penalties, meta = row
            if _valid(text, meta) and created_at >= cutoff and penalties < MAX_PENALTIES:
                return (text, 1.0, turn_id, int(entry_id), model, "exact")
        if len(prompt_n) > MAX_SEMANTIC_CHARS:
            self.last_reason = "too long for the semantic tier"
            return None
        if self._index is None and self._warming:
            # After an upgrade the warm-up embeds every entry again (seconds for a large cache). A
            # turn does not wait for it: the exact tier above still serves, the rest goes to a model.
            self.last_reason = "the neighbour index is still loading"
            return None
        if not feats.content_words:
            self.last_reason = "no topic words"
            return None
        index = self._ensure_index()
        # Nothing cached under this scope (an empty cache, a conversation's next turn): there is
        # no neighbour to find, so the prompt is not embedded (nor the respeller loaded for it).
        if not index.may_hold(scope):
            self.last_reason = "no neighbour above threshold"
            return None
        q = self._vector(feats)
        if q is None:
            self.last_reason = "no topic words"
            return None
        base = float(self.config.threshold)
        candidates = index.search(scope, q, base, k=CANDIDATES)
        if not candidates:
            self.last_reason = "no neighbour above threshold"
            return None
        reason = "below entry threshold"
        verified = 0
        for entry_id, sim in candidates:
            if verified >= VERIFY_AT_MOST:
                break
            row = self._conn.execute(
                "SELECT prompt, text, turn_id, model, created_at, penalties, meta FROM cache_entries WHERE id = ?",
                (entry_id,),
            ).fetchone()
            if row is None:
                index.remove(entry_id)
                continue
            c_prompt, text, turn_id, model, created_at, penalties, meta = row
            if not _valid(text, meta) or not isinstance(c_prompt, str):
                reason = "corrupt entry"
                continue
            if created_at < cutoff:
                reason = "expired"
                continue
            if penalties >= MAX_PENALTIES or sim < base + PENALTY_STEP * penalties:
                continue
            c_feats = _stored_features(c_prompt[:MAX_SEMANTIC_CHARS])
            why = hard_refuse_reason(c_feats, feats)
            if why is not None:
                reason = why
                continue
            verifier = self._get_verifier()
            verified += 1
            try:
                # "the UN" / "the United Nations": the verifier reads both with the acronym.
                said_c, said_q = verifier_view(c_feats, feats, self._knows())
                prob, pooled = verifier.assess(said_c, said_q, self._word_embed, self._word_weights())
            except Exception as exc:  # noqa: BLE001 - e.g. the encoder's runtime or file is broken
                # Without a verdict nothing is served: a miss costs a model call, a wrong hit the
                # user's trust. The turn goes on to a model.
                log.warning("cache verifier unavailable: %s", exc)
                self.last_reason = f"verifier unavailable: {exc}"
                return None
            self.last_verifier, self.last_pooled = prob, pooled
            bar = min(MAX_BAR, verifier.threshold + verifier.step * penalties)
            if not verifier.accepts(prob, pooled, bar, regenerated=penalties > 0):
                # Say which test refused: a probability at the bar with the pooled cosine under the
                # floor is the encoder reading the two as unrelated, not the MLPs' verdict.
                reason = (f"verifier: the encoder reads them as unrelated (pooled {pooled:.2f})"
                          if pooled < verifier.pooled_floor and prob >= bar
                          else f"verifier: not the same question ({prob:.3f} < {bar:.3f})")
                continue
            self.last_pass = (bar, verifier.rephrasing if prob < bar else None)
            return (text, float(min(sim, 1.0)), turn_id, int(entry_id), model, "semantic")
        self.last_reason = reason
        return None

    def _count_lookup(self, hit: tuple[Any, ...] | None, now: float) -> None:
        # Counted in memory and written in batches: a write transaction per lookup would cost
        # more than the lookup itself. stats(), store(), close() and a 2 s timer flush them.
        # The timer is for a long-running process that then sits idle (serve, the TUI): its
        # last counts would otherwise wait for its next lookup, unseen by `cache stats`.
        if not (self._pending or self._pending_used):
            try:
                self._pending_clears = self._clears()
            except sqlite3.DatabaseError:
                self._pending_clears = None
        if hit is None:
            self._pending["misses"] = self._pending.get("misses", 0) + 1
        else:
            self._pending["hits"] = self._pending.get("hits", 0) + 1
            key = f"{hit[5]}_hits"
            self._pending[key] = self._pending.get(key, 0) + 1
            self._pending_used[int(hit[3])] = now
        if time.monotonic() - self._flushed_at > FLUSH_SECONDS:
            try:
                with self._write():
                    self._flush_locked()
            except sqlite3.DatabaseError as exc:
                self._not_usable(exc)
        elif self._flush_timer is None:
            self._flush_timer = threading.Timer(FLUSH_SECONDS, self._timed_flush)
            self._flush_timer.daemon = True
            self._flush_timer.start()

    def _timed_flush(self) -> None:
        with self._lock:
            self._flush_timer = None
            if self._closed or not (self._pending or self._pending_used):
                return
            try:
                with self._write():
                    self._flush_locked()
            except sqlite3.Error as exc:
                log.debug("cache stats update failed: %s", exc)

    def _flush_locked(self) -> None:
        """Write batched counters and LRU touches; call inside a write transaction."""
        self._flushed_at = time.monotonic()
        if self._pending_clears is not None and self._pending_clears != self._clears():
            # Counted before a `cache clear` (in another process): they describe the emptied cache.
            self._pending, self._pending_used = {}, {}
        self._pending_clears = None
        if self._pending:
            for key, amount in self._pending.items():
                self._bump(key, amount)
            self._pending = {}
        if self._pending_used:
            self._conn.executemany(
                "UPDATE cache_entries SET hits = hits + 1, last_used_at = max(last_used_at, ?) WHERE id = ?",
                [(t, i) for i, t in self._pending_used.items()],
            )
            self._pending_used = {}

    def flush(self) -> None:
        with self._lock, self._write():
            self._flush_locked()

    def _get_verifier(self) -> Verifier:
        if self._verifier is None:
            self._verifier = get_verifier()
        return self._verifier

    def _word_embed(self, words: list[str]) -> np.ndarray:
        """Word vectors, memoised for one lookup: the query's words are embedded once however
        many candidates the verifier reads."""
        self._fill_memo(words)
        return np.stack([self._memo_vec[w] for w in words])

    def _embedder_method(self, name: str) -> Callable[..., Any] | None:
        """A method of the shipped embedder whose `embed` this cache uses (word_vectors, knows); None
        for a stand-in embed function, which has neither."""
        method = getattr(getattr(self._embed_fn, "__self__", None), name, None)
        return method if callable(method) else None

    def _knows(self) -> Callable[[str], bool] | None:
        """Whether the shipped embedder knows a word whole (spelling.spell_alike); None for a
        stand-in embedder."""
        return self._embedder_method("knows")

    def _respeller(self) -> Respeller | None:
        """Topic words respelled for the neighbour search (spelling.respeller_for); None for a
        stand-in embedder, whose vocabulary is unknown."""
        return respeller_for(getattr(self._embed_fn, "__self__", None))

    def _word_weights(self) -> Callable[[list[str]], np.ndarray] | None:
        """The embedder's word importances, when the embedder is the shipped one (the verifier
        was trained with them); a stand-in embedder gets uniform weights."""
        if self._embedder_method("word_vectors") is None:
            return None

        def weights(words: list[str]) -> np.ndarray:
            self._fill_memo(words)
            return np.array([self._memo_weight[w] for w in words], dtype=np.float32)

        return weights

    def _fill_memo(self, words: list[str]) -> None:
        if self._embed_fn is None:
            from chatroute.embed import get_embedder

            self._embed_fn = get_embedder().embed
        missing = list(dict.fromkeys(w for w in words if w not in self._memo_vec))
        if not missing:
            return
        raw_fn = self._embedder_method("word_vectors")
        raw = np.asarray(raw_fn(missing) if raw_fn is not None else self._embed_fn(missing), dtype=np.float32)
        norms = np.linalg.norm(raw, axis=1)
        for w, v, n in zip(missing, raw, norms, strict=True):
            self._memo_vec[w] = v / n if n > 0 else v
            self._memo_weight[w] = float(n)

    def _embedder(self) -> EmbedFn:
        if self._embed_fn is None:
            from chatroute.embed import get_embedder

            self._embed_fn = get_embedder().embed
        return self._embed_fn

    def _vector(self, feats: Features) -> np.ndarray | None:
        return self._vectors([feats])[0]

    def _vectors(self, feats_list: Sequence[Features]) -> list[np.ndarray | None]:
        """Unit neighbour vectors of the prompts' topic words; None where there are none."""
        out: list[np.ndarray | None] = [None] * len(feats_list)
        todo = [i for i, f in enumerate(feats_list) if f.content_words]
        if not todo:
            return out
        embed = self._embedder()
        respeller = self._respeller()
        # A typo in a topic word would otherwise keep a rephrasing from being a neighbour at all.
        texts = [respeller.topic_text(feats_list[i]) if respeller is not None else feats_list[i].content_text
                 for i in todo]
        vecs = np.asarray(embed(texts), dtype=np.float32).reshape(len(todo), -1)
        norms = np.linalg.norm(vecs, axis=1)
        for i, vec, norm in zip(todo, vecs, norms, strict=True):
            if np.isfinite(norm) and norm > 0.0:
                out[i] = vec / norm
        return out

    # ---- index sync ---------------------------------------------------------------------

    def _ensure_index(self) -> VectorIndex:
        if self._index is None:
            self._load_index()
        else:
            dv = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if dv != self._data_version:  # someone else committed something (maybe not ours)
                self._data_version = dv
                self._sync_locked()
        assert self._index is not None
        return self._index

    def _meta(self) -> tuple[int, int]:
        rows = dict(self._conn.execute("SELECT key, value FROM cache_meta WHERE key IN ('version','deletes')"))
        return int(rows.get("version", 0)), int(rows.get("deletes", 0))

    def _clears(self) -> int:
        row = self._conn.execute("SELECT value FROM cache_meta WHERE key = 'clears'").fetchone()
        return int(row[0]) if row is not None else 0

    def _recipe(self) -> int | None:
        row = self._conn.execute("SELECT value FROM cache_meta WHERE key = 'recipe'").fetchone()
        return int(row[0]) if row is not None else None

    def _reembed_stale(self) -> None:
        """Embed again every entry stored under another VECTOR_RECIPE (once, after an upgrade). The
        vectors are made outside the lock and each batch is written under it, so from another
        thread a lookup or a store waits at most for one batch's write."""
        with self._lock:
            if self._recipe() == VECTOR_RECIPE:
                return
            rows = [(int(i), p) for i, p in self._conn.execute(
                "SELECT id, prompt FROM cache_entries WHERE length(prompt) <= ?", (MAX_SEMANTIC_CHARS,))
                if isinstance(p, str)]
        if rows:
            log.info("cache: embedding %d entries again for the current neighbour search", len(rows))
            if self.on_reembed is not None:
                self.on_reembed(len(rows))
        for start in range(0, len(rows), REEMBED_BATCH):
            chunk = rows[start:start + REEMBED_BATCH]
            vecs = self._vectors([_stored_features(prompt) for _, prompt in chunk])
            blobs = [v.astype(np.float16).tobytes() if v is not None else None for v in vecs]
            # One transaction a batch: other processes are not locked out for the whole pass.
            with self._lock, self._write():
                self._conn.executemany("UPDATE cache_entries SET vector = ? WHERE id = ?",
                                       [(b, i) for b, (i, _) in zip(blobs, chunk, strict=True)])
        with self._lock, self._write():
            self._conn.execute("INSERT OR REPLACE INTO cache_meta VALUES ('recipe', ?)", (VECTOR_RECIPE,))

    def _load_index(self) -> None:
        self._reembed_stale()
        self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        self._seen = self._meta()
        self._index = None
        index = self._new_index()
        if index is None:
            return
        self._index = index
        self._load_rows("SELECT id, scope, vector FROM cache_entries WHERE vector IS NOT NULL", ())

    def _new_index(self) -> VectorIndex | None:
        row = self._conn.execute("SELECT vector FROM cache_entries WHERE vector IS NOT NULL LIMIT 1").fetchone()
        dim = None
        if self._embed_fn is not None or row is None:
            # The embedding's size alone: not through _vector, whose respeller's first load is for
            # a lookup that has a neighbour to look for.
            probe = np.asarray(self._embedder()(["cache dimension probe"]), dtype=np.float32)
            dim = probe.shape[-1] if probe.size else None
        if dim is None and row is not None and isinstance(row[0], bytes):
            dim = len(row[0]) // 2
        return VectorIndex(int(dim or 256))

    def _load_rows(self, sql: str, args: tuple[Any, ...]) -> None:
        assert self._index is not None
        dim = self._index.dim
        ids: list[int] = []
        scopes: list[str] = []
        blobs: list[bytes] = []
        unreadable: list[int] = []
        for entry_id, scope, blob in self._conn.execute(sql, args):
            if not isinstance(blob, bytes) or len(blob) != dim * 2 or not isinstance(scope, str):
                unreadable.append(int(entry_id))  # damaged, or from another embedder: never crash
                continue
            ids.append(int(entry_id))
            scopes.append(scope)
            blobs.append(blob)
        if ids:
            vecs = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(ids), dim)
            del blobs
            ok = np.isfinite(vecs).all(axis=1)
            if not ok.all():
                unreadable += [ids[i] for i in np.flatnonzero(~ok)]
                keep = np.flatnonzero(ok)
                ids = [ids[i] for i in keep]
                scopes = [scopes[i] for i in keep]
                vecs = vecs[keep]
            self._index.add_many(ids, scopes, vecs)
        if unreadable:
            self._repair_vectors(unreadable)
        # Skipped rows still advance the watermark so they are not re-read on every sync.
        top = self._conn.execute("SELECT MAX(id) FROM cache_entries").fetchone()[0]
        if top is not None:
            self._index.max_id = max(self._index.max_id, int(top))

    def _repair_vectors(self, entry_ids: list[int]) -> None:
        """Embed again the entries whose stored vector cannot be read (garbage, the wrong length):
        left so, no rephrasing would ever find them, silently. One whose prompt or scope is
        unreadable too is deleted: nothing could be served from it."""
        rows = [(int(i), p, sc) for i, p, sc in self._conn.execute(
            f"SELECT id, prompt, scope FROM cache_entries WHERE id IN ({','.join('?' * len(entry_ids))})",
            entry_ids)]
        good = [(i, p, sc) for i, p, sc in rows if isinstance(p, str) and isinstance(sc, str)]
        vecs = self._vectors([_stored_features(p[:MAX_SEMANTIC_CHARS]) for _, p, _ in good]) if good else []
        dim = self._index.dim if self._index is not None else None
        fixed = [(i, sc, v) for (i, _, sc), v in zip(good, vecs, strict=True) if v is not None and v.size == dim]
        with self._write():
            self._conn.executemany("UPDATE cache_entries SET vector = ? WHERE id = ?",
                                   [(v.astype(np.float16).tobytes(), i) for i, _, v in fixed])
            # No topic words to embed: served by the exact tier alone, as such a prompt is stored.
            self._conn.executemany("UPDATE cache_entries SET vector = NULL WHERE id = ?",
                                   [(i,) for (i, _, _), v in zip(good, vecs, strict=True) if v is None])
            self._conn.executemany("DELETE FROM cache_entries WHERE id = ?",
                                   [(i,) for i, p, sc in rows if not (isinstance(p, str) and isinstance(sc, str))])
        if fixed and self._index is not None:
            self._index.add_many([i for i, _, _ in fixed], [sc for _, sc, _ in fixed],
                                 np.stack([v for _, _, v in fixed]).astype(np.float16))
        log.debug("cache: embedded %d unreadable vectors again", len(fixed))

    def _sync_locked(self) -> None:
        """Bring the index up to date with rows other connections inserted or deleted."""
        if self._index is None:
            return
        version, deletes = self._meta()
        if (version, deletes) == self._seen:
            return
        if deletes != self._seen[1]:
            alive = {r[0] for r in self._conn.execute("SELECT id FROM cache_entries")}
            for entry_id in self._index.ids() - alive:
                self._index.remove(entry_id)
        if version != self._seen[0]:
            self._load_rows(
                "SELECT id, scope, vector FROM cache_entries WHERE id > ? AND vector IS NOT NULL",
                (self._index.max_id,),
            )
        self._seen = (version, deletes)

    def _mark_seen_locked(self) -> None:
        # Called inside our own write transaction, after syncing: nobody else can have written
        # since, so the counters now describe exactly what the index holds.
        self._seen = self._meta()

    # ---- writes ---------------------------------------------------------------------------

    def _write(self) -> Tx:
        return Tx(self._conn, self._lock)

    def _bump(self, key: str, amount: float) -> None:
        self._conn.execute(
            "INSERT INTO cache_stats (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            (key, amount),
        )

    def _evict_locked(self, now: float) -> None:
        cutoff = now - self.config.ttl_hours * 3600.0
        doomed = [r[0] for r in self._conn.execute(
            "SELECT id FROM cache_entries WHERE last_used_at < ? AND created_at < ? LIMIT 256", (cutoff, cutoff))]
        count = self._conn.execute("SELECT value FROM cache_meta WHERE key='count'").fetchone()[0] - len(doomed)
        excess = count - int(self.config.max_entries)
        if excess > 0:
            # Least recently used first (a hit refreshes last_used_at).
            doomed += [r[0] for r in self._conn.execute(
                f"SELECT id FROM cache_entries WHERE id NOT IN ({','.join('?' * len(doomed))})"
                " ORDER BY last_used_at, id LIMIT ?", (*doomed, excess))]
        if not doomed:
            return
        self._conn.executemany("DELETE FROM cache_entries WHERE id = ?", [(i,) for i in doomed])
        if self._index is not None:
            for entry_id in doomed:
                self._index.remove(entry_id)


@lru_cache(maxsize=4096)
def _stored_features(prompt: str) -> Features:
    """Features of a stored prompt: the same few neighbours come back for many lookups."""
    return features(prompt)


def _valid(text: Any, meta: Any) -> bool:
    """A servable row: non-empty text that is no refusal (one stored before they were refused
    would be served for its lifetime), that holds no thinking (an answer stored before thinking
    in `<think>` tags was split off opens with its block; the next answer replaces it) and
    readable metadata."""
    if not isinstance(text, str) or not text.strip() or is_refusal(text):
        return False
    if stored_answer("assistant", text) != text:
        return False
    try:
        return isinstance(json.loads(meta), dict)
    except (TypeError, ValueError):
        return False
