"""The example configuration: one text for both the file written on first run and the README.

`EXAMPLE_SETTINGS` is the README's TOML block, verbatim (a test compares them). The file
written on first run is a short header and those settings with every line commented out, so
it changes nothing until edited; deleting "# " from a line turns that setting on. Every model
it names is priced by the bundled catalogue, or priced by the example's own [models] table.
"""

from __future__ import annotations

EXAMPLE_SETTINGS = """\
[providers.openai]
kind = "openai"                      # openai | anthropic (openai also covers OpenAI-compatible servers)
api_key_env = "OPENAI_API_KEY"       # base_url defaults to the SDK's, or OPENAI_BASE_URL
timeout_s = 600                      # the whole request
first_token_timeout_s = 60           # no token by then: a routed turn fails over to another model

[providers.anthropic]
kind = "anthropic"
api_key_env = "ANTHROPIC_API_KEY"
# timeout_s = 600                    # the whole request, from sending to the last byte
# first_token_timeout_s = 60         # no first token by then: a routed turn tries another model
# stall_timeout_s = 30               # once the answer streams, nothing new for this long ends it

[providers.ollama]                   # any OpenAI-compatible server: Ollama, llama.cpp, vLLM, LM Studio
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"

[providers.openrouter]               # a hosted compatible service: its own key variable, so no other key reaches it
kind = "openai"
base_url = "https://openrouter.ai/api/v1"
api_key_env = "OPENROUTER_API_KEY"

[router]
pool = ["openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-haiku-4-5", "ollama/qwen2.5:7b"]
preset = "balanced"                  # frugal | balanced | best
# cost_weight = 25.0                 # explicit λ (quality points per dollar), replaces the preset's
# latency_weight = 0.003             # explicit μ (quality points per second)
stickiness = 0.03                    # bonus for staying on the conversation's current model (a move up needs 0.005)
default = "openai/gpt-4o-mini"       # the model when routing is off or undecidable
learn = true                         # adjust to your overrides, regenerations and compare picks
# failover_timeout_s = 90            # a routed turn tries other models for at most this long

[models."ollama/qwen2.5:7b"]          # a model the catalogue does not know, or an override of one it does
input_cost_per_mtok = 0.0
output_cost_per_mtok = 0.0
context_window = 32768
max_output_tokens = 8192
ability = 0.55                       # 0..1, the router's prior for this model's strength (always wins)

[cache]
enabled = true
max_entries = 50000                  # LRU eviction beyond this (0: nothing is kept or served)
ttl_hours = 720
threshold = 0.65                     # neighbour similarity for a candidate; the verifier and exact-fact rules decide

[budget]
daily_usd = 2.0                      # warn at 80%, step down to cheaper models near the cap
monthly_usd = 30.0

[chat]
max_history_tokens = 32000           # the most history a turn resends (0 = none); README: "The history window"

[ui]
theme = "chatroute-dark"             # chatroute-dark | chatroute-light | textual themes
baseline_model = "openai/gpt-4o"     # "what it would have cost" on the costs screen
"""

_HEADER = """\
## chatroute configuration (TOML); the README's Configuration section explains each setting.
##
## Everything below is commented out, so this file changes nothing until you edit it.
## Lines starting with "# " are settings: delete the "# " to use one.
## Unknown fields are an error, so a typo is reported with its file and line.
##
## With no [providers] tables, chatroute uses the providers whose variables are set:
##   OPENAI_API_KEY or OPENAI_BASE_URL         -> provider "openai"
##   ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL   -> provider "anthropic"
## and, when neither is set, a local server it finds (Ollama, llama.cpp, LM Studio).
## Environment overrides: CHATROUTE_PRESET (frugal|balanced|best), CHATROUTE_THEME.

"""


def _commented(settings: str) -> str:
    # A line that is already a commented-out setting stays as it is: one "# " to delete.
    return "".join(line if not line.strip() or line.startswith("# ") else f"# {line}"
                   for line in settings.splitlines(keepends=True))


EXAMPLE_CONFIG = _HEADER + _commented(EXAMPLE_SETTINGS)
