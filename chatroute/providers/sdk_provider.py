"""What the OpenAI and Anthropic adapters share: one SDK client per provider, made on first use
with an explicit key, SDK retries as configured (off by default) and a same-origin guard; and
the reading of one stream under its deadlines, with SDK errors mapped and the connection closed
whatever happens. The wire formats differ only in how a request is sent and an event is read:
each adapter's `_open` and its StreamReader.

No SDK is imported here: each adapter imports its own at module level (see their notes), and
this module is loaded with them, lazily.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from chatroute.providers.base import (
    ACCEPTED,
    ChatRequest,
    ErrorKind,
    ProviderError,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
)
from chatroute.providers.deadlines import StreamDeadlines
from chatroute.providers.errors import (
    error_instead_of_stream,
    is_official_endpoint,
    key_hint,
    map_exception,
    missing_key,
)
from chatroute.providers.http import (
    SENDING,
    check_api_response,
    json_instead_of_events,
    note_sending,
    same_origin_guard,
)
from chatroute.surrogates import SurrogateCarry

if TYPE_CHECKING:
    from chatroute.config import ProviderConfig



class SDKClient(Protocol):
    """What is used of AsyncOpenAI and AsyncAnthropic here."""

    @property
    def base_url(self) -> Any: ...

    async def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=SDKClient)

NOTHING: tuple[StreamEvent, ...] = ()


def stream_deltas(thinking: str, text: str) -> tuple[StreamEvent, ...]:
    """A piece of a stream as events: its thinking, then its text (either may be empty)."""
    if thinking and text:
        return (ReasoningDelta(thinking), TextDelta(text))
    if text:
        return (TextDelta(text),)
    return (ReasoningDelta(thinking),) if thinking else NOTHING


class StreamReader(Protocol):
    """Reads one stream's raw events (the server's JSON objects) into StreamEvents."""

    @property
    def started(self) -> bool:
        """First token, visible or thinking, seen: the stall and whole-request limits apply from here on."""
        ...

    @property
    def done(self) -> bool:
        """No more events wanted (the server streamed past max_tokens and was cut)."""
        ...

    def feed(self, raw: Any) -> Sequence[StreamEvent]:
        """The events one raw event gives; a shape that is not the wire format's raises ProviderError."""
        ...

    def end(self) -> Sequence[StreamEvent]:
        """The closing events once the server stops sending; raises when it stopped too early."""
        ...

    def on_failure(self) -> Sequence[StreamEvent]:
        """What to report before the error when the stream fails: what is already billed."""
        ...


class SDKProvider(Generic[ClientT]):
    kind: str
    key_env: ClassVar[str]  # named in the missing-key error when the config names none

    def __init__(self, cfg: ProviderConfig) -> None:
        self.cfg = cfg
        self.name: str = cfg.name
        self.base_url: str | None = cfg.resolved_base_url()
        self._key: str | None = cfg.api_key()
        self._official = is_official_endpoint(self.base_url)
        self._client: ClientT | None = None

    # -- client -------------------------------------------------------------------------

    def _new_client(self, *, api_key: str, timeout_s: float, max_retries: int) -> tuple[ClientT, Any]:
        """The SDK client and the httpx client it sends through."""
        raise NotImplementedError

    def client(self) -> ClientT:
        if self._client is None:
            # A variable the config names but the environment lacks is a missing key too, on
            # any server: sending the keyless placeholder instead comes back as "refused the key".
            if self._key is None and (self._official or self.cfg.api_key_env):
                env = getattr(self.cfg, "default_key_env", lambda: None)()
                raise missing_key(provider=self.name, env=env or self.key_env)
            # The key is always explicit, a placeholder for keyless servers: otherwise the SDK
            # would fall back to environment variables, and a key meant for another provider
            # could leak to this endpoint.
            client, http = self._new_client(api_key=self._key or "not-needed", timeout_s=float(self.cfg.timeout_s),
                                            max_retries=int(getattr(self.cfg, "max_retries", 0) or 0))
            http.event_hooks = {"request": [same_origin_guard(lambda: str(client.base_url)), note_sending]}
            self._client = client
        return self._client

    def _refused_key(self) -> str:
        """Where the key the server refused came from, in words the user can act on."""
        if self.cfg.inline_api_key is not None:
            return f"provider {self.name} refused the api_key in the config"
        env = self.cfg.default_key_env()
        if env is None or self._key is None:  # it was sent a placeholder: it wants a key of its own
            advice = getattr(self.cfg, "key_advice", lambda: key_hint(None))()
            return f"provider {self.name} wants an API key: {advice}"
        return f"provider {self.name} refused the key in {env}"

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    # -- stream -------------------------------------------------------------------------

    async def _open(self, request: ChatRequest, limits: StreamDeadlines) -> Any:
        """The SDK's stream of raw events, opened within the first-token deadline."""
        raise NotImplementedError

    def _reader(self, request: ChatRequest) -> StreamReader:
        raise NotImplementedError

    def _whole_answer(self, body: Any) -> Sequence[Any]:
        """The raw events a whole answer sent as one JSON document amounts to (a server that
        ignores `stream`); none where the wire format's document is not read so."""
        return NOTHING

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        limits = StreamDeadlines.start(self.cfg, request, provider=self.name)
        reader = self._reader(request)
        # Text is passed on in whole characters: half a surrogate pair waits for its other half.
        carry = SurrogateCarry()
        sdk_stream: Any = None
        failure: ProviderError | None = None
        accepted = False  # the server answered 200 with a stream: it has the request
        sending = request.sending
        if sending is not None:
            sending.tracked = True
        try:
            SENDING.set(sending)
            try:
                sdk_stream = await self._open(request, limits)
            finally:
                SENDING.set(None)
            response = getattr(sdk_stream, "response", None)
            check_api_response(response, provider=self.name, model=request.model)
            accepted = True
            if sending is not None:
                sending.accepted = True
            whole = await limits.before_first_token(json_instead_of_events(response))
            if whole is None:
                raw_events = sdk_stream.__aiter__()
            else:
                # A 200 with a JSON document where events were asked for: an error said as such
                # (not as an empty stream), or an answer sent whole.
                error = error_instead_of_stream(whole, provider=self.name, model=request.model, secrets=(self._key,))
                if error is not None:
                    raise error
                raw_events = _each(self._whole_answer(whole))
            while not reader.done:
                try:
                    if reader.started:
                        raw = await limits.after_first_token(anext(raw_events))
                    else:
                        raw = await limits.before_first_token(anext(raw_events))
                except StopAsyncIteration:
                    break
                for event in reader.feed(raw):
                    if isinstance(event, TextDelta):
                        text = carry.take(event.text)
                        if not text:
                            continue
                        event = TextDelta(text)
                    yield event
            rest = carry.rest()
            if rest:
                yield TextDelta(rest)
            for event in reader.end():
                yield event
        except ProviderError as err:
            if not err.provider:
                err.provider = self.name
            failure = err
        except Exception as exc:
            # SDK exceptions quote the raw error body, which may echo the key, so the mapped
            # error is raised outside this block: no __cause__/__context__ chain to print.
            failure = map_exception(exc, provider=self.name, model=request.model, secrets=(self._key,))
            failure.extra.setdefault("cause", type(exc).__name__)
            if failure.kind is ErrorKind.AUTH and failure.status is not None:
                # Which key to fix: "authentication failed" alone leaves the user guessing.
                failure.extra["hint"] = self._refused_key()
                failure.message = f"{failure.extra['hint']}: {failure.message}"
        finally:
            if sdk_stream is not None:
                try:
                    await sdk_stream.close()
                except Exception:  # closing a broken connection may fail; nothing to save
                    pass
        if failure is not None:
            if accepted and failure.kind is ErrorKind.TIMEOUT:
                # chatroute gave up on a request the server had taken (a model thinking silently
                # past the deadline): to the provider that is a stopped stream, which it bills.
                failure.extra[ACCEPTED] = True
            rest = carry.rest()
            if rest:
                yield TextDelta(rest)
            for event in reader.on_failure():
                yield event
            raise failure


async def _each(items: Sequence[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item
