"""Price tables: the bundled snapshot, a refreshed feed, and the validated refresh itself.

Both tables use LiteLLM's `model_prices_and_context_window.json` format (MIT): a JSON object
mapping a LiteLLM model key (`gpt-4o`, `gemini/gemini-2.5-flash`, ...) to per-token costs,
context sizes, `litellm_provider`, `mode` and `supports_*` flags. We keep a trimmed subset
(chat models of the providers chatroute users reach, and only the fields we read), so loading
is a few milliseconds.

Precedence, per model (see catalog.py / cost.py for the rest of the chain):
    [models."p/m"] override in config  >  refreshed feed  >  bundled snapshot
and at turn time a cost the provider reports itself (OpenRouter's usage.cost) beats them all.
The refreshed feed overlays the snapshot model by model, so a model that a newer feed dropped
keeps its bundled price rather than turning into "n/a".

Files:
- bundled: chatroute/catalog/data/prices.json.gz + prices.meta.json (source, as_of, sha256s)
- refreshed: `paths.prices_file` (data_dir/prices.json), one JSON object {"meta": ..., "models": ...}
  so data and provenance are replaced together in one atomic rename; the previous good copy
  is kept next to it as prices.json.bak and used if the main file is ever unreadable.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import stat
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

from chatroute.errors import ChatrouteError
from chatroute.fsutil import atomic_write

# Providers (LiteLLM `litellm_provider` values) kept in the snapshot and in refreshed copies.
# Hosted OpenAI-compatible APIs are matched to these by base_url host in catalog.py.
KEPT_PROVIDERS: frozenset[str] = frozenset(
    {
        "openai",
        "anthropic",
        "openrouter",
        "mistral",
        "gemini",
        "deepseek",
        "groq",
        "together_ai",
        "xai",
        "fireworks_ai",
        "deepinfra",
        "perplexity",
        "cerebras",
        "moonshot",
    }
)
KEPT_MODES: frozenset[str] = frozenset({"chat"})
COST_FIELDS: tuple[str, ...] = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
)
# Long-context prices: LiteLLM's `<cost field>_above_<N>k_tokens` (Gemini 2.5 Pro above 200k,
# GPT-5.4 above 272k, ...), the rate of the whole request when its prompt is over N thousand
# tokens. Kept beside COST_FIELDS; the service-tier variants (`..._priority`, `_flex`) are not.
TIER_FIELD = re.compile(rf"({'|'.join(COST_FIELDS)})_above_(\d{{1,5}})k_tokens")
# In a refreshed table's meta: it was trimmed keeping TIER_FIELD. One without it was trimmed by
# an earlier chatroute, which dropped them (the feed had them): see long_context_missing.
LONG_CONTEXT_KEPT = "long_context_prices"
KEPT_FIELDS: tuple[str, ...] = (
    *COST_FIELDS,
    "max_input_tokens",
    "max_output_tokens",
    "max_tokens",
    "litellm_provider",
    "mode",
    "supports_function_calling",
    "supports_vision",
    "supports_prompt_caching",
    "supports_reasoning",
)

MIN_MODELS = 50  # a feed with fewer usable models is not a price feed
MAX_SHRINK = 0.5  # refuse a feed with fewer than half the models we have now
MAX_FEED_BYTES = 64 * 1024 * 1024  # read or decompressed: a gzip bomb is cut off at this size
# No model costs anywhere near this: a per-token price above it is a broken feed, and
# accepting one would turn every turn's cost into an overflow (Infinity).
MAX_COST_PER_MTOK = 10_000.0
MAX_COST_PER_TOKEN = MAX_COST_PER_MTOK / 1_000_000
# LiteLLM's table is two levels deep; far deeper nesting is hostile (a recursion bomb).
MAX_FEED_DEPTH = 32
# A feed server can accept the connection and then send nothing. Past FEED_NOTICE_AFTER_S of
# silence the user is told what is awaited; past FEED_IDLE_TIMEOUT_S without a byte the fetch
# gives up. Both count silence, never the whole download, so a slow link that keeps sending
# finishes however long it takes.
FEED_NOTICE_AFTER_S = 2.0
FEED_IDLE_TIMEOUT_S = 10.0
# LiteLLM's table changes every week or two (new models, price cuts): prices older than this
# are likely missing some, and the user is told to refresh them.
STALE_AFTER_DAYS = 60
# Where `chatroute prices update` fetches from by default: LiteLLM's live table (MIT).
DEFAULT_FEED_URL = (
    "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
)

_DATA = "chatroute.catalog.data"
BUNDLED_FILE = "prices.json.gz"
BUNDLED_META = "prices.meta.json"


class PriceFeedError(ChatrouteError):
    """A price feed was refused (unreadable, malformed or implausible); nothing was changed.
    Bad input, so exit 2; a feed that could not be fetched over the network is exit 1."""

    exit_code = 2


@dataclass(frozen=True)
class PriceTable:
    """A trimmed LiteLLM-format price table and where it came from."""

    models: dict[str, dict[str, Any]]
    kind: str  # "bundled" | "refreshed"
    source: str
    as_of: str | None  # ISO date the prices held
    sha256: str | None = None  # of the original feed bytes
    models_in_source: int | None = None  # usable models in the untrimmed feed (shrink check)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.models)


@dataclass(frozen=True)
class UpdateResult:
    path: Path
    source: str
    as_of: str
    sha256: str
    models: int  # kept after trimming
    models_in_source: int
    previous_models: int
    backup: Path | None
    added: int
    removed: int
    changed: int  # models whose input or output price changed vs the current table


# ---------------------------------------------------------------- parsing and validation


def _reject_constant(name: str) -> float:
    # Python's json accepts NaN/Infinity literals; a price feed carrying them is broken.
    raise ValueError(f"non-finite number {name}")


def parse_feed(data: bytes) -> dict[str, Any]:
    """Parse feed bytes into the top-level object, or raise PriceFeedError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PriceFeedError(f"price feed is not UTF-8 text ({e.reason})") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except ValueError as e:  # JSONDecodeError is a ValueError too
        raise PriceFeedError(f"price feed is not valid JSON: {e}") from None
    except RecursionError:
        raise PriceFeedError("price feed refused: nested too deeply to be a price table") from None
    if not isinstance(obj, dict):
        raise PriceFeedError("price feed is not a JSON object of models")
    if json_depth(obj) > MAX_FEED_DEPTH:
        raise PriceFeedError(f"price feed refused: nested more than {MAX_FEED_DEPTH} levels deep")
    return obj


def json_depth(obj: object) -> int:
    """How deeply `obj` nests lists and objects, walked without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def sane_cost_per_token(value: object) -> float | None:
    """A per-token price we can use, or None: finite, not negative, not absurd."""
    if not _is_num(value):
        return None
    f = _as_float(value)  # type: ignore[arg-type]
    return f if math.isfinite(f) and 0 <= f <= MAX_COST_PER_TOKEN else None


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _as_float(value: float) -> float:
    # JSON integers are unbounded: float() of a 400-digit one raises OverflowError. As a price
    # it is as unusable as Infinity, and is refused the same way.
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _shown(value: object) -> str:
    """A number from the feed for a one-line message: a 400-digit integer is cut short."""
    text = str(value)
    return text if len(text) <= 24 else f"{text[:20]}… ({len(text)} digits)"


def _check_costs(name: str, value: object, key: str = "", in_cost: bool = False) -> None:
    """Every number under a key naming a cost (at any depth) must be finite and >= 0."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_costs(name, v, f"{key}.{k}" if key else str(k), in_cost or "cost" in str(k))
        return
    if in_cost and _is_num(value):
        f = _as_float(value)  # type: ignore[arg-type]
        if not math.isfinite(f):
            raise PriceFeedError(f"price feed refused: {name}: {key} is not finite ({_shown(value)})")
        if f < 0:
            raise PriceFeedError(f"price feed refused: {name}: {key} is negative ({_shown(value)})")


def _check_labels(name: str, entry: dict[str, Any]) -> None:
    """`litellm_provider` and `mode` pick the models kept: text or absent, nothing else."""
    for key in ("litellm_provider", "mode"):
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise PriceFeedError(f"price feed refused: {name}: {key} is {_json_kind(value)}, not a string")


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else "a number"


def usable(entry: object) -> bool:
    """An entry we can price: numeric input and output per-token costs."""
    return (
        isinstance(entry, dict)
        and _is_num(entry.get("input_cost_per_token"))
        and _is_num(entry.get("output_cost_per_token"))
    )


def count_usable(raw: dict[str, Any]) -> int:
    return sum(1 for e in raw.values() if usable(e))


def long_context_missing(table: PriceTable) -> bool:
    """A refreshed table trimmed by a chatroute that dropped the long-context prices."""
    return table.kind == "refreshed" and not table.meta.get(LONG_CONTEXT_KEPT)


def cost_fields(entry: dict[str, Any]) -> list[str]:
    """The keys of `entry` that are per-token prices: COST_FIELDS and long-context tiers."""
    return [*COST_FIELDS, *(k for k in entry if TIER_FIELD.fullmatch(k))]


def trim_feed(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Keep chat models of KEPT_PROVIDERS with usable costs, and only KEPT_FIELDS and
    long-context tiers (TIER_FIELD), sorted."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(raw):
        e = raw[name]
        if not usable(e):
            continue
        provider, mode = e.get("litellm_provider"), e.get("mode")
        if not isinstance(provider, str) or not isinstance(mode, str):
            continue
        if provider not in KEPT_PROVIDERS or mode not in KEPT_MODES:
            continue
        kept = {k: e[k] for k in (*KEPT_FIELDS, *(k for k in e if TIER_FIELD.fullmatch(k)))
                if k in e and e[k] is not None}
        # A cache rate must be a number to be useful; drop odd values rather than the model.
        for k in cost_fields(kept):
            if k in kept and not _is_num(kept[k]):
                del kept[k]
        out[name] = kept
    return out


def validate_feed(raw: dict[str, Any], current: PriceTable | None) -> dict[str, dict[str, Any]]:
    """Check a parsed feed and return its trimmed table, or raise PriceFeedError."""
    for name, entry in raw.items():
        if isinstance(entry, dict):
            _check_costs(name, entry)
            _check_labels(name, entry)
    n = count_usable(raw)
    for name, entry in trim_feed(raw).items():
        for key in cost_fields(entry):
            if key in entry and sane_cost_per_token(entry[key]) is None:
                raise PriceFeedError(
                    f"price feed refused: {name}: {key} is {entry[key]:g} USD a token "
                    f"(over ${MAX_COST_PER_MTOK:,.0f} per million tokens)"
                )
    if n < MIN_MODELS:
        raise PriceFeedError(
            f"price feed refused: only {n} models with input and output costs "
            f"(at least {MIN_MODELS} expected)"
        )
    trimmed = trim_feed(raw)
    if current is not None:
        base = current.models_in_source or len(current.models)
        if n < base * MAX_SHRINK:
            raise PriceFeedError(
                f"price feed refused: {n:,} priced models in the feed, down from {base:,} in the feed the "
                "current table came from (shrinks by more than half)"
            )
        if len(trimmed) < len(current.models) * MAX_SHRINK:
            raise PriceFeedError(
                f"price feed refused: {len(trimmed)} chat models for chatroute's providers, "
                f"down from {len(current.models)} (shrinks by more than half)"
            )
    if not trimmed:
        raise PriceFeedError("price feed refused: no chat models for any supported provider")
    return trimmed


# ---------------------------------------------------------------- loading


@lru_cache(maxsize=1)
def load_bundled() -> PriceTable:
    """The snapshot shipped in the package (parsed once per process)."""
    pkg = resources.files(_DATA)
    meta = json.loads(pkg.joinpath(BUNDLED_META).read_text(encoding="utf-8"))
    models = json.loads(gzip.decompress(pkg.joinpath(BUNDLED_FILE).read_bytes()))
    return PriceTable(
        models=models,
        kind="bundled",
        source=meta.get("source", "bundled snapshot"),
        as_of=meta.get("as_of"),
        sha256=meta.get("original_sha256"),
        models_in_source=meta.get("models_in_source"),
        meta=meta,
    )


def backup_path(prices_file: Path) -> Path:
    return prices_file.with_name(prices_file.name + ".bak")


def _read_refreshed(path: Path) -> PriceTable | None:
    try:
        if path.stat().st_size > MAX_FEED_BYTES:
            return None
        doc = json.loads(path.read_bytes(), parse_constant=_reject_constant)
        meta, models = doc["meta"], doc["models"]
        if not isinstance(meta, dict) or not isinstance(models, dict) or not models:
            return None
        if not all(usable(e) for e in models.values()):
            return None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    return PriceTable(
        models=models,
        kind="refreshed",
        source=str(meta.get("source", path)),
        as_of=meta.get("as_of"),
        sha256=meta.get("sha256"),
        models_in_source=meta.get("models_in_source"),
        meta=meta,
    )


def load_refreshed(prices_file: Path) -> PriceTable | None:
    """The refreshed table, falling back to the last good copy; None if neither is usable."""
    return load_refreshed_noting(prices_file)[0]


def load_refreshed_noting(prices_file: Path) -> tuple[PriceTable | None, str | None]:
    """load_refreshed, and a warning when the refreshed file is there but cannot be used (an
    edit, a damaged disk): the prices then silently went back to an older table."""
    note = None
    for p in (prices_file, backup_path(prices_file)):
        if p.is_file():
            table = _read_refreshed(p)
            if table is not None:
                return table, note
            if note is None:
                note = f"{p}: the refreshed price table cannot be read"
    if note is not None:
        return None, f"{note}; using the bundled prices; run `chatroute prices update` to refresh them"
    return None, None


def refreshed_is_older(refreshed: PriceTable, bundled: PriceTable) -> bool:
    """The refreshed table's prices are older than the bundled snapshot's (an upgrade since the
    refresh, or a feed installed from an old file): the snapshot's then win where both list a model."""
    return bool(refreshed.as_of and bundled.as_of and refreshed.as_of < bundled.as_of)


def today() -> date:
    """The day prices are aged against (UTC, as the as-of dates are)."""
    return datetime.now(UTC).date()


def stale_days(as_of: str | None) -> int | None:
    """How many days old prices dated `as_of` are, when that is more than STALE_AFTER_DAYS."""
    try:
        age = (today() - date.fromisoformat(str(as_of))).days
    except ValueError:  # undated or a hand-edited date: nothing to say
        return None
    return age if age > STALE_AFTER_DAYS else None


def stale_note(as_of: str | None) -> str | None:
    """One line telling the user to refresh prices that are too old, or None."""
    days = stale_days(as_of)
    if days is None:
        return None
    return f"prices as of {as_of} are {days} days old: run `chatroute prices update` to refresh them"


def date_span(dates: Iterable[str | None]) -> tuple[str, str] | None:
    """The oldest and newest of `dates`, the undated left out; None when none is dated."""
    known = sorted({d for d in dates if d})
    return (known[0], known[-1]) if known else None


def span_text(span: tuple[str, str]) -> str:
    """`DATE`, or `OLDEST to NEWEST` when the prices in use are of more than one date."""
    oldest, newest = span
    return oldest if oldest == newest else f"{oldest} to {newest}"


def as_of_label(as_of: str, newest: str | None = None) -> str:
    """`prices as of DATE` (`OLDEST to NEWEST` given a newer date), with how old the oldest is
    and what to run when that is too old."""
    days = stale_days(as_of)
    several = newest is not None and newest != as_of
    dates = span_text((as_of, newest or as_of))
    age = f" ({'the oldest ' if several else ''}{days} days old: run `chatroute prices update`)" if days else ""
    return f"prices as of {dates}{age}"


def load_current(prices_file: Path | None) -> PriceTable:
    """The table a refresh is compared against: refreshed if present and valid, else bundled."""
    if prices_file is not None:
        table = load_refreshed(prices_file)
        if table is not None:
            return table
    return load_bundled()


# ---------------------------------------------------------------- refresh


# `--from -`: the feed piped in, as every command's '-' reads standard input.
STDIN_SOURCE = "-"
STDIN_NAME = "standard input"


def _fetch(source: str, on_wait: Callable[[str], None] | None = None) -> bytes:
    if source.startswith(("http://", "https://")):
        return _fetch_url(source, on_wait)
    if source == STDIN_SOURCE:
        return _fetch_stdin()
    scheme = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*)://", source)
    if scheme and scheme.group(1).lower() != "file":
        raise PriceFeedError(f"unsupported URL scheme {scheme.group(1)!r} in {source}: use http(s), file:// or a path")
    path = Path(source[len("file://") :] if source.startswith("file://") else source).expanduser()
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            # A FIFO would block forever waiting for a writer, /dev/zero never ends.
            raise PriceFeedError(f"price feed {path} is not a regular file ({_file_kind(mode)})")
        with path.open("rb") as fh:
            if path.name.endswith(".gz"):
                data = _gunzip_bounded(fh, path)
            else:
                data = fh.read(MAX_FEED_BYTES + 1)
    except OSError as e:
        raise PriceFeedError(f"could not read price feed {path}: {e.strerror or e}") from None
    if len(data) > MAX_FEED_BYTES:
        raise PriceFeedError(f"price feed {path} is larger than 64 MB")
    return data


def _fetch_stdin() -> bytes:
    import io
    import sys

    # Python sets sys.stdin to None when descriptor 0 is closed (`<&-`).
    if sys.stdin is None:
        raise PriceFeedError(f"could not read price feed from {STDIN_NAME}: it is closed")
    try:
        data = sys.stdin.buffer.read(MAX_FEED_BYTES + 1)
    except OSError as e:
        raise PriceFeedError(f"could not read price feed from {STDIN_NAME}: {e.strerror or e}") from None
    if len(data) > MAX_FEED_BYTES:
        raise PriceFeedError(f"price feed on {STDIN_NAME} is larger than 64 MB")
    if data[:2] == _GZIP_MAGIC:  # `zcat` left out: a .json.gz piped in as it is
        return _gunzip_bounded(io.BytesIO(data), f"on {STDIN_NAME}")
    return data


def _fetch_url(source: str, on_wait: Callable[[str], None] | None) -> bytes:
    import httpx  # lazy: only `prices update` needs it

    try:
        host = _host(httpx.URL(source))
    except httpx.InvalidURL as e:
        raise PriceFeedError(f"not a usable URL: {source} ({e})") from None
    watch = _SilenceWatch(host, on_wait)

    def to_host(request: httpx.Request) -> None:  # a redirect: the wait is for the new host
        watch.host = _host(request.url)

    try:
        # httpx's read timeout bounds each read of the socket: a timeout on silence.
        with httpx.Client(timeout=FEED_IDLE_TIMEOUT_S, follow_redirects=True,
                          event_hooks={"request": [to_host]}) as client, \
                client.stream("GET", source) as resp:
            watch.progress()
            if resp.status_code != 200:
                raise PriceFeedError(f"could not fetch {source}: HTTP {resp.status_code}", exit_code=1)
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                watch.progress()
                size += len(chunk)
                if size > MAX_FEED_BYTES:
                    raise PriceFeedError(f"price feed at {source} is larger than 64 MB")
                chunks.append(chunk)
    except httpx.InvalidURL as e:
        raise PriceFeedError(f"not a usable URL: {source} ({e})") from None
    except httpx.ConnectTimeout:
        raise PriceFeedError(f"could not fetch {source}: {watch.host} did not accept the connection within "
                             f"{FEED_IDLE_TIMEOUT_S:g} s", exit_code=1) from None
    except httpx.TimeoutException:
        raise PriceFeedError(f"could not fetch {source}: {watch.host} sent nothing for "
                             f"{FEED_IDLE_TIMEOUT_S:g} s", exit_code=1) from None
    except httpx.HTTPError as e:
        raise PriceFeedError(f"could not fetch {source}: {e}", exit_code=1) from None
    finally:
        watch.stop()  # before any line of the caller's, so the notice never comes after it
    body = b"".join(chunks)
    if body[:2] == _GZIP_MAGIC:  # a .json.gz served as is (no Content-Encoding)
        import io

        return _gunzip_bounded(io.BytesIO(body), source)
    return body


def _host(url: Any) -> str:
    """host[:port] of an httpx.URL, without any user:password."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port}" if url.port else str(host)


class _SilenceWatch:
    """Tells `on_wait` once, from a thread of its own, when nothing has come from the feed for
    FEED_NOTICE_AFTER_S: the fetch itself blocks in a read, where Ctrl+C still reaches it."""

    def __init__(self, host: str, on_wait: Callable[[str], None] | None) -> None:
        self.host = host
        self._on_wait = on_wait
        self._last = time.monotonic()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        if on_wait is not None:
            self._thread = threading.Thread(target=self._run, name="price-feed-watch", daemon=True)
            self._thread.start()

    def progress(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        assert self._on_wait is not None
        while not self._stopped.wait(max(0.0, self._last + FEED_NOTICE_AFTER_S - time.monotonic())):
            if time.monotonic() - self._last >= FEED_NOTICE_AFTER_S:
                self._on_wait(f"waiting for {self.host} to send the prices "
                              f"(gives up after {FEED_IDLE_TIMEOUT_S:g} s of silence)")
                return


_GZIP_MAGIC = b"\x1f\x8b"


def _gunzip_bounded(fh: BinaryIO, path: Path | str) -> bytes:
    """At most MAX_FEED_BYTES + 1 decompressed bytes: a gzip bomb stops there, in memory too."""
    try:
        with gzip.GzipFile(fileobj=fh) as gz:
            data = gz.read(MAX_FEED_BYTES + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise PriceFeedError(f"price feed {path} is not valid gzip: {e}") from None
    if len(data) > MAX_FEED_BYTES:
        raise PriceFeedError(f"price feed {path} decompresses to more than 64 MB")
    return data


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def _price_pair(e: dict[str, Any]) -> tuple[object, object]:
    return e.get("input_cost_per_token"), e.get("output_cost_per_token")


def update_prices(source: str, paths: Any, *, current: PriceTable | None = None,
                  on_wait: Callable[[str], None] | None = None) -> UpdateResult:
    """Fetch `source` (URL, file, or '-': standard input), validate it and install it as the refreshed table.

    On any problem raise PriceFeedError and leave every file as it was. On success the
    previous refreshed file (if any) becomes prices.json.bak, the last good copy.
    `as_of` is the fetch date for URLs (the feed is live) and the file's mtime date for files.
    `on_wait` is told, once, when a feed server has sent nothing for a while.
    """
    prices_file: Path = paths.prices_file
    if current is None:
        current = load_current(prices_file)
    data = _fetch(source, on_wait)
    raw = parse_feed(data)
    trimmed = validate_feed(raw, current)

    now = datetime.now(UTC)
    shown = source
    if source.startswith(("http://", "https://")) or source == STDIN_SOURCE:
        # A URL's feed is live; a pipe's has no date of its own: both are dated the day read.
        as_of = now.date().isoformat()
        shown = STDIN_NAME if source == STDIN_SOURCE else source
    else:
        p = Path(source[len("file://") :] if source.startswith("file://") else source).expanduser()
        # A file's date is when it was written, never later than today (a clock or a copy can
        # set it ahead); its path is kept whole, since `prices show` runs from anywhere.
        as_of = min(datetime.fromtimestamp(p.stat().st_mtime, UTC), now).date().isoformat()
        shown = str(p.resolve())
    sha = hashlib.sha256(data).hexdigest()
    in_source = count_usable(raw)
    meta = {
        "source": shown,
        "fetched_at": now.isoformat(timespec="seconds"),
        "as_of": as_of,
        "sha256": sha,
        "models_in_source": in_source,
        "models": len(trimmed),
        "format": "litellm model_prices_and_context_window.json, trimmed by chatroute",
        LONG_CONTEXT_KEPT: True,
    }
    doc = json.dumps({"meta": meta, "models": trimmed}, sort_keys=True, allow_nan=False)

    backup: Path | None = None
    if prices_file.is_file() and _read_refreshed(prices_file) is not None:
        # Keep the current good copy; a broken current file is not worth keeping over the old .bak.
        backup = backup_path(prices_file)
        atomic_write(backup, prices_file.read_bytes())
    atomic_write(prices_file, doc.encode("utf-8"))

    old, new = current.models, trimmed
    return UpdateResult(
        path=prices_file,
        source=source,
        as_of=as_of,
        sha256=sha,
        models=len(trimmed),
        models_in_source=in_source,
        previous_models=len(old),
        backup=backup,
        added=len(new.keys() - old.keys()),
        removed=len(old.keys() - new.keys()),
        changed=sum(1 for k in new.keys() & old.keys() if _price_pair(new[k]) != _price_pair(old[k])),
    )
