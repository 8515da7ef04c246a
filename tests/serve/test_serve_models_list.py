"""GET /v1/models offers what chatroute can really serve: the routed names, the configured and
catalogue models, and the models a local server lists itself; not the names clients happened
to ask a local server for."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatroute.engine import Engine
from chatroute.serve.listing import MAX_LOCAL_MODELS, ModelListing
from tests.engine.helpers import write_config
from tests.fakeserver import FakeServer
from tests.serve.conftest import Served, serve_env, start_served


@pytest.fixture(scope="module")
def listing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    fake = FakeServer().start()
    fake.models = ["fake-model", "qwen-local:7b"]
    home = tmp_path_factory.mktemp("serve-models") / "home"
    env = serve_env(home)
    env.pop("CHATROUTE_NO_DISCOVERY")  # asking the local server what it serves is the point here
    server = start_served(home, fake, env=env)
    try:
        yield server
    finally:
        server.stop()
        fake.stop()


def test_names_a_client_made_up_are_not_listed_to_anyone(listing_server: Served) -> None:
    s = listing_server
    # The configured "openai" provider is a loopback server, so any name is accepted and sent
    # (and this lenient server answers it, as llama.cpp's does).
    for name in ("openai/gpt-4o-minii", "openai/my-secret-project-model"):
        done = s.client().chat.completions.create(model=name, messages=[{"role": "user", "content": "hi " + name}])
        assert done.model == name
    other = s.client(default_headers={"User-Agent": "another-tool/1.0"})
    ids = [m.id for m in other.models.list().data]
    assert "openai/gpt-4o-minii" not in ids and "openai/my-secret-project-model" not in ids
    assert ids[:4] == ["chatroute/auto", "chatroute/frugal", "chatroute/balanced", "chatroute/best"]
    assert {"openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-haiku-4-5"} <= set(ids)
    # What the local server itself reports is listed, once.
    assert "openai/qwen-local:7b" in ids and "openai/fake-model" in ids
    assert len(ids) == len(set(ids))


def test_no_discovery_lists_no_local_server_models(fresh: Served) -> None:
    fresh.client().chat.completions.create(model="openai/made-up-under-no-discovery",
                                           messages=[{"role": "user", "content": "made up, no discovery"}])
    ids = [m.id for m in fresh.client().models.list().data]
    assert "openai/made-up-under-no-discovery" not in ids and "openai/fake-model" not in ids
    assert "openai/gpt-4o-mini" in ids


def test_a_local_servers_listing_is_bounded(tmp_path: Path, fake_server: FakeServer,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fake_server.models = [f"m{i}" for i in range(MAX_LOCAL_MODELS + 100)] + ["bad\x1b[2Jname"]
    for k, v in serve_env(tmp_path).items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("CHATROUTE_NO_DISCOVERY")
    write_config(tmp_path, fake_server)
    engine = Engine.open()
    try:
        local = asyncio.run(ModelListing(engine).local_models())
    finally:
        engine.store.close()
    assert local == {"openai": [f"m{i}" for i in range(MAX_LOCAL_MODELS)]}
