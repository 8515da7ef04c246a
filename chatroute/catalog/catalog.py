"""The model catalogue: configured providers x price table, plus the user's own models.

How a configured provider finds its prices (LiteLLM `litellm_provider`):
- kind "anthropic"                      -> "anthropic" (a custom base_url is taken as a proxy)
- kind "openai", no base_url            -> "openai"
- kind "openai", known hosted API       -> by host: openrouter.ai -> "openrouter" (falling back
                                           to the upstream vendor's price: OpenRouter passes
                                           provider prices through), api.groq.com -> "groq", ...
- kind "openai", loopback base_url      -> local server: $0 (price_source "local")
- kind "openai", any other base_url     -> no feed: price unknown unless configured
Per model: `[models."p/m"]` override > refreshed feed > bundled snapshot; at turn time a cost
the provider reports (OpenRouter usage.cost) beats all of them (cost.turn_cost).

Models named in router.pool, router.default or [models] are in the catalogue even when the
feed does not know them (price unknown unless configured, $0 on local servers).
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from chatroute import jsonsafe
from chatroute.catalog.abilities import ability_prior
from chatroute.catalog.models import CAPABILITIES, ModelInfo, PriceTier
from chatroute.catalog.prices import (
    TIER_FIELD,
    PriceTable,
    cost_fields,
    date_span,
    load_bundled,
    load_refreshed_noting,
    long_context_missing,
    refreshed_is_older,
    sane_cost_per_token,
)
from chatroute.errors import ConfigError

# Hosted OpenAI-compatible APIs whose prices the feed carries (host suffix -> litellm_provider).
HOSTS: dict[str, str] = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "openrouter.ai": "openrouter",
    "api.groq.com": "groq",
    "api.together.xyz": "together_ai",
    "api.together.ai": "together_ai",
    "api.mistral.ai": "mistral",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "xai",
    "generativelanguage.googleapis.com": "gemini",
    "api.fireworks.ai": "fireworks_ai",
    "api.deepinfra.com": "deepinfra",
    "api.perplexity.ai": "perplexity",
    "api.cerebras.ai": "cerebras",
    "api.moonshot.ai": "moonshot",
    "api.moonshot.cn": "moonshot",
}

# OpenRouter vendor prefix -> litellm_provider, for the upstream-price fallback.
OPENROUTER_VENDORS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "gemini",
    "mistralai": "mistral",
    "deepseek": "deepseek",
    "x-ai": "xai",
    "moonshotai": "moonshot",
}

_MTOK = 1_000_000
# Models a catalogue keeps that were resolved on request, not configured (see Catalog._remember).
MAX_REQUESTED = 256


def is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()
    if host in ("localhost", "0.0.0.0") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def feed_provider(kind: str, base_url: str | None) -> tuple[str | None, bool]:
    """(litellm_provider or None, is_local) for a provider config."""
    if kind == "anthropic":
        return "anthropic", False
    if not base_url:
        return "openai", False
    if is_loopback(base_url):
        return None, True
    host = (urlsplit(base_url if "://" in base_url else f"https://{base_url}").hostname or "").lower()
    for suffix, lp in HOSTS.items():
        if host == suffix or host.endswith("." + suffix):
            return lp, False
    return None, False


def _per_mtok(v: object) -> float | None:
    # A table installed before absurd prices were refused must still price nothing at Infinity.
    per_token = sane_cost_per_token(v)
    return round(per_token * _MTOK, 9) if per_token is not None else None


def _sane_prices(entry: dict[str, Any]) -> bool:
    return all(sane_cost_per_token(entry[k]) is not None for k in cost_fields(entry) if entry.get(k) is not None)


_TIER_RATES = {
    "input_cost_per_token": "input_cost_per_mtok",
    "output_cost_per_token": "output_cost_per_mtok",
    "cache_read_input_token_cost": "cached_input_cost_per_mtok",
    "cache_creation_input_token_cost": "cache_write_cost_per_mtok",
}


def _price_tiers(entry: dict[str, Any]) -> tuple[PriceTier, ...]:
    """An entry's long-context prices (`input_cost_per_token_above_200k_tokens`, ...), one tier
    per threshold, ascending."""
    rates: dict[int, dict[str, float]] = {}
    for key, value in entry.items():
        m = TIER_FIELD.fullmatch(key)
        rate = _per_mtok(value) if m else None
        if m and rate is not None:
            rates.setdefault(int(m.group(2)) * 1000, {})[_TIER_RATES[m.group(1)]] = rate
    return tuple(PriceTier(above, **rates[above]) for above in sorted(rates))


# No model has a context or an output limit near this; a feed entry beyond it is a mistake.
MAX_TOKEN_LIMIT = 100_000_000


def _int(v: object) -> int | None:
    n = jsonsafe.number(v)
    return int(n) if n is not None and 1 <= n <= MAX_TOKEN_LIMIT else None


class _Feed:
    """Bundled + refreshed tables indexed by litellm_provider, then provider-side model name."""

    def __init__(self, bundled: PriceTable, refreshed: PriceTable | None) -> None:
        self.tables = [t for t in (bundled, refreshed) if t is not None]
        if refreshed is not None and refreshed_is_older(refreshed, bundled):
            # Refreshed before an upgrade brought a newer snapshot (or from an old file): the
            # newer prices win, and the refresh only fills in the models the snapshot lacks.
            self.tables.reverse()
        self._index: dict[str, dict[str, tuple[dict[str, Any], PriceTable]]] | None = None

    @property
    def index(self) -> dict[str, dict[str, tuple[dict[str, Any], PriceTable]]]:
        if self._index is None:
            idx: dict[str, dict[str, tuple[dict[str, Any], PriceTable]]] = {}
            bundled = next((t.models for t in self.tables if t.kind == "bundled"), {})
            for table in self.tables:  # the newer table last, so it overlays the older per model
                for key, entry in table.models.items():
                    if not _sane_prices(entry):
                        continue  # an absurd price (a table from before they were refused): keep the older one
                    if long_context_missing(table):
                        entry = _with_long_context(entry, bundled.get(key))
                    lp = str(entry.get("litellm_provider", ""))
                    name = key[len(lp) + 1 :] if key.startswith(lp + "/") else key
                    idx.setdefault(lp, {})[name] = (entry, table)
            self._index = idx
        return self._index

    def models(self, lp: str) -> dict[str, tuple[dict[str, Any], PriceTable]]:
        return self.index.get(lp, {})

    def lookup(self, lp: str, name: str) -> tuple[dict[str, Any], PriceTable] | None:
        models = self.models(lp)
        hit = models.get(name)
        if hit is None and lp == "anthropic":
            hit = models.get(name.replace(".", "-"))  # OpenRouter spells claude-3.5-sonnet
        if hit is None and lp == "openrouter" and "/" in name:
            vendor, _, rest = name.partition("/")
            upstream = OPENROUTER_VENDORS.get(vendor)
            if upstream:
                hit = self.lookup(upstream, rest.split(":")[0])  # drop ":free"-style variants
        return hit


def _with_long_context(entry: dict[str, Any], bundled: dict[str, Any] | None) -> dict[str, Any]:
    """A refreshed entry an earlier chatroute trimmed of its long-context prices, with the
    snapshot's, when both price the model alike (the tiers are then the same price list's)."""
    if bundled is None or any(TIER_FIELD.fullmatch(k) for k in entry):
        return entry
    if any(entry.get(k) != bundled.get(k) for k in ("input_cost_per_token", "output_cost_per_token")):
        return entry
    return {**entry, **{k: v for k, v in bundled.items() if TIER_FIELD.fullmatch(k)}}


def _from_entry(
    provider: str, name: str, entry: dict[str, Any], table: PriceTable
) -> ModelInfo:
    caps = frozenset(c for c in CAPABILITIES if entry.get(f"supports_{c}") is True)
    return ModelInfo(
        id=f"{provider}/{name}",
        provider=provider,
        name=name,
        input_cost_per_mtok=_per_mtok(entry.get("input_cost_per_token")),
        output_cost_per_mtok=_per_mtok(entry.get("output_cost_per_token")),
        cached_input_cost_per_mtok=_per_mtok(entry.get("cache_read_input_token_cost")),
        cache_write_cost_per_mtok=_per_mtok(entry.get("cache_creation_input_token_cost")),
        context_window=_int(entry.get("max_input_tokens")) or _int(entry.get("max_tokens")),
        max_output_tokens=_int(entry.get("max_output_tokens")),
        **_prior_fields(name),
        capabilities=caps,
        price_source=table.kind,
        price_as_of=table.as_of,
        price_tiers=_price_tiers(entry),
    )


def _bare(provider: str, name: str, *, local: bool) -> ModelInfo:
    price = 0.0 if local else None
    return ModelInfo(
        id=f"{provider}/{name}",
        provider=provider,
        name=name,
        input_cost_per_mtok=price,
        output_cost_per_mtok=price,
        cached_input_cost_per_mtok=price,
        cache_write_cost_per_mtok=price,
        **_prior_fields(name, listed=False),
        price_source="local" if local else "unknown",
    )


def _prior_fields(name: str, server_params_b: float | None = None, *, listed: bool = True) -> dict[str, Any]:
    prior = ability_prior(name, server_params_b=server_params_b, listed=listed)
    return {"ability": prior.value, "ability_source": prior.source, "ability_detail": prior.detail}


def _scaled(rate: float | None, old_input: float | None, new_input: float) -> float | None:
    """Keep a cache rate's ratio to the input price when only the input price is overridden."""
    if rate is None or not old_input:
        return None
    return round(rate * new_input / old_input, 9)


def apply_override(info: ModelInfo, ov: Any) -> ModelInfo:
    """Apply a config ModelOverride field by field (override > feed)."""
    changes: dict[str, Any] = {}
    inp = getattr(ov, "input_cost_per_mtok", None)
    out = getattr(ov, "output_cost_per_mtok", None)
    cached = getattr(ov, "cached_input_cost_per_mtok", None)
    write = getattr(ov, "cache_write_cost_per_mtok", None)
    if any(v is not None for v in (inp, out, cached, write)):
        changes["price_source"] = "override"
        changes["price_as_of"] = None
        changes["price_tiers"] = ()  # the user's price is the price, whatever the prompt's size
        if inp is not None:
            changes["input_cost_per_mtok"] = float(inp)
            if cached is None:
                changes["cached_input_cost_per_mtok"] = _scaled(
                    info.cached_input_cost_per_mtok, info.input_cost_per_mtok, float(inp)
                )
            if write is None:
                changes["cache_write_cost_per_mtok"] = _scaled(
                    info.cache_write_cost_per_mtok, info.input_cost_per_mtok, float(inp)
                )
        if out is not None:
            changes["output_cost_per_mtok"] = float(out)
        if cached is not None:
            changes["cached_input_cost_per_mtok"] = float(cached)
        if write is not None:
            changes["cache_write_cost_per_mtok"] = float(write)
    for src, dst in (("context_window", "context_window"), ("max_output_tokens", "max_output_tokens")):
        v = getattr(ov, src, None)
        if v is not None:
            changes[dst] = int(v)
    ability = getattr(ov, "ability", None)
    if ability is not None:
        changes.update(ability=float(ability), ability_source="config", ability_detail=None)
    caps = getattr(ov, "capabilities", None)
    if caps is not None:
        changes["capabilities"] = frozenset(caps)
    return replace(info, **changes) if changes else info


class _Warns(Protocol):
    @property
    def warnings(self) -> list[str]: ...

    def pool(self) -> list[ModelInfo]: ...


def startup_warnings(catalog: _Warns, before: Iterable[object] = ()) -> list[str]:
    """`before` (the config's warnings), then the catalogue's not among them: a `[models]` entry
    it could not apply, and the pool entries or default that name no priced model, which
    resolving the pool finds. What a client says once as it starts."""
    said = [str(w) for w in before]
    try:
        catalog.pool()
    except Exception:  # noqa: BLE001 - a warning must never stop a client from starting
        pass
    for warning in catalog.warnings:
        if str(warning) not in said:
            said.append(str(warning))
    return said


class Catalog:
    """Every model chatroute can use with this config, priced and rated."""

    def __init__(
        self,
        providers: Mapping[str, tuple[str | None, bool]],
        feed: _Feed,
        overrides: Mapping[str, Any],
        pool_names: Iterable[str] = (),
    ) -> None:
        self._providers = dict(providers)  # config provider name -> (litellm_provider, local)
        self._feed = feed
        self._overrides = dict(overrides)
        self._models: dict[str, ModelInfo] = {}
        self._pool_names = list(pool_names)
        self.warnings: list[str] = []
        # What build() found: the price table's and the config's models. get() adds any name a
        # local or unpriced provider is asked for, typos too, and those must not be offered.
        self._configured: frozenset[str] = frozenset()
        self._requested: dict[str, None] = {}  # those get() added since, oldest first
        # Wire format per provider: Anthropic reports input tokens without cache reads.
        self.provider_kinds: dict[str, str] = {}

    # ------------------------------------------------------------ construction

    @classmethod
    def build(cls, config: Any, paths: Any = None, *, probe_local: bool = False) -> Catalog:
        """`probe_local`: ask local servers for the sizes of the models the table does not know
        (see local_meta); otherwise only what an earlier probe cached is used."""
        providers: dict[str, tuple[str | None, bool]] = {}
        base_urls: dict[str, str] = {}
        for pname, pcfg in (getattr(config, "providers", None) or {}).items():
            base = pcfg.resolved_base_url() if hasattr(pcfg, "resolved_base_url") else pcfg.base_url
            providers[pname] = feed_provider(pcfg.kind, base)
            if base:
                base_urls[pname] = str(base)
        prices_file = getattr(paths, "prices_file", None) if paths is not None else None
        refreshed, price_note = load_refreshed_noting(prices_file) if prices_file is not None else (None, None)
        feed = _Feed(load_bundled(), refreshed)
        router = getattr(config, "router", None)
        overrides = dict(getattr(config, "models", None) or {})
        pool = list(getattr(router, "pool", None) or [])
        cat = cls(providers, feed, overrides, pool)
        if price_note is not None:
            if refreshed is not None:
                price_note += f"; using the previous refresh ({refreshed.as_of or 'undated'}) from its backup"
            cat.warnings.append(price_note)
        cat.provider_kinds = {p: c.kind for p, c in (getattr(config, "providers", None) or {}).items()}

        for pname, (lp, _local) in providers.items():
            if lp:
                for name, (entry, table) in feed.models(lp).items():
                    info = _from_entry(pname, name, entry, table)
                    cat._models[info.id] = info
        named = [*pool, *overrides]
        default = getattr(router, "default", None)
        if default:
            named.append(default)
        unpriced: dict[str, str] = {}  # ref -> its provider, once per name (the default is often the pool's first)
        for ref in named:
            split = cat._split(ref)
            if split is None:
                continue  # bare names: resolved on use
            pname, name = split
            lp = providers[pname][0]
            if lp is not None and ref not in overrides and feed.lookup(lp, name) is None:
                unpriced.setdefault(ref, pname)
            if f"{pname}/{name}" not in cat._models:
                cat._models[f"{pname}/{name}"] = cat._synth(pname, name)
        for ref, pname in unpriced.items():
            # Kept (a model newer than the price table is real), but said: as often it is a
            # typo, which would be routed to, unpriced, until its first request failed. Said
            # once the whole pool is in, so that a later entry priced under the provider can
            # be suggested.
            where = "router.default" if ref == default and ref not in pool else "router.pool"
            said = (f"{where}: {ref!r} is not in the price table for {pname!r}"
                    f"{cat._suggest(ref, pname, priced=True)}; it is used "
                    f'unpriced: check the name, or give its price under [models."{ref}"]')
            if said not in cat.warnings:
                cat.warnings.append(said)
        data_dir = getattr(paths, "data_dir", None) if paths is not None else None
        cat._apply_server_sizes(base_urls, Path(data_dir) if data_dir else None, probe=probe_local)
        for ref, ov in overrides.items():
            try:
                mid = cat.resolve(ref)
            except ConfigError as e:
                cat.warnings.append(f"[models.{ref!r}]: {e}")
                continue
            cat._models[mid] = apply_override(cat._models[mid], ov)
        cat._configured = frozenset(cat._models)
        return cat

    def _apply_server_sizes(self, base_urls: Mapping[str, str], data_dir: Path | None, *, probe: bool) -> None:
        """A local model the table does not know takes its prior from the size its server
        reports, which beats a size read from the name (an override still beats both)."""
        from chatroute.catalog.local_meta import CACHE_FILE, local_sizes

        todo = [m for m in self._models.values()
                if m.ability_source in ("unknown", "name") and self._providers.get(m.provider, (None, False))[1]
                and m.provider in base_urls]
        if not todo:
            return
        wanted: dict[str, list[str]] = {}
        for m in todo:
            wanted.setdefault(base_urls[m.provider], []).append(m.name)
        sizes = local_sizes(wanted, data_dir / CACHE_FILE if data_dir else None, probe=probe)
        for m in todo:
            size = sizes.get((base_urls[m.provider], m.name))
            if size is not None:
                self._models[m.id] = replace(m, **_prior_fields(m.name, size, listed=False))

    def _split(self, ref: str) -> tuple[str, str] | None:
        """('provider', 'model') when `ref` starts with a configured provider name."""
        pname, sep, name = ref.partition("/")
        if sep and name and pname in self._providers:
            return pname, name
        return None

    def _synth(self, pname: str, name: str) -> ModelInfo:
        lp, local = self._providers[pname]
        # A loopback server serving a model the feed prices under OpenAI's name is a proxy in
        # front of OpenAI (a LiteLLM proxy, or a test double): bill it as OpenAI, not as $0.
        for feed in (lp,) if lp else (("openai",) if local else ()):
            hit = self._feed.lookup(feed, name)
            if hit is not None:
                return _from_entry(pname, name, *hit)
        return _bare(pname, name, local=local)

    # ------------------------------------------------------------ lookups

    def get(self, name: str) -> ModelInfo:
        """A model by `provider/model` or by a bare model name unique among configured providers.

        On a local or unpriced provider any model name is accepted (the catalogue cannot list
        what a local server serves). On a priced provider an unknown name is a ConfigError
        with close matches, so typos fail here rather than at the API.
        """
        info = self._models.get(name)
        if info is not None:
            return info
        split = self._split(name)
        if split is not None:
            pname, mname = split
            lp, _local = self._providers[pname]
            if lp is None or self._feed.lookup(lp, mname) is not None:
                info = self._synth(pname, mname)
                ov = self._overrides.get(info.id)
                if ov is not None:
                    info = apply_override(info, ov)
                self._remember(info)
                return info
            raise ConfigError(
                f"unknown model {name!r} for provider {pname!r}"
                + self._suggest(name, pname)
                + f'; to use it anyway, add [models."{name}"] to the config'
            )
        matches = [m for m in self._models.values() if m.name == name]
        if not matches:
            matches = [m for m in self._models.values() if m.name.lower() == name.lower()]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(sorted(m.id for m in matches))
            raise ConfigError(f"model {name!r} is ambiguous: use one of {ids}")
        if "/" in name and name.partition("/")[0] not in self._providers:
            configured = ", ".join(sorted(self._providers)) or "none"
            raise ConfigError(
                f"unknown model {name!r}: provider {name.partition('/')[0]!r} is not configured "
                f"(configured: {configured})" + self._suggest(name)
            )
        raise ConfigError(f"unknown model {name!r}" + self._suggest(name))

    def _remember(self, info: ModelInfo) -> None:
        """Keep a model resolved on request, and at most MAX_REQUESTED of them beyond what build()
        found: a local server takes any name, and `chatroute serve` resolves whatever its
        clients ask for, made-up names too."""
        self._models[info.id] = info
        if info.id in self._configured:
            return
        self._requested.pop(info.id, None)
        self._requested[info.id] = None
        while len(self._requested) > MAX_REQUESTED:
            oldest = next(iter(self._requested))
            del self._requested[oldest]
            self._models.pop(oldest, None)

    def _suggest(self, name: str, provider: str | None = None, *, priced: bool = False) -> str:
        """`provider`: only its models. A name one provider does not know is no other provider's
        model: OpenRouter's `anthropic/claude-sonet-4.5` is not Anthropic's own claude-sonnet-4-5,
        sent elsewhere with another key. `priced`: only models with a known price."""
        models = [m for m in self._models.values()
                  if (provider is None or m.provider == provider) and (not priced or m.price_known)]
        ids = [m.id for m in models]
        close = difflib.get_close_matches(name, ids, n=5, cutoff=0.6)
        by_name = {m.name: m.id for m in models}
        for n in difflib.get_close_matches(name, list(by_name), n=5, cutoff=0.6):
            if by_name[n] not in close:
                close.append(by_name[n])
        # A part of a name ("claude", "sonnet") is how people remember models: those count too.
        needle = name.lower().rsplit("/", 1)[-1]
        close += sorted(i for i in ids if needle and needle in i.lower() and i not in close)
        # The pool's own models first: those are the ones the user set up to use.
        pool = set(self._pool_ids())
        close.sort(key=lambda i: i not in pool)  # stable: closeness order within each group
        return f"; did you mean {', '.join(close[:5])}?" if close else ""

    def _pool_ids(self) -> list[str]:
        """The pool's model ids as far as they are known, without resolving (no suggestions)."""
        out = []
        for ref in self._pool_names:
            if ref in self._models:
                out.append(ref)
            else:
                out += [m.id for m in self._models.values() if m.name == ref]
        return out

    def resolve(self, name: str) -> str:
        return self.get(name).id

    def all(self) -> list[ModelInfo]:
        return sorted(self._models.values(), key=lambda m: m.id)

    def configured(self) -> list[ModelInfo]:
        """The models the price table and the config name, without those only resolved on
        request since (a name someone asked a local server for is no model of the config's)."""
        return [m for m in self.all() if m.id in self._configured]

    def local_providers(self) -> list[str]:
        """Configured providers on a local (loopback) server."""
        return [p for p, (_lp, local) in self._providers.items() if local]

    def pool(self) -> list[ModelInfo]:
        """The router's candidates, in config order; unresolvable entries are skipped (see warnings)."""
        out: list[ModelInfo] = []
        seen: set[str] = set()
        for ref in self._pool_names:
            try:
                info = self.get(ref)
            except ConfigError as e:
                msg = f"router.pool: {e}"
                if msg not in self.warnings:
                    self.warnings.append(msg)
                continue
            if info.id not in seen:
                seen.add(info.id)
                out.append(info)
        return out

    def baseline(self, name: str) -> ModelInfo | None:
        """Price a model for "what it would have cost" comparisons, even when its provider is
        not configured: `openai/gpt-4o` is looked up in the feed as litellm provider `openai`.
        None when nothing is known about it."""
        try:
            return self.get(name)
        except ConfigError:
            pass
        lp, sep, mname = name.partition("/")
        if sep:
            hit = self._feed.lookup(lp, mname)
            if hit is not None:
                return _from_entry(lp, mname, *hit)
        return None

    @property
    def price_tables(self) -> list[PriceTable]:
        """The tables in use, the one whose prices win last (for showing how old the prices are)."""
        return list(self._feed.tables)

    @property
    def prices_as_of(self) -> str | None:
        """The date of the newest table in use: the one whose prices win."""
        return max((t.as_of for t in self._feed.tables if t.as_of), default=None)

    @property
    def oldest_pool_price(self) -> str | None:
        """The oldest as-of date among the pool's prices: each model is priced from the newest
        table that lists it, so a refresh lacking a model leaves it on an older date, and that
        older date says how stale the figures resting on the pool are."""
        span = date_span(m.price_as_of for m in self.pool())
        return span[0] if span else None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.get(name)
        except ConfigError:
            return False
        return True

    def __len__(self) -> int:
        return len(self._models)
