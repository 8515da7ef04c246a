"""Find OpenAI-compatible model servers running on this machine, so the app can offer them.

Probes GET http://127.0.0.1:PORT/v1/models on the usual ports, concurrently and with a short
timeout (a closed loopback port refuses at once, so this costs a few ms). Never called by
`load_config`: start-up must not wait on the network. Set CHATROUTE_NO_DISCOVERY=1 to disable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from chatroute.config import Config, ProviderConfig

#: Provider name -> port of the servers we look for (name is the provider name offered).
DEFAULT_PORTS: dict[str, int] = {"ollama": 11434, "llamacpp": 8080, "lmstudio": 1234}

DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class LocalServer:
    name: str  # suggested provider name, e.g. "ollama"
    base_url: str  # e.g. "http://127.0.0.1:11434/v1"
    models: list[str] = field(default_factory=list)  # ids the server lists, as it spells them


def discovery_disabled() -> bool:
    return os.environ.get("CHATROUTE_NO_DISCOVERY", "").strip().lower() in ("1", "true", "yes", "on")


def discover_local_servers(
    timeout: float = 0.15,
    *,
    ports: Mapping[str, int] | None = None,
    host: str = DEFAULT_HOST,
) -> list[LocalServer]:
    """Servers answering /v1/models with an OpenAI-style model list, in `ports` order."""
    if discovery_disabled():
        return []
    targets = list((ports if ports is not None else DEFAULT_PORTS).items())
    if not targets:
        return []
    # trust_env=False: a proxy from HTTP_PROXY must never see (or break) loopback probes.
    from concurrent.futures import ThreadPoolExecutor

    import httpx  # lazily: it costs ~100 ms at start-up and is only needed to probe

    with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client:
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            found = pool.map(lambda t: _probe(client, host, t[0], t[1]), targets)
            return [s for s in found if s is not None]


async def discover_local_servers_async(
    timeout: float = 0.15,
    *,
    ports: Mapping[str, int] | None = None,
    host: str = DEFAULT_HOST,
) -> list[LocalServer]:
    """The same, off the event loop (for the TUI)."""
    import asyncio  # here: `chatroute models` imports this module and never needs asyncio

    return await asyncio.to_thread(discover_local_servers, timeout, ports=ports, host=host)


def _probe(client: httpx.Client, host: str, name: str, port: int) -> LocalServer | None:
    netloc = f"[{host}]" if ":" in host else host
    base_url = f"http://{netloc}:{port}/v1"
    try:
        resp = client.get(f"{base_url}/models")
    except Exception:  # noqa: BLE001 - any failure means "no usable server here"
        return None
    if resp.status_code != 200:
        return None
    try:
        body = resp.json()
    except ValueError:
        return None
    models = listed_model_ids(body)
    return LocalServer(name=name, base_url=base_url, models=models) if models is not None else None


def listed_model_ids(body: object) -> list[str] | None:
    """The model ids of an OpenAI-style /v1/models answer, or None when it is not one (anything
    else on these ports, 8080 is popular, fails this shape check)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    # A model name is one printable line. Every listing shows the id: control characters drive the
    # terminal, a newline or tab forges rows and columns, a bidi override or zero-width character
    # makes it read as another name.
    return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"]
            and m["id"].isprintable()]


def fetch_model_sizes(base_url: str, names: Iterable[str], timeout: float = 0.3) -> dict[str, float]:
    """Parameter counts (billions) a local server reports for its models, by model name.

    Ollama: /api/tags (`details.parameter_size`, e.g. "7.6B"), then /api/show for a name the
    list lacks (`details.parameter_size` or `model_info["general.parameter_count"]`).
    llama.cpp: /v1/models (`meta.n_params`), else the GGUF file name in /props (`model_path`,
    e.g. SmolLM2-135M-Instruct-Q8_0.gguf). Names the server says nothing about are left out.
    Never raises: a server that answers none of these just gives no sizes."""
    import httpx

    from chatroute.catalog.abilities import _param_count, parse_param_size

    wanted = [n for n in dict.fromkeys(names) if n]
    root = base_url.rstrip("/")
    root = root[: -len("/v1")] if root.endswith("/v1") else root
    sizes: dict[str, float] = {}

    def get_json(client: httpx.Client, method: str, url: str, **kw: object) -> object:
        try:
            resp = client.request(method, url, **kw)  # type: ignore[arg-type]
            return resp.json() if resp.status_code == 200 else None
        except Exception:  # noqa: BLE001 - any failure means "this server does not say"
            return None

    def put(name: str, size: float | None) -> None:
        if name in wanted and name not in sizes and size is not None and size > 0:
            sizes[name] = size

    with httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client:
        tags = get_json(client, "GET", f"{root}/api/tags")
        for m in tags.get("models", []) if isinstance(tags, dict) else []:
            if isinstance(m, dict) and isinstance(m.get("details"), dict):
                size = parse_param_size(str(m["details"].get("parameter_size") or ""))
                for key in ("name", "model"):
                    if isinstance(m.get(key), str):
                        put(m[key], size)
        if isinstance(tags, dict):  # an Ollama server: ask it about the rest one by one
            for name in [n for n in wanted if n not in sizes]:
                show = get_json(client, "POST", f"{root}/api/show", json={"model": name})
                if isinstance(show, dict):
                    details: dict[str, Any] = show["details"] if isinstance(show.get("details"), dict) else {}
                    info: dict[str, Any] = show["model_info"] if isinstance(show.get("model_info"), dict) else {}
                    count = info.get("general.parameter_count")
                    put(name, parse_param_size(str(details.get("parameter_size") or ""))
                        or (count / 1e9 if isinstance(count, (int, float)) else None))
            return sizes
        listed = get_json(client, "GET", f"{root}/v1/models")
        for m in listed.get("data", []) if isinstance(listed, dict) else []:
            meta = m.get("meta") if isinstance(m, dict) else None
            if isinstance(meta, dict) and isinstance(meta.get("n_params"), (int, float)):
                put(str(m.get("id")), meta["n_params"] / 1e9)
        missing = [n for n in wanted if n not in sizes]
        if missing:
            props = get_json(client, "GET", f"{root}/props")
            path = props.get("model_path") if isinstance(props, dict) else None
            if isinstance(path, str) and path:
                size = _param_count(path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".gguf"))
                # llama.cpp serves one model, whatever name a request gives it.
                if size is not None and len(missing) == 1:
                    put(missing[0], size)
    return sizes


def providers_from_discovery(servers: Iterable[LocalServer]) -> dict[str, ProviderConfig]:
    """An openai-kind provider per server (keyless: loopback needs no key)."""
    from chatroute.config import ProviderConfig

    return {s.name: ProviderConfig(name=s.name, kind="openai", base_url=s.base_url) for s in servers}


def pool_from_discovery(servers: Iterable[LocalServer]) -> list[str]:
    """'provider/model' ids for every model the servers list."""
    return [f"{s.name}/{m}" for s in servers for m in s.models]


def unconfigured(servers: Iterable[LocalServer], config: Config) -> list[LocalServer]:
    """Servers not already in the config (same name or same base_url), i.e. worth offering."""
    known_urls = {(p.base_url or "").rstrip("/") for p in config.providers.values()}
    return [s for s in servers if s.name not in config.providers and s.base_url.rstrip("/") not in known_urls]


SNIPPET_MODELS_PER_SERVER = 8


def config_snippet(servers: Iterable[LocalServer], config: Config | None = None) -> str:
    """TOML a user can paste at the end of config.toml to use the servers found on this machine,
    as it stands: the providers, and a router pool that names their models (a provider alone
    adds no model to route to). When the file has no [providers] yet, the providers read from
    the environment are written out too, since the first [providers] table replaces them. When
    it has a [router] table already, the pool line is a comment to move there: a second
    [router] table, or a pool under the last provider's table, would be a config error."""
    servers = list(servers)
    blocks = []
    if config is not None and config.providers_from_env:
        for p in config.providers.values():
            if p.name not in {s.name for s in servers}:
                blocks.append(f'[providers.{p.name}]\nkind = "{p.kind}"\n')
    for server in servers:
        blocks.append(f'[providers.{server.name}]\nkind = "openai"\nbase_url = "{server.base_url}"\n')
    pool = [*(config.router.pool if config is not None else []),
            *(f"{s.name}/{m}" for s in servers for m in s.models[:SNIPPET_MODELS_PER_SERVER])]
    if pool:
        # A JSON string is a TOML basic string: a model id may hold a backslash (a Windows path, as
        # llama.cpp lists a model) or a quote, which written as they are break the pasted file.
        line = "pool = [" + ", ".join(json.dumps(m, ensure_ascii=False) for m in dict.fromkeys(pool)) + "]"
        if config is not None and _file_has_table(config, "router"):
            blocks.append(f"# and in your [router] table:\n# {line}\n")
        else:
            blocks.append(f"[router]\n{line}\n")
    return "\n".join(blocks)


def _file_has_table(config: Config, name: str) -> bool:
    if config.source is None:
        return False
    import tomllib

    try:
        return name in tomllib.loads(config.source.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return False


def offer(config: Config) -> str | None:
    """One message offering local servers that are running but not configured, or None."""
    found = unconfigured(discover_local_servers(), config)
    if not found:
        return None
    names = ", ".join(f"{s.name} ({len(s.models)} model{'s' if len(s.models) != 1 else ''})" for s in found)
    return (f"found local servers not in your config: {names}. Add to the end of config.toml:\n\n"
            + config_snippet(found, config))


def adopt_when_unconfigured(config: Config, config_file: object = None) -> str | None:
    """With nothing configured at all (no keys, no [providers], no pool), use the local servers
    running now, so a first run with Ollama or llama.cpp up just works. Changes `config` in
    memory only and returns the one line that says so, or None when it changed nothing."""
    adopted = adopt_local_servers(config)
    if adopted is None:
        return None
    keep = f"; to keep it, add what `chatroute models` prints to {config_file}" if config_file else ""
    return adopted[0] + keep


def adopt_local_servers(config: Config) -> tuple[str, str] | None:
    """adopt_when_unconfigured's work: (the line that says so, the config lines that keep it)."""
    if config.providers or config.router.pool or discovery_disabled():
        return None
    servers = [s for s in discover_local_servers() if s.models]
    if not servers:
        return None
    config.providers.update(providers_from_discovery(servers))
    pool = pool_from_discovery(servers)
    config.router = config.router.model_copy(update={"pool": pool, "default": config.router.default or pool[0]})
    found = ", ".join(f"{s.name} at {s.base_url} ({len(s.models)} model{'s' if len(s.models) != 1 else ''})"
                      for s in servers)
    return f"no API keys or providers set: using the local server found, {found}", config_snippet(servers)
