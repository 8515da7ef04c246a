"""Default ability priors (0..1) for models, before the router has learned anything.

Source and method. The figures are approximate LMArena (formerly Chatbot Arena) text
leaderboard Elo scores, style control on, as shown on the public leaderboard around
August-September 2025, rounded to 5 points. They were transcribed by hand, not fetched (the
build machine has no web access), so treat them as a coarse tier list, not measurements.
Models released after that reference (marked "est.") are placed by family and position in
their vendor's line-up. Elo maps linearly to ability:

    ability = clamp((elo - 1100) / 400, 0.05, 0.97)

so 1300 -> 0.50, 1400 -> 0.75, 1500 -> 0.97. Anything not in the table falls back to name
heuristics (parameter count like `7b`, then words like mini/haiku/flash/small vs
pro/opus/large). Users override per model with `ability = 0.7` under `[models."p/m"]`.
"""

from __future__ import annotations

import re

ELO_REFERENCE = "LMArena text leaderboard (style control), approx. Aug-Sep 2025, hand-transcribed"

# (pattern on the normalised name, Elo). First match wins, so specific patterns come first.
# Names are normalised: lower case, vendor prefix dropped ("anthropic/claude-x" -> "claude-x"),
# "." -> "-" (OpenRouter spells claude-3.5-sonnet, Anthropic claude-3-5-sonnet).
ELO_TABLE: tuple[tuple[str, int], ...] = (
    # OpenAI
    (r"^gpt-6.*nano", 1360),  # est.
    (r"^gpt-6.*mini", 1410),  # est.
    (r"^gpt-6", 1470),  # est.
    (r"^gpt-5.*nano", 1340),
    (r"^gpt-5.*mini", 1390),
    (r"^gpt-5", 1440),
    (r"^gpt-4-5", 1440),
    (r"^gpt-4-1-nano", 1320),  # gpt-4.1; "gpt-4-1106" must not match these three
    (r"^gpt-4-1-mini", 1370),
    (r"^gpt-4-1(-|$)", 1410),
    (r"^(ft:)?(chatgpt-)?gpt-4o-mini", 1315),
    (r"^chatgpt-4o", 1440),
    (r"^(ft:)?gpt-4o", 1345),
    (r"^gpt-4-(turbo|1106|0125)", 1280),
    (r"^gpt-4(-|$)", 1230),
    (r"^(ft:)?gpt-3-5", 1150),
    (r"^o1-mini", 1355),
    (r"^o1", 1400),
    (r"^o3-mini", 1350),
    (r"^o3", 1445),
    (r"^o4-mini", 1390),
    (r"gpt-oss-?120b", 1355),
    (r"gpt-oss-?20b", 1320),
    # Anthropic
    (r"^claude-3-haiku", 1240),
    (r"^claude-3-sonnet", 1260),
    (r"^claude-3-opus", 1320),
    (r"^claude-3-5-haiku", 1310),
    (r"^claude-3-5-sonnet", 1365),
    (r"^claude-3-7-sonnet", 1375),
    (r"^claude-(haiku-4|4-haiku)", 1400),  # est. (4.5)
    (r"^claude-sonnet-4-[5-9]", 1445),
    (r"^claude-(sonnet-4|4-sonnet)", 1410),
    (r"^claude-opus-4-[5-9]", 1470),  # est.
    (r"^claude-opus-4-1", 1445),
    (r"^claude-(opus-4|4-opus)", 1420),
    (r"^claude-haiku-[5-9]", 1420),  # est.
    (r"^claude-sonnet-[5-9]", 1470),  # est.
    (r"^claude-opus-[5-9]", 1490),  # est.
    # Google
    (r"gemini-3.*flash", 1460),  # est.
    (r"gemini-3", 1490),  # est.
    (r"gemini-2-5-flash-lite", 1375),
    (r"gemini-2-5-flash", 1410),
    (r"gemini-2-5-pro", 1455),
    (r"gemini-2-0-flash-lite", 1310),
    (r"gemini-2-0-flash", 1355),
    (r"gemini-1-5-flash-8b", 1210),
    (r"gemini-1-5-flash", 1270),
    (r"gemini-1-5-pro", 1320),
    (r"gemma-?3.*27b", 1340),
    # Meta
    (r"llama-?4.*maverick", 1330),
    (r"llama-?4.*scout", 1310),
    (r"llama-?3-1.*405b", 1335),
    (r"llama-?3-[13].*70b", 1300),
    (r"llama-?3.*70b", 1250),
    (r"llama-?3.*8b", 1200),
    (r"llama-?3-2.*3b", 1140),
    (r"llama-?3-2.*1b", 1080),
    # Qwen
    (r"qwen-?3.*235b", 1400),
    (r"qwen-?3.*32b", 1350),
    (r"qwen-?3.*30b", 1330),
    (r"qwq", 1320),
    (r"qwen-?2-5-max", 1375),
    (r"qwen-?2-5.*coder.*32b", 1270),
    (r"qwen-?2-5.*72b", 1300),
    (r"qwen-?2-5.*7b", 1200),  # est. (not on the arena; size-consistent with llama-3-8b)
    # Mistral
    (r"magistral-medium", 1330),
    (r"mistral-medium", 1380),
    (r"pixtral-large", 1300),
    (r"mistral-large", 1310),
    (r"mistral-small", 1290),
    (r"mistral-nemo|open-mistral-nemo", 1200),
    (r"ministral-8b", 1190),
    (r"ministral-3b", 1130),
    (r"codestral", 1250),
    (r"mixtral-8x22b", 1230),
    (r"mixtral-8x7b", 1160),
    (r"(open-)?mistral-7b", 1110),
    # DeepSeek
    (r"deepseek-(r1|reasoner)", 1420),
    (r"deepseek-v3-[12]", 1420),
    (r"deepseek-(v3|chat)", 1400),
    (r"deepseek-coder", 1260),
    # xAI
    (r"grok-4.*fast", 1420),
    (r"grok-4", 1430),
    (r"grok-3-mini", 1360),
    (r"grok-3", 1405),
    (r"grok-2", 1290),
    # others often reached through OpenRouter / Together / Groq
    (r"kimi-k2", 1420),
    (r"glm-4-5", 1410),
)

_COMPILED = tuple((re.compile(p), elo) for p, elo in ELO_TABLE)


def elo_to_ability(elo: float) -> float:
    return round(min(0.97, max(0.05, (elo - 1100) / 400)), 3)


def normalise(name: str) -> str:
    n = name.lower().rsplit("/", 1)[-1]
    return n.replace(".", "-")


_PARAMS = re.compile(r"(?:^|[^a-z0-9])(?:(\d+)x)?(\d+(?:-\d+)?)b(?![a-z])")


def _param_count(n: str) -> float | None:
    """Billions of parameters from names like `qwen2-5:7b`, `llama-3-1-8b`, `mixtral-8x7b`."""
    best: float | None = None
    for m in _PARAMS.finditer(n.replace(":", "-")):
        size = float(m.group(2).replace("-", "."))
        if m.group(1):  # mixture of experts: count roughly 60% of the total
            size *= int(m.group(1)) * 0.6
        best = size if best is None else max(best, size)
    return best


def heuristic_ability(name: str) -> float:
    """A guess from the name alone, for models not in ELO_TABLE."""
    n = normalise(name)
    p = _param_count(n)
    if p is not None:
        for limit, ability in ((2, 0.12), (4, 0.2), (9, 0.28), (15, 0.38), (35, 0.5), (80, 0.58)):
            if p <= limit:
                return ability
        return 0.65
    if re.search(r"nano|lite|tiny", n):
        return 0.4
    if re.search(r"mini|haiku|flash|small|fast", n):
        return 0.5
    if re.search(r"opus|pro|large|max|ultra", n):
        return 0.8
    return 0.6


def default_ability(name: str) -> float:
    """The ability prior for a model name (provider-side id or `provider/model`)."""
    n = normalise(name)
    for pattern, elo in _COMPILED:
        if pattern.search(n):
            return elo_to_ability(elo)
    return heuristic_ability(name)
