"""GET /v1/models offers what chatroute can really serve: the routed names, the configured and
catalogue models, and the models a local server lists itself; not the names clients happened
to ask a local server for."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
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


def test_a_listed_model_can_be_retrieved_by_id_and_an_unknown_one_is_a_404(listing_server: Served) -> None:
    # Before, GET /v1/models/{id} was a 404 for every id, listed or not.
    s = listing_server
    for mid, owner in (("chatroute/auto", "chatroute"), ("chatroute/best", "chatroute"),
                       ("openai/gpt-4o-mini", "openai"), ("openai/qwen-local:7b", "openai")):
        model = s.client().models.retrieve(mid)
        assert (model.id, model.object, model.owned_by) == (mid, "model", owner)
        assert isinstance(model.created, int)
    # The SDK sends the slash as %2F; a client that sends it as it is gets the same model.
    raw = httpx.get(f"{s.url}/models/chatroute/auto", headers={"authorization": f"Bearer {s.token}"}, timeout=30)
    assert raw.status_code == 200 and raw.json()["id"] == "chatroute/auto"
    # A bare name, as POST takes it: the model it names. Before: a 404.
    bare = s.client().models.retrieve("gpt-4o-mini")
    assert (bare.id, bare.owned_by) == ("openai/gpt-4o-mini", "openai")
    with pytest.raises(openai.NotFoundError) as caught:
        s.client().models.retrieve("openai/never-listed")
    assert caught.value.code == "model_not_found" and "openai/never-listed" in caught.value.message


def test_anthropics_sdk_retrieves_a_model_in_its_own_shape(listing_server: Served) -> None:
    s = listing_server
    client = anthropic.Anthropic(base_url=s.url.removesuffix("/v1"), api_key=s.token, max_retries=0, timeout=30)
    raw = client.models.with_raw_response.retrieve("chatroute/auto")
    assert set(raw.http_response.json()) >= {"type", "id", "display_name", "created_at"}
    info = raw.parse()
    assert (info.type, info.id, info.display_name) == ("model", "chatroute/auto", "chatroute/auto")
    assert info.created_at.year == 1970
    assert client.models.retrieve("anthropic/claude-haiku-4-5").id == "anthropic/claude-haiku-4-5"
    assert client.models.retrieve("claude-haiku-4-5").id == "anthropic/claude-haiku-4-5"  # before: a 404
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.models.retrieve("anthropic/claude-never")
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error" and body["error"]["type"] == "not_found_error"


def test_anthropics_sdk_lists_the_models_in_its_own_shape(listing_server: Served) -> None:
    """client.models.list() pages through ModelInfo objects (type, display_name, created_at) with
    has_more / first_id / last_id; it was given OpenAI's list, whose items lack those fields."""
    s = listing_server
    client = anthropic.Anthropic(base_url=s.url.removesuffix("/v1"), api_key=s.token, max_retries=0, timeout=30)
    raw = client.models.with_raw_response.list()
    body = raw.http_response.json()
    assert body["has_more"] is False and body["first_id"] == body["data"][0]["id"]
    listed = list(client.models.list())  # the SDK's pager stops where has_more is false
    ids = [m.id for m in listed]
    assert "chatroute/auto" in ids and "anthropic/claude-haiku-4-5" in ids and len(ids) == len(set(ids))
    assert all(m.type == "model" and m.display_name == m.id for m in listed)
    openai_ids = [m.id for m in s.client().models.list()]  # the OpenAI SDK still gets its own shape
    assert openai_ids == ids
