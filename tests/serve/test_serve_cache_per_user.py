"""`chatroute serve` for a tool that serves several people: a request that names its end user
(OpenAI's `user`, Anthropic's `metadata.user_id`) is answered from the cache only with what was
cached for that user. Before, every client shared one cache keyed without the user, so one
person's answer (to "recommend a novel for me", say) was served to the next person who asked
the same. Requests that name no user share the cache as before. Real HTTP, official SDKs."""

from __future__ import annotations

import anthropic

from tests.fakeserver import Reply
from tests.serve.conftest import Served


def _anthropic(served: Served) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served.url.removesuffix("/v1"), api_key=served.token, max_retries=0,
                               timeout=30)


def test_openai_user_is_part_of_the_cache_key(fresh: Served) -> None:
    client = fresh.client()
    ask = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "suggest a name for my puppy"}]}
    fresh.fake.script("gpt-4o-mini", Reply(text="Alice: Biscuit."), Reply(text="Bob: Pepper."))
    alice = client.chat.completions.create(**ask, user="alice")
    bob = client.chat.completions.create(**ask, user="bob")
    assert bob.model_extra["chatroute"]["cache"] == "miss"
    assert (alice.choices[0].message.content, bob.choices[0].message.content) == (
        "Alice: Biscuit.", "Bob: Pepper.")
    again = client.chat.completions.create(**ask, user="alice")  # the same user: the same request
    assert again.model_extra["chatroute"]["cache"] == "hit"
    assert again.choices[0].message.content == "Alice: Biscuit."
    assert len(fresh.fake.requests) == 2
    # The user is not passed on to the provider.
    assert all("alice" not in str(r.body) and "bob" not in str(r.body) for r in fresh.fake.requests)


def test_a_request_naming_no_user_is_cached_as_before(fresh: Served) -> None:
    client = fresh.client()
    ask = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "name a shade of blue"}]}
    fresh.fake.script("gpt-4o-mini", Reply(text="Cerulean."), Reply(text="Teal, for carol."))
    client.chat.completions.create(**ask)
    anyone = client.chat.completions.create(**ask)
    assert anyone.model_extra["chatroute"]["cache"] == "hit" and anyone.choices[0].message.content == "Cerulean."
    carol = client.chat.completions.create(**ask, user="carol")  # a named user gets no shared answer
    assert carol.model_extra["chatroute"]["cache"] == "miss"
    assert carol.choices[0].message.content == "Teal, for carol."


def test_anthropic_metadata_user_id_is_part_of_the_cache_key(fresh: Served) -> None:
    client = _anthropic(fresh)
    ask = {"model": "openai/gpt-4o-mini", "max_tokens": 200,
           "messages": [{"role": "user", "content": "recommend a novel for me"}]}
    fresh.fake.script("gpt-4o-mini", Reply(text="Alice: Middlemarch."), Reply(text="Bob: Dune."))
    alice = client.messages.create(**ask, metadata={"user_id": "alice"})  # type: ignore[call-overload]
    bob = client.messages.create(**ask, metadata={"user_id": "bob"})  # type: ignore[call-overload]
    assert bob.model_extra is not None and bob.model_extra["chatroute"]["cache"] == "miss"
    assert [alice.content[0].text, bob.content[0].text] == [  # type: ignore[union-attr]
        "Alice: Middlemarch.", "Bob: Dune."]
    again = client.messages.create(**ask, metadata={"user_id": "alice"})  # type: ignore[call-overload]
    assert again.model_extra is not None and again.model_extra["chatroute"]["cache"] == "hit"
    assert again.content[0].text == "Alice: Middlemarch."  # type: ignore[union-attr]
    assert len(fresh.fake.requests) == 2


def test_openai_safety_identifier_is_part_of_the_cache_key(fresh: Served) -> None:
    """OpenAI's newer per-user field keys the cache as `user` does, and is not passed on either."""
    client = fresh.client()
    ask = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "suggest a gift for my sister"}]}
    fresh.fake.script("gpt-4o-mini", Reply(text="For dana: a scarf."), Reply(text="For erin: a book."))
    dana = client.chat.completions.create(**ask, safety_identifier="user-dana")
    erin = client.chat.completions.create(**ask, safety_identifier="user-erin")
    assert erin.model_extra["chatroute"]["cache"] == "miss"
    assert (dana.choices[0].message.content, erin.choices[0].message.content) == (
        "For dana: a scarf.", "For erin: a book.")
    again = client.chat.completions.create(**ask, safety_identifier="user-dana")
    assert again.model_extra["chatroute"]["cache"] == "hit"
    assert again.choices[0].message.content == "For dana: a scarf."
    assert len(fresh.fake.requests) == 2
    assert all("user-dana" not in str(r.body) and "user-erin" not in str(r.body) for r in fresh.fake.requests)
