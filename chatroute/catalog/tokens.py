"""Token counting with tiktoken, fully offline.

tiktoken normally downloads its encodings on first use. chatroute ships `o200k_base` and
`cl100k_base` in chatroute/catalog/data/ (byte-identical to OpenAI's files; sha256 checked
against the hashes tiktoken itself pins) and builds `tiktoken.Encoding` from them directly.
We parse the .tiktoken file ourselves (same format tiktoken's load_tiktoken_bpe reads) rather
than calling load_tiktoken_bpe, because that also copies the file into a cache dir
(TIKTOKEN_CACHE_DIR or /tmp/data-gym-cache) and raises if a user-set cache dir is read-only.
Nothing here touches the network or environment variables.

Counts are exact for OpenAI models. Other vendors (Anthropic has no public tokenizer) are
estimated from the o200k count times a per-vendor factor, and flagged `estimated=True` so the
UI shows "≈" until the API reports real usage. Factors are rough averages on English prose
and code; they err high so context checks and cost estimates err on the safe side:
    anthropic  1.20  (Claude's tokenizers produce ~15-25% more tokens than o200k on English)
    other      1.10  (Llama 3/Qwen/Gemini/DeepSeek vocabularies are close to o200k; Mistral's
                      smaller vocabularies a little worse)
Encodings load lazily (~0.3 s for o200k) on first count, once per process, thread-safely.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import threading
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tiktoken

# name -> (file in chatroute/catalog/data, sha256 tiktoken expects: tiktoken_ext/openai_public.py)
ENCODINGS: dict[str, tuple[str, str]] = {
    "o200k_base": (
        "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"

# pat_str and special tokens copied from tiktoken_ext/openai_public.py (tiktoken 0.14, MIT).
# Calling those constructors would download the ranks, so we cannot use them at run time;
# tests/catalog/test_tokens.py checks these stay equal to tiktoken's own definitions.
_SPECS: dict[str, tuple[str, dict[str, int]]] = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
        r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        {
            _ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": (
        "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
}

ESTIMATE_FACTORS: dict[str, float] = {"anthropic": 1.20, "other": 1.10}

# OpenAI chat format overhead (OpenAI cookbook, "How to count tokens with tiktoken"):
# every message costs 3 tokens of framing plus its role, and the reply is primed with 3.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMER = 3

_lock = threading.Lock()
_cache: dict[str, tiktoken.Encoding] = {}


class EncodingDataError(RuntimeError):
    """A shipped encoding file is missing or corrupt (broken install)."""


def load_ranks(name: str) -> dict[bytes, int]:
    """Read and verify a shipped .tiktoken file: one `base64(token) rank` pair per line."""
    filename, expected = ENCODINGS[name]
    data = resources.files("chatroute.catalog.data").joinpath(filename).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise EncodingDataError(f"{filename}: sha256 {actual} does not match tiktoken's {expected}")
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }


def get_encoding(name: str = "o200k_base") -> tiktoken.Encoding:
    """A shipped encoding, built once per process without network."""
    enc = _cache.get(name)
    if enc is not None:
        return enc
    with _lock:
        enc = _cache.get(name)
        if enc is None:
            import tiktoken  # lazy: importing chatroute.catalog must stay cheap

            pat_str, special = _SPECS[name]
            enc = tiktoken.Encoding(
                name=name,
                pat_str=pat_str,
                mergeable_ranks=load_ranks(name),
                special_tokens=special,
            )
            _cache[name] = enc
    return enc


# ---------------------------------------------------------------- which tokenizer for a model

_OPENAI_NAME = re.compile(
    r"^(ft:)?(gpt-|chatgpt-|o\d|text-embedding-|davinci|babbage|computer-use|codex)", re.I
)
_ANTHROPIC_NAME = re.compile(r"^claude", re.I)


def _model_part(model_id: str) -> tuple[str, str]:
    """('openai/gpt-4o') -> ('openai', 'gpt-4o'); 'openrouter/anthropic/claude-x' -> ('anthropic', 'claude-x')."""
    parts = model_id.split("/")
    name = parts[-1]
    vendor = parts[-2].lower() if len(parts) >= 2 else ""
    return vendor, name


def tokenizer_for(model_id: str) -> tuple[str, str | None]:
    """(encoding name, estimate family or None when exact) for a model id or bare name."""
    vendor, name = _model_part(model_id)
    if _OPENAI_NAME.match(name) and not name.lower().startswith("gpt-oss"):
        # gpt-4 / gpt-3.5 era models use cl100k_base; newer ones o200k_base. tiktoken's
        # table is a pure dict lookup (no download).
        from tiktoken.model import encoding_name_for_model

        try:
            enc_name = encoding_name_for_model(name.removeprefix("ft:").split(":")[0])
        except KeyError:
            enc_name = "o200k_base"  # new OpenAI models all use o200k
        if enc_name in ENCODINGS:
            return enc_name, None
        return "o200k_base", "other"
    if _ANTHROPIC_NAME.match(name) or vendor == "anthropic":
        return "o200k_base", "anthropic"
    return "o200k_base", "other"


def count_tokens(text: str, model_id: str) -> tuple[int, bool]:
    """Tokens in `text` for `model_id`; the flag is True when the count is an estimate."""
    enc_name, family = tokenizer_for(model_id)
    n = len(get_encoding(enc_name).encode(text, disallowed_special=()))
    if family is None:
        return n, False
    return math.ceil(n * ESTIMATE_FACTORS[family]), True


def _role_content(m: Any) -> tuple[str, str]:
    if isinstance(m, Mapping):
        return str(m.get("role", "")), str(m.get("content", "") or "")
    return str(getattr(m, "role", "")), str(getattr(m, "content", "") or "")


def count_messages(
    messages: Iterable[Any], system: str | None, model_id: str
) -> tuple[int, bool]:
    """Prompt tokens for a chat request (messages as Message objects or role/content dicts).

    Uses OpenAI's chat framing overhead; for estimated models the same framing is added to the
    scaled content count (vendors' framing differs by a few tokens, well inside the estimate).
    """
    enc_name, family = tokenizer_for(model_id)
    enc = get_encoding(enc_name)
    factor = 1.0 if family is None else ESTIMATE_FACTORS[family]
    convo: list[tuple[str, str]] = []
    if system:
        convo.append(("system", system))
    convo.extend(_role_content(m) for m in messages)
    content = sum(len(enc.encode(c, disallowed_special=())) for _, c in convo)
    framing = sum(TOKENS_PER_MESSAGE + len(enc.encode(r, disallowed_special=())) for r, _ in convo)
    total = math.ceil(content * factor) + framing + TOKENS_REPLY_PRIMER
    return total, family is not None
