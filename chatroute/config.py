"""The TOML configuration: schema, loading, environment fallbacks and one-line errors.

Every table rejects unknown fields, so a typo is reported (with file and line) instead of being
silently ignored. Errors are raised as `ConfigError` whose message is a single line:

    /home/u/.config/chatroute/config.toml:14: router.preset: Input should be 'frugal', 'balanced' or 'best'

With no config file (or one that sets nothing, like the example written on first run), providers
come from the SDKs' own environment variables and the pool from `DEFAULT_POOLS`.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chatroute.catalog.models import CAPABILITIES
from chatroute.config_example import EXAMPLE_CONFIG
from chatroute.config_keys import key_lines, line_of
from chatroute.errors import ConfigError
from chatroute.fsutil import broken_link, create_new
from chatroute.paths import Paths, resolve_paths

ProviderKind = Literal["openai", "anthropic"]
Preset = Literal["frugal", "balanced", "best"]

#: Pool used for a provider that is configured (or found in the environment) when the config
#: names no pool. Cheap model first: it also becomes `router.default` when none is given.
DEFAULT_POOLS: dict[str, list[str]] = {
    "openai": ["openai/gpt-4o-mini", "openai/gpt-4o"],
    "anthropic": ["anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5"],
}

#: Key returned for a keyless local server: the OpenAI SDK refuses to start without some key.
LOCAL_PLACEHOLDER_KEY = "not-needed"

_DEFAULT_KEY_ENV: dict[str, str] = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
_DEFAULT_URL_ENV: dict[str, str] = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
_OFFICIAL_HOSTS: dict[str, str] = {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}

# Finite, non-negative numbers: TOML allows inf and nan, which would poison cost arithmetic.
Cost = Annotated[float, Field(ge=0, allow_inf_nan=False)]
# USD per million tokens; the same bound as a price feed's (chatroute.catalog.prices).
PerMtok = Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]

# strict: a config is written by hand, so "600" for a number is a mistake worth reporting.
_STRICT = ConfigDict(extra="forbid", strict=True)


def _url_host(url: str | None) -> str | None:
    """The host `url` names, or None (no URL, or one that does not parse)."""
    try:
        return urlsplit(url).hostname if url else None
    except ValueError:
        return None


def is_loopback_url(url: str | None) -> bool:
    """True when `url` points at this machine (127.0.0.0/8, ::1, localhost)."""
    host = _url_host(url)
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The addresses a model server on the user's own network has: a LAN's (RFC 1918), the shared
# space of carrier NAT and of overlay networks such as Tailscale (RFC 6598), link-local, and
# IPv6 unique local. No hosted API answers on them.
_OWN_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7", "fe80::/10"))
# Names only a local resolver answers: mDNS, the home-network suffixes, ICANN's private-use one.
_OWN_SUFFIXES = (".local", ".lan", ".home.arpa", ".internal")


def is_own_network_url(url: str | None) -> bool:
    """True when `url` points at this machine or another on the user's own network (Ollama or
    llama.cpp on the desktop next door): a loopback, private or link-local address, or a name
    only a local resolver knows, a single label (`gpu-box`, a compose service's `ollama`) or one
    under `.local`, `.lan`, `.home.arpa` or `.internal`. No name is looked up."""
    if is_loopback_url(url):
        return True
    host = _url_host(url)
    if not host:
        return False
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        name = host.rstrip(".")
        return bool(name) and ("." not in name or name.endswith(_OWN_SUFFIXES))
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        mapped = addr.ipv4_mapped
        return mapped.is_loopback or any(mapped in net for net in _OWN_NETWORKS)
    return any(addr in net for net in _OWN_NETWORKS)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a provider's base URL, or None. The value is never echoed: a URL can
    carry credentials (https://user:pass@host)."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        return "must be an http(s) URL such as http://127.0.0.1:11434/v1"
    # urlsplit only parses the port when asked; left unchecked, a bad one fails at the first
    # request, as a provider error counted against the model's health.
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        return "has a port that is not a number from 1 to 65535"
    return None


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _looks_like_key(name: str) -> bool:
    """A key of the shape that is also a valid variable name (Groq's gsk_…, a hex token): long,
    with lower-case letters and digits, as variable names are not."""
    return len(name) >= 40 and any(c.islower() for c in name) and any(c.isdigit() for c in name)


def split_model_id(model: str) -> tuple[str | None, str]:
    """'openai/gpt-4o' -> ('openai', 'gpt-4o'); a bare 'gpt-4o' -> (None, 'gpt-4o')."""
    provider, sep, name = model.partition("/")
    return (provider, name) if sep else (None, model)


class ProviderConfig(BaseModel):
    """One `[providers.NAME]` table. `name` is the table's name."""

    model_config = _STRICT

    name: str
    # Inferred when omitted: "anthropic" for provider anthropic / an anthropic.com URL, else "openai".
    kind: ProviderKind
    base_url: str | None = None
    api_key_env: str | None = None
    # Inline keys are supported because users write them; kept secret in every repr and error.
    inline_api_key: SecretStr | None = Field(default=None, alias="api_key")
    timeout_s: Positive = 600.0  # the whole request, sending to the last byte
    first_token_timeout_s: Positive = 60.0
    stall_timeout_s: Positive = 30.0  # once text flows: nothing new for this long ends the stream
    max_retries: int = Field(default=0, ge=0)  # SDK retries off: the engine fails over instead

    @model_validator(mode="before")
    @classmethod
    def _infer_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kind" not in data:
            url = data.get("base_url")
            try:
                host = (urlsplit(url).hostname or "") if isinstance(url, str) else ""
            except ValueError:
                host = ""
            anthropic = data.get("name") == "anthropic" or host.endswith("anthropic.com")
            data = {**data, "kind": "anthropic" if anthropic else "openai"}
        return data

    @field_validator("api_key_env")
    @classmethod
    def _names_a_variable(cls, env: str | None) -> str | None:
        # The key itself pasted here is read as a variable name that is never set: the model
        # was skipped for "no API key" while the key sat in the file (and was shown in that error).
        if env is not None and (not _ENV_NAME.fullmatch(env) or _looks_like_key(env)):
            raise ValueError('must name an environment variable (such as GROQ_API_KEY) that holds the key, not '
                             'the key itself: export the key in a variable and name it here, or write api_key = "…"')
        return env

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, url: str | None) -> str | None:
        if url is not None:
            problem = url_problem(url)
            if problem:
                raise ValueError(problem)
        return url

    @model_validator(mode="after")
    def _check(self) -> ProviderConfig:
        if not self.name or "/" in self.name or self.name != self.name.strip():
            raise ValueError("provider name must be non-empty, without '/' or surrounding spaces")
        if self.inline_api_key is not None and self.api_key_env is not None:
            raise ValueError("set either api_key or api_key_env, not both")
        return self

    def resolved_base_url(self) -> str | None:
        """base_url, else OPENAI_BASE_URL / ANTHROPIC_BASE_URL by kind, else None (the SDK default)."""
        return self.base_url or os.environ.get(_DEFAULT_URL_ENV[self.kind]) or None

    def default_key_env(self) -> str | None:
        """The variable `api_key()` reads, or None when the key is inline or not needed."""
        if self.inline_api_key is not None:
            return None
        if self.api_key_env:
            return self.api_key_env
        if self.base_url is not None and is_loopback_url(self.base_url):
            return None  # an explicit local server: never send it the OpenAI/Anthropic key
        return _DEFAULT_KEY_ENV[self.kind]

    def foreign_host(self) -> str | None:
        """The host of a base_url that is neither local nor the kind's official API (a hosted
        service, a server on another machine), else None."""
        host = urlsplit(self.base_url).hostname if self.base_url else None
        if host is None or is_loopback_url(self.base_url or "") or host == _OFFICIAL_HOSTS[self.kind]:
            return None
        return host

    def key_advice(self) -> str:
        """How to give this provider the key it lacks, in words the user can act on. Another
        host with no api_key_env would be sent the OpenAI/Anthropic key: never advise that."""
        from chatroute.providers.errors import key_hint

        if self.api_key_env is None and self.inline_api_key is None and self.foreign_host():
            return (f'set api_key_env in the config to {self.name}\'s own key variable (api_key = "none" '
                    "for a server that takes no key)")
        return key_hint(self.default_key_env())

    def api_key(self) -> str | None:
        """The key to send; a placeholder for keyless local servers; None when it is missing."""
        if self.inline_api_key is not None:
            return self.inline_api_key.get_secret_value()
        env = self.default_key_env()
        key = os.environ.get(env) if env else None
        if key:
            return key
        if self.api_key_env is None and is_loopback_url(self.resolved_base_url()):
            return LOCAL_PLACEHOLDER_KEY
        return None

    def is_local(self) -> bool:
        return is_loopback_url(self.resolved_base_url())

    def on_own_network(self) -> bool:
        """The server is this machine or another on the user's network (see is_own_network_url)."""
        return is_own_network_url(self.resolved_base_url())


class ModelOverride(BaseModel):
    """`[models."provider/model"]`: a model the catalogue lacks, or overrides of one it has."""

    model_config = _STRICT

    input_cost_per_mtok: PerMtok | None = None
    output_cost_per_mtok: PerMtok | None = None
    cached_input_cost_per_mtok: PerMtok | None = None
    cache_write_cost_per_mtok: PerMtok | None = None
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    ability: Unit | None = None
    capabilities: list[str] | None = None

    @field_validator("max_output_tokens")
    @classmethod
    def _fits_the_window(cls, limit: int | None, info: ValidationInfo) -> int | None:
        # The window holds the prompt and the answer: a larger limit is sent as max_tokens,
        # which a server refuses, and the router reserves room for an answer that cannot fit.
        window = info.data.get("context_window")
        if limit is not None and window is not None and limit > window:
            raise ValueError(f"{limit} is more than context_window ({window}): the window holds the prompt "
                             f"and the answer")
        return limit

    @field_validator("capabilities")
    @classmethod
    def _known_capabilities(cls, names: list[str] | None) -> list[str] | None:
        # The router only ever asks for these: any other name would be kept and never matter.
        unknown = [n for n in names or [] if n not in CAPABILITIES]
        if unknown:
            raise ValueError(f"unknown capability {unknown[0]!r} (known: {', '.join(CAPABILITIES)})")
        return names


class RouterConfig(BaseModel):
    model_config = _STRICT

    pool: list[str] = Field(default_factory=list)
    preset: Preset = "balanced"
    cost_weight: NonNegative | None = None  # explicit lambda; overrides the preset
    latency_weight: NonNegative | None = None
    stickiness: NonNegative = 0.03
    default: str | None = None
    learn: bool = True
    # A routed turn stops failing over when no model has sent a first token this long after
    # the first request: without it, each hanging candidate costs its own first_token_timeout_s.
    failover_timeout_s: Positive = 90.0


class CacheConfig(BaseModel):
    model_config = _STRICT

    enabled: bool = True
    max_entries: int = Field(default=50_000, ge=0)
    ttl_hours: Positive = 24 * 30
    threshold: Unit = 0.65


class ChatConfig(BaseModel):
    model_config = _STRICT

    # Every turn pays for the history it resends: 32k tokens is ≈ 60 ordinary turns, ≈ $0.08 a
    # turn on a $2.50/Mtok model, and fits every current hosted model's window.
    max_history_tokens: int = Field(default=32_000, ge=0)


class BudgetConfig(BaseModel):
    model_config = _STRICT

    daily_usd: Cost | None = None
    monthly_usd: Cost | None = None


class UIConfig(BaseModel):
    model_config = _STRICT

    theme: str = "chatroute-dark"
    baseline_model: str = "openai/gpt-4o"


class ConfigFile(BaseModel):
    """Exactly what a config file may contain."""

    model_config = _STRICT

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    router: RouterConfig = Field(default_factory=RouterConfig)
    models: dict[str, ModelOverride] = Field(default_factory=dict)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    chat: ChatConfig = Field(default_factory=ChatConfig)
    ui: UIConfig = Field(default_factory=UIConfig)


class Config(ConfigFile):
    """The loaded configuration plus where it came from (these extra fields are not settable in TOML)."""

    source: Path | None = None  # the file that was read; None when running on defaults
    created_example: bool = False  # this run wrote the example config
    # No [providers] in the file: they come from OPENAI_API_KEY / ANTHROPIC_API_KEY (and are
    # replaced, not joined, by the first [providers] table the file gets).
    providers_from_env: bool = False
    warnings: list[str] = Field(default_factory=list)  # worth showing the user once

    def provider_for(self, model: str) -> ProviderConfig | None:
        provider, _ = split_model_id(model)
        return self.providers.get(provider) if provider else None

    def is_loopback(self, provider: str) -> bool:
        p = self.providers.get(provider)
        return p is not None and p.is_local()


# ---------------------------------------------------------------------------------------------
# Loading


def load_config(paths: Paths | None = None, *, write_example: bool = True) -> Config:
    """Read, validate and complete the config; raise ConfigError with one line on any problem."""
    paths = paths or resolve_paths()
    file = paths.config_file
    created = False
    data: dict[str, Any] = {}
    text = ""
    link_problem = broken_link(file)
    if link_problem is not None:
        raise ConfigError(f"{file}: {link_problem}; fix the link or remove it (chatroute will not replace it)")
    if file.exists():
        text = _read(file)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(_syntax_error(file, text, str(e))) from None
        except RecursionError:
            raise ConfigError(f"{file}: config is nested too deeply to read") from None
    elif write_example:
        created = _write_example(file)

    fc = _validate(file, text, data)
    uses_file = bool(data)
    providers = dict(fc.providers) if fc.providers else _providers_from_env()
    router = fc.router
    if not router.pool:
        pool = [m for name, p in providers.items() if p.kind == name for m in DEFAULT_POOLS.get(name, [])]
        router = router.model_copy(update={"pool": pool})
    if router.default is None and router.pool:
        router = router.model_copy(update={"default": router.pool[0]})

    _check_models(file, text, fc, providers)
    _check_service_urls(file, text, fc.providers)
    _check_env_urls(providers)
    router, ui = _apply_env(router, fc.ui)
    config = Config(
        providers=providers,
        router=router,
        models=fc.models,
        cache=fc.cache,
        budget=fc.budget,
        chat=fc.chat,
        ui=ui,
        source=file if uses_file else None,
        created_example=created,
        providers_from_env=not fc.providers,
    )
    config.warnings.extend(_warnings(config, file if uses_file else None))
    return config


def _read(file: Path) -> str:
    try:
        raw = file.read_bytes()
    except OSError as e:
        raise ConfigError(f"{file}: cannot read config: {e.strerror or e}") from None
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")  # a BOM, as Windows editors write
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(f"{file}:{line}: config is not valid UTF-8") from None


def _syntax_error(file: Path, text: str, msg: str) -> str:
    m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", msg)
    if m:
        return f"{file}:{m.group(1)}: TOML syntax error: {msg[: m.start()]} (column {m.group(2)})"
    m = re.search(r"\s*\(at end of document\)$", msg)
    if m:
        line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        return f"{file}:{line}: TOML syntax error: {msg[: m.start()]} (at end of file)"
    return f"{file}: TOML syntax error: {msg}"


def _providers_from_env() -> dict[str, ProviderConfig]:
    out: dict[str, ProviderConfig] = {}
    for kind in ("openai", "anthropic"):
        if os.environ.get(_DEFAULT_KEY_ENV[kind]) or os.environ.get(_DEFAULT_URL_ENV[kind]):
            out[kind] = ProviderConfig(name=kind, kind=kind)
    return out


def _check_env_urls(providers: dict[str, ProviderConfig]) -> None:
    """OPENAI_BASE_URL / ANTHROPIC_BASE_URL get the check a base_url in the file gets, for the
    providers that would read them: else a bad port surfaces as "the stream was malformed"."""
    for provider in providers.values():
        var = _DEFAULT_URL_ENV[provider.kind]
        url = os.environ.get(var)
        if provider.base_url is None and url:
            problem = url_problem(url)
            if problem:
                raise ConfigError(f"{var} {problem} (provider {provider.name!r})")


def _validate(file: Path, text: str, data: dict[str, Any]) -> ConfigFile:
    providers = data.get("providers")
    if isinstance(providers, dict):
        fixed: dict[str, Any] = {}
        for key, table in providers.items():
            if isinstance(table, dict):
                if "name" in table and table["name"] != key:
                    raise ConfigError(
                        _located(file, text, ("providers", key, "name"), "must match the table name (or be left out)")
                    )
                table = {**table, "name": key}
            fixed[key] = table
        data = {**data, "providers": fixed}
    try:
        return ConfigFile.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_validation_message(file, text, e)) from None


def _validation_message(file: Path, text: str, err: ValidationError) -> str:
    lines = key_lines(text)
    found: list[tuple[float, str]] = []
    for item in err.errors(include_input=False, include_url=False):
        loc = tuple(item["loc"])
        msg = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown field" + _suggest(loc)
        elif item["type"] == "missing":
            msg = "required field is missing"
        line = line_of(lines, loc)
        found.append((line if line is not None else math.inf, _format(file, line, loc, msg)))
    found.sort(key=lambda t: t[0])
    first = found[0][1]
    return first if len(found) == 1 else f"{first} (and {len(found) - 1} more)"


_SCHEMA: dict[str, type[BaseModel]] = {
    "providers": ProviderConfig,
    "models": ModelOverride,
    "router": RouterConfig,
    "cache": CacheConfig,
    "budget": BudgetConfig,
    "chat": ChatConfig,
    "ui": UIConfig,
}


def _suggest(loc: tuple[Any, ...]) -> str:
    """' (did you mean 'api_key_env'?)' for a near-miss field name."""
    import difflib  # only on the error path: keeps start-up lean
    if not loc or not isinstance(loc[-1], str):
        return ""
    if len(loc) == 1:
        fields = list(ConfigFile.model_fields)
    else:
        model = _SCHEMA.get(loc[0])
        if model is None:
            return ""
        fields = [f.alias or n for n, f in model.model_fields.items() if n != "name"]
    close = difflib.get_close_matches(loc[-1], fields, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _located(file: Path, text: str, loc: tuple[Any, ...], msg: str) -> str:
    return _format(file, line_of(key_lines(text), loc), loc, msg)


def _format(file: Path, line: int | None, loc: tuple[Any, ...], msg: str) -> str:
    where = f"{file}:{line}" if line is not None else str(file)
    return f"{where}: {_dotted(loc)}: {msg}" if loc else f"{where}: {msg}"


_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _BARE.match(part) else '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'
            out += ("." if out else "") + key
    return out


def _check_models(file: Path, text: str, fc: ConfigFile, providers: dict[str, ProviderConfig]) -> None:
    """Model references must name a configured provider (a bare name is left to the catalogue)."""
    refs: list[tuple[tuple[Any, ...], str]] = [(("router", "pool", i), m) for i, m in enumerate(fc.router.pool)]
    if fc.router.default is not None:
        refs.append((("router", "default"), fc.router.default))
    if "baseline_model" in fc.ui.model_fields_set:
        refs.append((("ui", "baseline_model"), fc.ui.baseline_model))
    refs.extend((("models", key), key) for key in fc.models)
    seen: set[str] = set()
    for loc, model in refs:
        provider, name = split_model_id(model)
        problem = None
        if not model.strip() or (provider is not None and not name):
            problem = f"{model!r} is not a model name (expected provider/model)"
        elif provider is not None and provider not in providers:
            known = ", ".join(providers) or "none"
            problem = f"unknown provider {provider!r} in {model!r} (configured providers: {known})"
        elif loc[:2] == ("router", "pool"):
            if model in seen:
                problem = f"{model!r} is listed twice"
            seen.add(model)
        if problem:
            raise ConfigError(_located(file, text, loc, problem))


# Services reached through an openai-kind provider, by the names people give them (lower case,
# without '-', '_', '.'), with the base URL each needs: without one, the provider is OpenAI's API.
SERVICE_URLS: dict[str, str] = {
    "openrouter": "https://openrouter.ai/api/v1",
    "groq": "https://api.groq.com/openai/v1",
    "together": "https://api.together.xyz/v1",
    "togetherai": "https://api.together.xyz/v1",
    "deepseek": "https://api.deepseek.com",
    "mistral": "https://api.mistral.ai/v1",
    "mistralai": "https://api.mistral.ai/v1",
    "xai": "https://api.x.ai/v1",
    "grok": "https://api.x.ai/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "fireworksai": "https://api.fireworks.ai/inference/v1",
    "deepinfra": "https://api.deepinfra.com/v1/openai",
    "perplexity": "https://api.perplexity.ai",
    "cerebras": "https://api.cerebras.ai/v1",
    "moonshot": "https://api.moonshot.ai/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/openai/",
    "ollama": "http://127.0.0.1:11434/v1",
    "lmstudio": "http://127.0.0.1:1234/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
    "vllm": "http://127.0.0.1:8000/v1",
}


def _check_service_urls(file: Path, text: str, providers: dict[str, ProviderConfig]) -> None:
    """A provider named after another service but given no base_url would send its requests,
    and the key it names, to OpenAI's API (and be priced as OpenAI's models)."""
    for name, p in providers.items():
        url = SERVICE_URLS.get(re.sub(r"[-_. ]", "", name.lower()))
        if url is not None and p.kind == "openai" and p.base_url is None:
            raise ConfigError(_located(file, text, ("providers", name),
                                       f'base_url is missing, so its requests (and its key) would go to OpenAI\'s API; '
                                       f'add base_url = "{url}"'))


THEME_ENV = "CHATROUTE_THEME"


def theme_from_env() -> bool:
    """Whether THEME_ENV, not ui.theme, names the theme: a message about the theme names the
    setting the user has to change."""
    return bool(os.environ.get(THEME_ENV))


def _apply_env(router: RouterConfig, ui: UIConfig) -> tuple[RouterConfig, UIConfig]:
    preset = os.environ.get("CHATROUTE_PRESET")
    if preset:
        try:
            TypeAdapter(Preset).validate_python(preset.strip())
        except ValidationError:
            raise ConfigError(f"CHATROUTE_PRESET={preset!r}: must be one of frugal, balanced, best") from None
        router = router.model_copy(update={"preset": preset.strip()})
    if theme_from_env():
        ui = ui.model_copy(update={"theme": os.environ[THEME_ENV].strip()})
    return router, ui


def _warnings(config: Config, file: Path | None) -> list[str]:
    out: list[str] = []
    if file is not None and any(p.inline_api_key is not None for p in config.providers.values()):
        try:
            mode = file.stat().st_mode
        except OSError:
            mode = 0
        if mode & 0o077:
            out.append(
                f"{file} holds an API key and is readable by other users "
                f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {file}"
            )
    for p in config.providers.values():
        key = p.api_key()
        if not key or key == LOCAL_PLACEHOLDER_KEY:
            continue
        url = p.resolved_base_url()
        if url and not is_loopback_url(url) and urlsplit(url).scheme != "https":
            out.append(
                f"providers.{p.name}: base_url {_host_of(url)} is neither https nor local; "
                f"the API key would be sent unencrypted"
            )
        env = p.default_key_env()
        host = p.foreign_host()
        if p.api_key_env is None and env and host:
            out.append(
                f"providers.{p.name}: no api_key_env is set, so {env} would be sent to {host}; "
                f"set api_key_env to that service's own key variable"
            )
    return out


def _host_of(url: str) -> str:
    """scheme://host[:port] only: never show credentials or paths a URL may carry."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _write_example(file: Path) -> bool:
    """Write the commented example on first run; failure (read-only home) is not an error.
    Only where nothing is (a link or a file made meanwhile is left alone); 0600, as users
    often paste an inline key into this file later."""
    try:
        return create_new(file, EXAMPLE_CONFIG, mode=0o600)
    except OSError:
        return False
