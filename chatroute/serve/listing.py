"""What GET /v1/models lists: the routed names, the catalogue's models as the config and price
table name them, and the models the configured local servers themselves list.

Not every name a client has asked for: a local provider accepts any model name (the catalogue
cannot know what a local server serves), so a typo or a made-up name sent to one became a
catalogue entry and was offered to every client. A local server's own /v1/models is what it
really serves; it is asked at most every REFRESH_S, and its last good answer is kept (at most
MAX_LOCAL_MODELS names a server) so a server that is briefly down does not empty the list.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from chatroute.discovery import discovery_disabled, listed_model_ids
from chatroute.serve.wire import ROUTED_MODELS

if TYPE_CHECKING:
    from chatroute.engine import Engine

REFRESH_S = 10.0
TIMEOUT_S = 0.5
MAX_LOCAL_MODELS = 256  # a server's listing kept; a hostile or broken one cannot grow the reply without end
MAX_NAME = 200


class ModelListing:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local: dict[str, list[str]] = {}  # provider -> model names its server listed last
        self._asked: dict[str, float] = {}  # provider -> time.monotonic() of the last ask
        self._lock = asyncio.Lock()

    async def data(self) -> list[dict[str, Any]]:
        created = int(time.time())
        out = [{"id": m, "object": "model", "created": created, "owned_by": "chatroute"} for m in ROUTED_MODELS]
        seen: set[str] = set()
        for m in self.engine.catalog.configured():
            seen.add(m.id)
            out.append({"id": m.id, "object": "model", "created": created, "owned_by": m.provider})
        for provider, names in (await self.local_models()).items():
            for name in names:
                mid = f"{provider}/{name}"
                if mid not in seen:
                    seen.add(mid)
                    out.append({"id": mid, "object": "model", "created": created, "owned_by": provider})
        return out

    async def local_models(self) -> dict[str, list[str]]:
        """Model names by local provider, as their servers list them (CHATROUTE_NO_DISCOVERY=1:
        none, as for every other question chatroute would ask a local server unprompted)."""
        if discovery_disabled():
            return {}
        urls = self._local_urls()
        async with self._lock:
            now = time.monotonic()
            due = [p for p in urls if now - self._asked.get(p, -REFRESH_S) >= REFRESH_S]
            if due:
                import httpx  # lazily: most requests never list models

                # trust_env=False: a proxy from the environment must never see loopback requests.
                async with httpx.AsyncClient(timeout=TIMEOUT_S, trust_env=False, follow_redirects=False) as client:
                    found = await asyncio.gather(*(_listed(client, urls[p]) for p in due))
                for provider, names in zip(due, found, strict=True):
                    self._asked[provider] = now
                    if names is not None:
                        self._local[provider] = names
            return {p: self._local[p] for p in urls if p in self._local}

    def _local_urls(self) -> dict[str, str]:
        providers = self.engine.config.providers
        out = {}
        for name in self.engine.catalog.local_providers():
            cfg = providers.get(name)
            url = cfg.resolved_base_url() if cfg is not None else None
            if url:
                out[name] = url.rstrip("/")
        return out


async def _listed(client: Any, base_url: str) -> list[str] | None:
    """The model ids a server's /models lists (OpenAI's shape), or None when it did not answer so."""
    try:
        resp = await client.get(f"{base_url}/models")
        body = resp.json() if resp.status_code == 200 else None
    except Exception:  # noqa: BLE001 - any failure means "nothing listed this time"
        return None
    names = listed_model_ids(body)
    if names is None:
        return None
    return list(dict.fromkeys(n for n in names if len(n) <= MAX_NAME))[:MAX_LOCAL_MODELS]
