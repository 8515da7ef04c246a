"""Default ability priors (0..1) for models, before the router has learned anything.

Source and method. The figures are approximate LMArena (formerly Chatbot Arena) text
leaderboard Elo scores, style control on, as shown on the public leaderboard around
August-September 2025, rounded to 5 points. They were transcribed by hand, not fetched (the
build machine has no web access), so treat them as a coarse tier list, not measurements.
Models released after that reference (marked "est.") are placed by family and position in
their vendor's line-up. Elo maps linearly to ability:

    ability = clamp((elo - 1100) / 400, 0.05, 0.97)

so 1300 -> 0.50, 1400 -> 0.75, 1500 -> 0.97. Anything not in the table falls back to name
heuristics: a parameter count (`7b`, `135m`, or the local server's own figure), else the
conservative UNKNOWN_ABILITY. Users override per model with `ability = 0.7` under
`[models."p/m"]`, and that always wins.
"""

from __future__ import annotations

import re
from typing import NamedTuple

ELO_REFERENCE = "LMArena text leaderboard (style control), approx. Aug-Sep 2025, hand-transcribed"

# (pattern on the normalised name, Elo). First match wins, so specific patterns come first.
# Names are normalised: lower case, vendor prefix dropped ("anthropic/claude-x" -> "claude-x"),
# "." -> "-" (OpenRouter spells claude-3.5-sonnet, Anthropic claude-3-5-sonnet), ":" -> "-"
# (Ollama spells mixtral-8x22b mixtral:8x22b, and OpenAI a fine-tune ft:gpt-4o-mini:org::id).
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
    (r"^(ft-)?(chatgpt-)?gpt-4o-mini", 1315),
    (r"^chatgpt-4o", 1440),
    (r"^(ft-)?gpt-4o", 1345),
    (r"^gpt-4-(turbo|1106|0125)", 1280),
    (r"^gpt-4(-|$)", 1230),
    (r"^(ft-)?gpt-3-5", 1150),
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
    return n.replace(".", "-").replace(":", "-")


# "7b", "8x7b", "3.8b", "135m"; a separator (or the start) before it, never a digit or a dot, so
# the version in "gemma-2-27b" or "qwen2.5-32b" is not read as part of the size.
_PARAMS = re.compile(r"(?:^|[^a-z0-9.])(?:(\d+)x)?(\d+(?:\.\d+)?)([bm])(?![a-z0-9])")

UNKNOWN_ABILITY = 0.30  # a name nothing is known about: below every current hosted model
# Parameters (billions) -> ability, for names the table does not know. Sizes at or under 9B
# line up with the table's small open models (llama-3-8b 0.25, llama-3-2-1b 0.05).
_SIZE_TIERS: tuple[tuple[float, float], ...] = (
    (0.6, 0.05), (2, 0.08), (4, 0.15), (9, 0.25), (15, 0.33), (35, 0.45), (80, 0.55),
)
_LARGEST_TIER = 0.62


class AbilityPrior(NamedTuple):
    """A prior and where it came from: `leaderboard` (ELO_TABLE), `name` (a parameter count in
    the name), `server` (the local server's own metadata), `unknown`, or `config`."""

    value: float
    source: str
    detail: str | None = None  # "135M", "7.6B": the size it was read from

    def describe(self) -> str:
        """A short label for tables and the why panel, e.g. `unknown: prior 0.30`."""
        if self.source == "unknown":
            return f"ability unknown: prior {self.value:.2f}"
        if self.source in ("name", "server"):
            where = "name" if self.source == "name" else "server metadata"
            return f"ability from size ({self.detail}, {where}): {self.value:.2f}"
        if self.source == "config":
            return f"ability {self.value:.2f} (your config)"
        return f"ability {self.value:.2f} (leaderboard tier)"


def _param_count(name: str) -> float | None:
    """Billions of parameters from names like `qwen2.5:7b`, `phi-3.8b`, `gemma-2-27b-it`,
    `mixtral-8x7b`, `smollm2-135m-instruct` (read before normalise turns dots into hyphens,
    which would make "gemma-2-27b" 2.27B). Millions below 10 are not read: `-1m` is usually a
    context size."""
    best: float | None = None
    for m in _PARAMS.finditer(name.lower().rsplit("/", 1)[-1].replace(":", "-")):
        size = float(m.group(2))
        if m.group(3) == "m":
            if size < 10:
                continue
            size /= 1000
        if m.group(1):  # mixture of experts: count roughly 60% of the total
            size *= int(m.group(1)) * 0.6
        best = size if best is None else max(best, size)
    return best


def parse_param_size(text: str | None) -> float | None:
    """Billions of parameters from a server's label: `7.6B`, `135M`, `1.2T`, `8x7B`."""
    if not text:
        return None
    m = re.fullmatch(r"\s*(?:(\d+)\s*x\s*)?(\d+(?:\.\d+)?)\s*([kmbt])?\s*", text.strip().lower())
    if not m:
        return None
    size = float(m.group(2)) * {"k": 1e-6, "m": 1e-3, "b": 1.0, "t": 1e3, None: 1e-9}[m.group(3)]
    if m.group(1):
        size *= int(m.group(1)) * 0.6
    return size if size > 0 else None


def size_label(params_b: float) -> str:
    return f"{params_b * 1000:.0f}M" if params_b < 1 else f"{params_b:.3g}B"


def ability_from_size(params_b: float) -> float:
    for limit, ability in _SIZE_TIERS:
        if params_b <= limit:
            return ability
    return _LARGEST_TIER


def heuristic_ability(name: str) -> float:
    """A guess from the name alone, for models not in ELO_TABLE. Conservative: a name that
    says nothing about size gets UNKNOWN_ABILITY at most, since a weak model over-trusted
    takes hard prompts, while an underrated one only costs a little more on them."""
    n = normalise(name)
    p = _param_count(name)
    if p is not None:
        return ability_from_size(p)
    if re.search(r"nano|lite|tiny", n):
        return 0.2
    if re.search(r"mini|haiku|flash|small|fast", n):
        return 0.25
    return UNKNOWN_ABILITY


# What may follow a leaderboard name in a model the price table does not list, for it to be
# that model still: a date or version, a release tag, a quantisation. Anything else ("-mni",
# "-tiny", "-wrong") makes it another model, or a typo, which is rated as unknown.
_RELEASE_TOKEN = re.compile(
    r"\d+|v\d+|p\d+|q\d+|fp\d+|bf16|int\d+|[kmsl]|latest|preview|exp|experimental|instruct|chat|it|hf|turbo"
    r"|base|awq|gptq|gguf")


def _release_suffix(rest: str) -> bool:
    return all(_RELEASE_TOKEN.fullmatch(t) for t in re.split(r"[-_:@]+", rest) if t)


def ability_prior(name: str, *, server_params_b: float | None = None, listed: bool = True) -> AbilityPrior:
    """The prior for a model name, with its source. `server_params_b`: the parameter count the
    serving process reports (Ollama, llama.cpp), trusted over a size read from the name.
    `listed`: the price table lists the name, so it is a real model and a leaderboard entry's
    name may begin it ("gpt-5.4-mini-2026-03-17"); a name it does not list takes a
    leaderboard rating only when what follows the entry's name is a release tag, since an
    over-trusted typo ("gpt-4o-mni", rated as gpt-4o) takes hard prompts."""
    n = normalise(name)
    ceiling: float | None = None
    for pattern, elo in _COMPILED:
        m = pattern.search(n)
        if m and (listed or _release_suffix(n[m.end():])):
            return AbilityPrior(elo_to_ability(elo), "leaderboard")
        if m:
            # Another tag after a leaderboard name ("llama-3.3-70b-versatile", Groq's): not
            # trusted as that model, but no guess rates it above the model its name begins with.
            ceiling = elo_to_ability(elo)
            break
    if server_params_b is not None and server_params_b > 0:
        prior = AbilityPrior(ability_from_size(server_params_b), "server", size_label(server_params_b))
    elif (p := _param_count(name)) is not None:
        prior = AbilityPrior(ability_from_size(p), "name", size_label(p))
    else:
        prior = AbilityPrior(heuristic_ability(name), "unknown")
    if ceiling is not None and ceiling < prior.value:
        return AbilityPrior(ceiling, "leaderboard")
    return prior


def default_ability(name: str) -> float:
    """The ability prior for a model name (provider-side id or `provider/model`)."""
    return ability_prior(name).value


# Observed evidence lowers a prior, never below this share of it, and by at most MAX_OBSERVED.
MAX_OBSERVED_PENALTY = 0.15
OBSERVED_PRIOR_COUNT = 10.0  # pseudo-outcomes: one bad answer among none moves it 1/11 of the way
GOOD_WEIGHT = 0.1  # a good answer is weak evidence (most answers are fine), a bad one strong


def observed_penalty(bad: float, good: float = 0.0) -> float:
    """How far (ability points) observed regenerations and failures lower a model's prior:
    MAX_OBSERVED_PENALTY * bad / (bad + OBSERVED_PRIOR_COUNT + GOOD_WEIGHT * good). Grows
    with each bad outcome by less than the one before, never reaches the cap, and shrinks as
    good answers accumulate."""
    bad, good = max(0.0, bad), max(0.0, good)
    if bad <= 0:
        return 0.0
    return MAX_OBSERVED_PENALTY * bad / (bad + OBSERVED_PRIOR_COUNT + GOOD_WEIGHT * good)
