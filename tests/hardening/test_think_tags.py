"""Thinking streamed inside the answer's text as `<think>…</think>`, through the real openai SDK
and `chatroute ask`: Qwen3 or a DeepSeek-R1 distill on a server that does not split it off into
`reasoning_content` (llama.cpp with --reasoning-format none, vLLM without a reasoning parser, LM
Studio, an older Ollama). It is thinking as `reasoning_content` is: billed, never shown, stored,
cached or sent back as history."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.helpers import ask_json, run_cli, write_config
from tests.fakeserver import Drop, FakeServer, Reply

MODEL = "openai/gpt-4o-mini"
THOUGHT = "The user asks for the capital. It is Paris, I am sure."


def _history_carries_only_the_answer(capsys: pytest.CaptureFixture[str], configured: FakeServer, model: str,
                                     conversation_id: str) -> None:
    """The next turn of the conversation sends "Paris." back as the answer, not its thinking."""
    configured.script(model.split("/")[1], Reply(text="About 2.1 million."))
    code, nxt = ask_json(capsys, "--no-cache", "-m", model, "-c", conversation_id, "Its population?")
    assert code == 0, nxt
    sent = [(m["role"], m["content"]) for m in configured.requests[-1].messages if m["role"] != "system"]
    assert sent == [("user", "What is the capital of France?"), ("assistant", "Paris."),
                    ("user", "Its population?")]


@pytest.mark.parametrize("model", [MODEL, "anthropic/claude-haiku-4-5"])
def test_a_think_block_in_the_content_is_thinking_not_answer(capsys: pytest.CaptureFixture[str],
                                                             configured: FakeServer, model: str) -> None:
    """Before, the block was the answer's first lines: printed by `ask`, stored, cached and
    served from the cache, and sent back to the model as history on the next turn (a local
    server's Anthropic endpoint, llama.cpp's or Ollama's, sends it as text the same way)."""
    name = model.split("/")[1]
    configured.script(name, Reply(text="Paris.", reasoning=THOUGHT, think_tags=True, output_tokens=40))
    code, out = ask_json(capsys, "-m", model, "What is the capital of France?")
    assert code == 0 and out["status"] == "ok", out
    assert out["text"] == "Paris."
    assert out["tokens"]["output"] == 40 and not out["tokens"]["estimated"]  # thinking is billed

    code, text, err = run_cli(capsys, "ask", "-m", model, "What is the capital of France?")
    assert code == 0, err
    assert text == "Paris.\n" and "cache" in err  # the cached answer is the one shown live

    _history_carries_only_the_answer(capsys, configured, model, out["conversation_id"])


def test_an_unreported_think_block_is_counted_as_output(capsys: pytest.CaptureFixture[str],
                                                        configured: FakeServer) -> None:
    configured.script("gpt-4o-mini", Reply(text="Paris.", reasoning=THOUGHT * 20, think_tags=True,
                                           omit_usage=True))
    code, out = ask_json(capsys, "--no-cache", "-m", MODEL, "What is the capital of France?")
    assert code == 0 and out["text"] == "Paris.", out
    assert out["tokens"]["estimated"] and out["tokens"]["output"] > 200, out["tokens"]


def test_a_think_block_cut_at_max_tokens_shows_none_of_it(capsys: pytest.CaptureFixture[str],
                                                          configured: FakeServer, chatroute_home: Path) -> None:
    write_config(chatroute_home, configured, extra='[models."openai/gpt-4o-mini"]\nmax_output_tokens = 5\n')
    configured.script("gpt-4o-mini", Reply(text="never reached", reasoning=THOUGHT, think_tags=True))
    code, out = ask_json(capsys, "--no-cache", "-m", MODEL, "What is the capital of France?")
    assert code == 0, out
    assert out["text"] == "" and out["finish_reason"] == "length", out
    assert out["tokens"]["output"] > 0


def test_think_tags_later_in_an_answer_are_its_text(capsys: pytest.CaptureFixture[str],
                                                    configured: FakeServer) -> None:
    answer = "Qwen3 wraps its reasoning in <think> and </think> tags."
    configured.script("gpt-4o-mini", Reply(text=answer))
    code, out = ask_json(capsys, "--no-cache", "-m", MODEL, "How does Qwen3 show its reasoning?")
    assert code == 0 and out["text"] == answer, out



R1 = ["openai/deepseek-r1-distill-qwen-7b", "anthropic/qwq-32b"]
# The fake server is on this machine: its providers are local servers, as llama.cpp's would be.
LOCAL_MODELS = "".join(f'[models."{m}"]\ninput_cost_per_mtok = 1.0\noutput_cost_per_mtok = 2.0\n'
                       f'context_window = 32768\n' for m in R1)


@pytest.mark.parametrize("model", R1)
def test_thinking_before_a_lone_close_tag_is_thinking(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                                      chatroute_home: Path, model: str) -> None:
    """A DeepSeek-R1 distill or QwQ has the opening `<think>` in its chat template: its stream is
    the thinking, a lone `</think>`, then the answer. Before, all of it was the answer: printed,
    stored, cached and sent back as history."""
    write_config(chatroute_home, configured, extra=LOCAL_MODELS)
    name = model.split("/")[1]
    configured.script(name, Reply(text="Paris.", reasoning=THOUGHT, think_tags=True, think_open=False,
                                  output_tokens=40))
    code, out = ask_json(capsys, "-m", model, "What is the capital of France?")
    assert code == 0 and out["status"] == "ok" and out["text"] == "Paris.", out
    assert out["tokens"]["output"] == 40 and not out["tokens"]["estimated"]

    code, text, err = run_cli(capsys, "ask", "-m", model, "What is the capital of France?")
    assert code == 0 and text == "Paris.\n" and "cache" in err, err

    _history_carries_only_the_answer(capsys, configured, model, out["conversation_id"])


@pytest.mark.parametrize("answer", [
    "Qwen3 wraps its reasoning in <think> and </think> tags.",  # another tag before the lone one
    "Close the block with </think>, then write the answer.",  # no other tag, but the whole answer
])
def test_an_answer_about_the_tags_is_its_text(capsys: pytest.CaptureFixture[str], configured: FakeServer,
                                              answer: str) -> None:
    """From such a model, an answer that mentions `</think>` after another tag is text; so is
    one from any other model (which is not held back at all)."""
    configured.script("deepseek-r1-distill-qwen-7b", Reply(text="<b>Tags</b>: " + answer))
    code, out = ask_json(capsys, "--no-cache", "-m", R1[0], "How does Qwen3 show its reasoning?")
    assert code == 0 and out["text"] == "<b>Tags</b>: " + answer, out
    configured.script("gpt-4o-mini", Reply(text=answer))
    code, out = ask_json(capsys, "--no-cache", "-m", MODEL, "How does Qwen3 show its reasoning?")
    assert code == 0 and out["text"] == answer, out


def test_a_stream_that_breaks_while_its_start_is_held_bills_it_as_thinking(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path) -> None:
    """Cut before `</think>` came: what was held was never shown, and from such a model it was
    most likely the thinking; it is billed as thinking, and the answer has no text."""
    write_config(chatroute_home, configured, extra=LOCAL_MODELS)
    configured.script("deepseek-r1-distill-qwen-7b", Drop(text=THOUGHT * 20, after_chunks=200))
    code, out = ask_json(capsys, "--no-cache", "-m", R1[0], "What is the capital of France?")
    assert code == 1 and out["status"] == "error" and out["text"] == "", out
    assert out["tokens"]["estimated"] and out["tokens"]["output"] >= 150 and out["cost_usd"] > 0, out


def _lan_host() -> str | None:
    """A name for this machine that is a single label (as `gpu-box` or a compose service's
    `ollama` is) and reaches the fake server on 127.0.0.1, or None."""
    import socket

    name = socket.gethostname()
    try:
        reaches = socket.gethostbyname(name).startswith("127.")
    except OSError:
        return None
    return name if "." not in name and name != "localhost" and reaches else None


@pytest.mark.parametrize("model", R1)
def test_a_server_on_the_users_network_is_held_as_a_loopback_one_is(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path, model: str) -> None:
    """Ollama or llama.cpp on another machine of the LAN, named by a single-label host name: the
    thinking before a lone `</think>` is thinking there too. Before, only a loopback base_url was
    held: the thinking and `</think>` were the answer."""
    host = _lan_host()
    if host is None:
        pytest.skip("this machine's name is no single label that reaches 127.0.0.1")
    path = write_config(chatroute_home, configured, extra=LOCAL_MODELS)
    path.write_text(path.read_text().replace("http://127.0.0.1:", f"http://{host}:"))
    name = model.split("/")[1]
    configured.script(name, Reply(text="Paris.", reasoning=THOUGHT, think_tags=True, think_open=False,
                                  output_tokens=40))
    code, out = ask_json(capsys, "--no-cache", "-m", model, "What is the capital of France?")
    assert code == 0 and out["status"] == "ok" and out["text"] == "Paris.", out
    assert configured.requests[-1].headers["host"].startswith(host)  # it went by that name


@pytest.mark.parametrize("thought", [
    "The user wants a Vec<String> in Rust, so I collect into it.",
    "In C++ a std::vector<int> holds them; if a<b and c>d then swap.",
])
def test_thinking_about_code_with_angle_brackets_is_still_thinking(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path, thought: str) -> None:
    """Another tag before the lone `</think>` ends the hold (an answer about tags is its text), but
    a type's parameters or a comparison are no tag: before, `<String>` was one, and the whole
    thinking and its `</think>` were printed as the answer."""
    write_config(chatroute_home, configured, extra=LOCAL_MODELS)
    configured.script("deepseek-r1-distill-qwen-7b", Reply(text="Use collect().", reasoning=thought,
                                                           think_tags=True, think_open=False))
    code, out = ask_json(capsys, "--no-cache", "-m", R1[0], "How do I build a list of strings?")
    assert code == 0 and out["text"] == "Use collect().", out


@pytest.mark.parametrize("model", R1)
def test_a_held_start_is_text_once_the_server_sends_thinking_apart(
        capsys: pytest.CaptureFixture[str], configured: FakeServer, chatroute_home: Path, model: str) -> None:
    """The start of an R1 distill's answer is held while it may be thinking before a lone
    `</think>`; a server that then sends `reasoning_content` (on Anthropic's wire, a thinking
    block after a text block) splits the thinking off itself, so what was held is text. Before,
    it stayed held (with all the text after it) to the end of the stream: shown only then, and
    billed as thinking, no text kept, when the stream broke."""
    write_config(chatroute_home, configured, extra=LOCAL_MODELS)
    name = model.split("/")[1]
    configured.script(name, Drop(lead="Hello there. ", reasoning=THOUGHT, text="Paris is the capital.",
                                 after_chunks=2))
    code, out = ask_json(capsys, "--no-cache", "-m", model, "What is the capital of France?")
    assert code == 1 and out["status"] == "interrupted", out  # a partial reply, kept
    assert out["text"].startswith("Hello there. Paris"), out
    configured.script(name, Reply(lead="Hello there. ", reasoning=THOUGHT, text="Paris."))
    code, out = ask_json(capsys, "--no-cache", "-m", model, "What is the capital of France?")
    assert code == 0 and out["text"] == "Hello there. Paris.", out
