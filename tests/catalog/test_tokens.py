"""Token counting works offline from the shipped encodings."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from importlib import resources

import pytest

from chatroute.catalog import tokens


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """Any attempt to open a socket fails, and tiktoken's own cache dir is empty."""

    def refuse(*args, **kwargs):
        raise OSError("network access blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-tiktoken-cache"))
    yield


def test_openai_counts_are_exact_offline(no_network) -> None:
    tokens._cache.clear()  # force loading from the shipped files, offline
    assert tokens.get_encoding("o200k_base").encode("hello world") == [24912, 2375]
    assert tokens.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert tokens.count_tokens("hello world", "openai/gpt-4o") == (2, False)
    assert tokens.count_tokens("hello world", "gpt-4o-mini") == (2, False)
    assert tokens.count_tokens("hello world", "openai/gpt-4") == (2, False)  # cl100k
    assert tokens.tokenizer_for("gpt-4-0613") == ("cl100k_base", None)
    assert tokens.tokenizer_for("openai/gpt-5.4-mini") == ("o200k_base", None)
    # special-token text in user content is counted as text, never rejected
    n, est = tokens.count_tokens("<|endoftext|>", "gpt-4o")
    assert n > 1 and not est


def test_other_vendors_are_labelled_estimates(no_network) -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 20
    exact, _ = tokens.count_tokens(text, "openai/gpt-4o")
    claude, est = tokens.count_tokens(text, "anthropic/claude-sonnet-4-5")
    assert est and claude == -(-exact * 120 // 100)  # ceil(o200k * 1.20)
    local, est = tokens.count_tokens(text, "ollama/qwen2.5:7b")
    assert est and local >= exact
    via_router, est = tokens.count_tokens(text, "openrouter/anthropic/claude-3.5-haiku")
    assert est and via_router == claude
    assert tokens.count_tokens(text, "openrouter/openai/gpt-4o") == (exact, False)


def test_count_messages_adds_chat_framing(no_network) -> None:
    # OpenAI cookbook framing: 3 per message + role tokens, 3 to prime the reply.
    msgs = [{"role": "user", "content": "hello world"}]
    assert tokens.count_messages(msgs, None, "gpt-4o") == (3 + 1 + 2 + 3, False)
    from chatroute.providers.base import Message

    with_system = tokens.count_messages([Message("user", "hello world")], "be brief", "gpt-4o")
    assert with_system[0] == 9 + 3 + 1 + len(tokens.get_encoding().encode("be brief"))
    n, est = tokens.count_messages(msgs, "be brief", "anthropic/claude-haiku-4-5")
    assert est and n >= with_system[0]


def test_specs_match_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our copies of pat_str / special tokens equal tiktoken's own (ranks stubbed, no download)."""
    import tiktoken_ext.openai_public as op

    monkeypatch.setattr(op, "load_tiktoken_bpe", lambda *a, **k: {})
    for name, ctor in (("o200k_base", op.o200k_base), ("cl100k_base", op.cl100k_base)):
        spec = ctor()
        assert tokens._SPECS[name] == (spec["pat_str"], spec["special_tokens"])


def test_shipped_files_match_tiktoken_hashes() -> None:
    import inspect

    import tiktoken_ext.openai_public as op

    source = inspect.getsource(op)
    data = resources.files("chatroute.catalog.data")
    meta = json.loads(data.joinpath("tiktoken.meta.json").read_text())
    for name, (filename, expected) in tokens.ENCODINGS.items():
        assert expected in source  # the hash tiktoken itself pins
        digest = hashlib.sha256(data.joinpath(filename).read_bytes()).hexdigest()
        assert digest == expected == meta[name]["sha256"]


def test_importing_the_catalogue_is_cheap() -> None:
    code = (
        "import sys, chatroute.catalog as c\n"
        "from chatroute.catalog import Catalog, turn_cost, count_tokens\n"
        "assert 'tiktoken' not in sys.modules, 'tiktoken imported'\n"
        "assert 'textual' not in sys.modules\n"
        "import chatroute.catalog.prices as p\n"
        "assert p.load_bundled.cache_info().currsize == 0, 'prices parsed at import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
