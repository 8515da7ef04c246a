"""Config loading: a full example config, one-line errors with file:line:field, env fallbacks, secrets."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from chatroute.config import (
    DEFAULT_POOLS,
    EXAMPLE_CONFIG,
    LOCAL_PLACEHOLDER_KEY,
    Config,
    ProviderConfig,
    is_loopback_url,
    is_own_network_url,
    load_config,
    split_model_id,
)
from chatroute.errors import ConfigError
from chatroute.paths import Paths, resolve_paths

# A full example config, every section used: it must load as it stands.
DESIGN_EXAMPLE = """\
[providers.openai]
kind = "openai"                      # openai | anthropic (openai also covers OpenAI-compatible servers)
api_key_env = "OPENAI_API_KEY"       # base_url defaults to the SDK's, or OPENAI_BASE_URL

[providers.anthropic]
kind = "anthropic"
api_key_env = "ANTHROPIC_API_KEY"

[providers.ollama]
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"

[router]
pool = ["openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-3-5-haiku-20241022", "ollama/qwen2.5:7b"]
preset = "balanced"                  # frugal | balanced | best
default = "openai/gpt-4o-mini"       # the model when routing is off or undecidable

[models."ollama/qwen2.5:7b"]          # a model the catalogue does not know, or an override of one it does
input_cost_per_mtok = 0.0
output_cost_per_mtok = 0.0
context_window = 32768
ability = 0.55                       # 0..1, the router's prior for this model's strength
"""


@pytest.fixture
def paths() -> Paths:
    p = resolve_paths()
    p.config_file.parent.mkdir(parents=True, exist_ok=True)
    return p


def write(paths: Paths, text: str, mode: int = 0o600) -> Path:
    paths.config_file.write_text(text, encoding="utf-8")
    os.chmod(paths.config_file, mode)
    return paths.config_file


def error_of(paths: Paths, text: str) -> str:
    write(paths, text)
    with pytest.raises(ConfigError) as info:
        load_config(paths)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert info.value.exit_code == 2
    return msg


# --- the full example ---------------------------------------------------------------------------


def test_design_example_loads_as_it_stands(paths: Paths) -> None:
    file = write(paths, DESIGN_EXAMPLE)
    cfg = load_config(paths)
    assert cfg.source == file
    assert list(cfg.providers) == ["openai", "anthropic", "ollama"]
    assert cfg.providers["anthropic"].kind == "anthropic"
    assert cfg.providers["ollama"].base_url == "http://127.0.0.1:11434/v1"
    assert cfg.router.pool[-1] == "ollama/qwen2.5:7b"
    assert cfg.router.preset == "balanced"
    assert cfg.router.default == "openai/gpt-4o-mini"
    over = cfg.models["ollama/qwen2.5:7b"]
    assert (over.input_cost_per_mtok, over.context_window, over.ability) == (0.0, 32768, 0.55)
    assert cfg.is_loopback("ollama") and not cfg.is_loopback("openai")
    assert cfg.provider_for("ollama/qwen2.5:7b") is cfg.providers["ollama"]
    assert cfg.warnings == []
    assert not cfg.created_example
    # Defaults from the contract.
    assert cfg.providers["openai"].max_retries == 0
    assert cfg.cache.threshold == 0.65 and cfg.ui.theme == "chatroute-dark"  # the neighbour bound; the verifier decides


def test_design_example_keys(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    write(paths, DESIGN_EXAMPLE)
    cfg = load_config(paths)
    assert cfg.providers["openai"].api_key() is None  # named variable unset
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert cfg.providers["openai"].api_key() == "sk-test"
    # A local server needs no key and is never sent the OpenAI one.
    assert cfg.providers["ollama"].api_key() == LOCAL_PLACEHOLDER_KEY
    assert cfg.providers["openai"].resolved_base_url() is None
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.example/v1")
    assert cfg.providers["openai"].resolved_base_url() == "https://proxy.example/v1"
    assert cfg.providers["ollama"].resolved_base_url() == "http://127.0.0.1:11434/v1"


# --- errors: file, line and field ---------------------------------------------------------------


def test_unknown_field_names_file_line_and_field(paths: Paths) -> None:
    msg = error_of(paths, DESIGN_EXAMPLE.replace('api_key_env = "ANTHROPIC_API_KEY"', 'api_key_envv = "X"'))
    assert msg.startswith(f"{paths.config_file}:7: providers.anthropic.api_key_envv: unknown field")
    assert "did you mean 'api_key_env'" in msg


def test_unknown_field_in_quoted_table(paths: Paths) -> None:
    msg = error_of(paths, DESIGN_EXAMPLE + "abilty = 0.5\n")
    assert msg.startswith(f'{paths.config_file}:23: models."ollama/qwen2.5:7b".abilty: unknown field')


def test_unknown_top_level_table(paths: Paths) -> None:
    msg = error_of(paths, "[ui]\ntheme = 'x'\n\n[routre]\npool = []\n")
    assert msg.startswith(f"{paths.config_file}:4: routre: unknown field")


def test_runtime_fields_are_not_settable(paths: Paths) -> None:
    msg = error_of(paths, 'source = "/etc/passwd"\n')
    assert msg.startswith(f"{paths.config_file}:1: source: unknown field")


def test_bad_preset(paths: Paths) -> None:
    msg = error_of(paths, DESIGN_EXAMPLE.replace('preset = "balanced"', 'preset = "cheap"'))
    assert msg == (
        f"{paths.config_file}:15: router.preset: Input should be 'frugal', 'balanced' or 'best'"
    )


def test_wrong_type(paths: Paths) -> None:
    msg = error_of(paths, DESIGN_EXAMPLE.replace("context_window = 32768", 'context_window = "32k"'))
    assert msg.startswith(f'{paths.config_file}:21: models."ollama/qwen2.5:7b".context_window: ')
    assert "integer" in msg


def test_wrong_type_in_multiline_array_points_at_item(paths: Paths) -> None:
    text = '[providers.openai]\n\n[router]\npool = [\n  "openai/gpt-4o-mini",\n  3,\n]\n'
    msg = error_of(paths, text)
    assert msg.startswith(f"{paths.config_file}:6: router.pool[1]: ")


def test_dotted_and_inline_keys(paths: Paths) -> None:
    msg = error_of(paths, 'router.preset = "x"\n')
    assert msg.startswith(f"{paths.config_file}:1: router.preset: ")
    msg = error_of(paths, '[providers]\nopenai = { kind = "openai", api_kye = "x" }\n')
    assert msg.startswith(f"{paths.config_file}:2: providers.openai.api_kye: unknown field")


def test_ability_and_costs_are_range_checked(paths: Paths) -> None:
    msg = error_of(paths, DESIGN_EXAMPLE.replace("ability = 0.55", "ability = 1.5"))
    assert msg.startswith(f'{paths.config_file}:22: models."ollama/qwen2.5:7b".ability: ')
    msg = error_of(paths, DESIGN_EXAMPLE.replace("output_cost_per_mtok = 0.0", "output_cost_per_mtok = -1.0"))
    assert f"{paths.config_file}:20: " in msg
    msg = error_of(paths, DESIGN_EXAMPLE.replace("output_cost_per_mtok = 0.0", "output_cost_per_mtok = inf"))
    assert f"{paths.config_file}:20: " in msg and "finite" in msg


def test_toml_syntax_error_has_line(paths: Paths) -> None:
    msg = error_of(paths, "[router]\npreset = \n")
    assert msg.startswith(f"{paths.config_file}:2: TOML syntax error: Invalid value")
    msg = error_of(paths, '[ui]\ntheme = "unterminated\n')
    assert msg.startswith(f"{paths.config_file}:2: TOML syntax error")


def test_pool_entry_with_unconfigured_provider(paths: Paths) -> None:
    text = DESIGN_EXAMPLE.replace('"ollama/qwen2.5:7b"]', '"olama/qwen2.5:7b"]', 1)
    msg = error_of(paths, text)
    assert msg.startswith(f"{paths.config_file}:14: router.pool[3]: unknown provider 'olama'")


def test_default_and_baseline_must_name_configured_provider(paths: Paths) -> None:
    msg = error_of(paths, DESIGN_EXAMPLE.replace('default = "openai/gpt-4o-mini"', 'default = "groq/llama"'))
    assert msg.startswith(f"{paths.config_file}:16: router.default: unknown provider 'groq'")
    msg = error_of(paths, DESIGN_EXAMPLE + '\n[ui]\nbaseline_model = "mistral/large"\n')
    assert msg.startswith(f"{paths.config_file}:25: ui.baseline_model: unknown provider 'mistral'")


def test_bare_model_names_are_left_to_the_catalogue(paths: Paths) -> None:
    write(paths, DESIGN_EXAMPLE.replace('default = "openai/gpt-4o-mini"', 'default = "gpt-4o-mini"'))
    assert load_config(paths).router.default == "gpt-4o-mini"


def test_bad_provider_names(paths: Paths) -> None:
    msg = error_of(paths, '[providers."a/b"]\nkind = "openai"\n')
    assert msg.startswith(f'{paths.config_file}:1: providers."a/b": ') and "'/'" in msg
    msg = error_of(paths, '[providers.""]\nkind = "openai"\n')
    assert msg.startswith(f'{paths.config_file}:1: providers."": ')


def test_bad_base_url_not_echoed(paths: Paths) -> None:
    msg = error_of(paths, '[providers.x]\nkind = "openai"\nbase_url = "ftp://user:pw@host"\n')
    assert msg.startswith(f"{paths.config_file}:3: providers.x.base_url: must be an http(s) URL") and "pw" not in msg


def test_bad_kind_and_missing_kind_inferred(paths: Paths) -> None:
    msg = error_of(paths, '[providers.x]\nkind = "gemini"\n')
    assert msg.startswith(f"{paths.config_file}:2: providers.x.kind: Input should be 'openai' or 'anthropic'")
    write(paths, '[providers.anthropic]\n\n[providers.vllm]\nbase_url = "http://127.0.0.1:8000/v1"\n')
    cfg = load_config(paths)
    assert cfg.providers["anthropic"].kind == "anthropic" and cfg.providers["vllm"].kind == "openai"
    # No pool given: the default pool of the configured well-known provider.
    assert cfg.router.pool == DEFAULT_POOLS["anthropic"]


def test_env_preset_override(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    write(paths, DESIGN_EXAMPLE)
    monkeypatch.setenv("CHATROUTE_PRESET", "frugal")
    monkeypatch.setenv("CHATROUTE_THEME", "chatroute-light")
    cfg = load_config(paths)
    assert cfg.router.preset == "frugal" and cfg.ui.theme == "chatroute-light"
    monkeypatch.setenv("CHATROUTE_PRESET", "nope")
    with pytest.raises(ConfigError, match=r"^CHATROUTE_PRESET='nope': must be one of frugal, balanced, best$"):
        load_config(paths)


def test_unreadable_utf8(paths: Paths) -> None:
    paths.config_file.write_bytes(b'[ui]\ntheme = "\xff"\n')
    with pytest.raises(ConfigError, match=r":2: config is not valid UTF-8$"):
        load_config(paths)


# --- no config file -----------------------------------------------------------------------------


def test_no_config_and_env_keys(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-o")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-a")
    cfg = load_config(paths)
    assert list(cfg.providers) == ["openai", "anthropic"]
    assert cfg.router.pool == DEFAULT_POOLS["openai"] + DEFAULT_POOLS["anthropic"]
    assert cfg.router.default == "openai/gpt-4o-mini"
    assert cfg.providers["anthropic"].api_key() == "sk-a"
    assert cfg.source is None and cfg.created_example


def test_no_config_base_url_only(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://localhost:4000")
    cfg = load_config(paths, write_example=False)
    assert list(cfg.providers) == ["anthropic"]
    p = cfg.providers["anthropic"]
    assert p.resolved_base_url() == "http://localhost:4000"
    assert p.api_key() == LOCAL_PLACEHOLDER_KEY  # local proxy without a key
    assert cfg.router.default == "anthropic/claude-haiku-4-5"
    assert not paths.config_file.exists()


def test_no_config_and_nothing_is_not_an_error(paths: Paths) -> None:
    cfg = load_config(paths)
    assert cfg.providers == {} and cfg.router.pool == [] and cfg.router.default is None


def test_example_written_on_first_run_and_loads(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    paths.config_file.parent.rmdir()  # the config dir does not exist yet on a fresh machine
    cfg = load_config(paths)
    assert cfg.created_example
    assert paths.config_file.read_text(encoding="utf-8") == EXAMPLE_CONFIG
    assert paths.config_file.stat().st_mode & 0o077 == 0
    # Second run: the example exists, is all comments, so behaves like no config.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-o")
    again = load_config(paths)
    assert not again.created_example and again.source is None
    assert again.router.pool == DEFAULT_POOLS["openai"]


def test_example_settings_uncommented_load(paths: Paths) -> None:
    # Every "# " line of the example is a valid setting: uncommented, it is a full config.
    text = "\n".join(line[2:] if line.startswith("# ") else line for line in EXAMPLE_CONFIG.splitlines())
    write(paths, text)
    cfg = load_config(paths)
    assert set(cfg.providers) == {"openai", "anthropic", "ollama", "openrouter"}
    # The README's weights (issue 12: the example said 2.0 / 0.01 against the README's 25.0 / 0.003).
    assert cfg.budget.daily_usd == 2.0 and cfg.router.cost_weight == 25.0 and cfg.router.latency_weight == 0.003
    assert "ollama/qwen2.5:7b" in cfg.models
    assert cfg.warnings == []


def test_example_is_the_readmes_and_prices_every_model(paths: Paths) -> None:
    """One source for the README's example and the file written on first run, naming only
    models the bundled catalogue prices (or the example prices itself)."""
    from chatroute.catalog import Catalog
    from chatroute.config_example import EXAMPLE_SETTINGS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n", 1)[1].split("```\n", 1)[0]
    assert block == EXAMPLE_SETTINGS
    assert "claude-3-5-haiku-20241022" not in EXAMPLE_CONFIG
    write(paths, "\n".join(line[2:] if line.startswith("# ") else line for line in EXAMPLE_CONFIG.splitlines()))
    cfg = load_config(paths)
    catalog = Catalog.build(cfg, paths)
    models = {*cfg.router.pool, cfg.router.default, cfg.ui.baseline_model}
    for model in models:
        assert catalog.get(model).price_known, model


def test_env_providers_used_when_config_declares_none(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-o")
    write(paths, '[ui]\ntheme = "chatroute-light"\n')
    cfg = load_config(paths)
    assert list(cfg.providers) == ["openai"] and cfg.ui.theme == "chatroute-light"
    assert cfg.source == paths.config_file


# --- secrets and warnings -----------------------------------------------------------------------

SECRET = "sk-live-SUPERSECRET123"


def test_inline_key_never_shown(paths: Paths) -> None:
    write(paths, f'[providers.openai]\nkind = "openai"\napi_key = "{SECRET}"\n')
    cfg = load_config(paths)
    assert cfg.providers["openai"].api_key() == SECRET
    for text in (repr(cfg), str(cfg), repr(cfg.providers["openai"]), cfg.model_dump_json()):
        assert SECRET not in text
    # Nor in an error about that very table.
    msg = error_of(paths, f'[providers.openai]\nkind = "openai"\napi_key = "{SECRET}"\ntimeout_s = "{SECRET}"\n')
    assert SECRET not in msg and msg.startswith(f"{paths.config_file}:4: providers.openai.timeout_s: ")
    msg = error_of(paths, f'[providers.openai]\napi_key = "{SECRET}"\napi_key_env = "X"\n')
    assert SECRET not in msg and "not both" in msg and f"{paths.config_file}:1: providers.openai" in msg
    with pytest.raises(ConfigError) as info:
        write(paths, f'[providers.openai]\napi_key = {SECRET}\n')  # unquoted: a syntax error
        load_config(paths)
    assert SECRET not in str(info.value)


def test_permission_warning_for_inline_key(paths: Paths) -> None:
    write(paths, f'[providers.openai]\napi_key = "{SECRET}"\n', mode=0o644)
    cfg = load_config(paths)
    assert len(cfg.warnings) == 1 and "chmod 600" in cfg.warnings[0] and SECRET not in cfg.warnings[0]
    os.chmod(paths.config_file, 0o600)
    assert load_config(paths).warnings == []
    # No inline key: a world-readable config is fine.
    write(paths, DESIGN_EXAMPLE, mode=0o644)
    assert load_config(paths).warnings == []


def test_non_https_warning(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTE_KEY", "k")
    write(paths, '[providers.box]\nbase_url = "http://u:pw@10.0.0.5:8000/v1"\napi_key_env = "REMOTE_KEY"\n')
    warnings = load_config(paths).warnings
    assert len(warnings) == 1 and "http://10.0.0.5:8000 is neither https nor local" in warnings[0]
    assert "pw" not in warnings[0]
    # No key would be sent: nothing to warn about.
    monkeypatch.delenv("REMOTE_KEY")
    assert load_config(paths).warnings == []
    # Loopback over http is fine.
    write(paths, '[providers.box]\nbase_url = "http://localhost:8000/v1"\napi_key_env = "REMOTE_KEY"\n')
    monkeypatch.setenv("REMOTE_KEY", "k")
    assert load_config(paths).warnings == []


def test_openai_key_to_third_party_warning(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-o")
    write(paths, '[providers.openrouter]\nbase_url = "https://openrouter.ai/api/v1"\n')
    warnings = load_config(paths).warnings
    assert len(warnings) == 1 and "OPENAI_API_KEY would be sent to openrouter.ai" in warnings[0]


# --- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:11434/v1", True),
        ("http://127.1.2.3/v1", True),
        ("http://localhost:8080", True),
        ("http://[::1]:1234/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.5", False),
        ("http://localhost.evil.com", False),
        (None, False),
        ("", False),
    ],
)
def test_is_loopback_url(url: str | None, local: bool) -> None:
    assert is_loopback_url(url) is local


def test_split_model_id() -> None:
    assert split_model_id("openai/gpt-4o") == ("openai", "gpt-4o")
    assert split_model_id("openrouter/anthropic/claude-3.5") == ("openrouter", "anthropic/claude-3.5")
    assert split_model_id("gpt-4o") == (None, "gpt-4o")


def test_provider_config_direct_construction() -> None:
    p = ProviderConfig(name="anthropic")
    assert p.kind == "anthropic" and p.timeout_s == 600 and p.first_token_timeout_s == 60
    assert isinstance(Config(providers={"anthropic": p}), Config)
    assert re.search(r"api_key_env=None", repr(p))


TRICKY_TOML = '''\
# comment with [brackets] and key = "value"
title = """multi
line = "not a key"
[not.a.table]"""
lit = \'\'\'raw ''quotes'' ]\'\'\'
"quoted \\" key" = 1
'literal.key' = 2
a.b . c = [1, [2, 3], { x = 4, y.z = "}" }]
when = 1979-05-27 07:32:00Z

[tab."x.y".'z'] # trailing
arr = [
  "a", # comment ]
  "b",
]
inline = { p = { q = [ { r = 1 } ] } }

[[aot]]
k = 1
[[aot]]
k = 2
[aot.sub]
m = 3
'''


def test_key_scanner_finds_every_key() -> None:
    import tomllib

    from chatroute.config_keys import KeyScanner

    lines = KeyScanner(TRICKY_TOML).scan()

    def leaves(obj, path=()):
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield from leaves(v, (*path, k))
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                yield from leaves(v, (*path, i))
        else:
            yield path

    for path in leaves(tomllib.loads(TRICKY_TOML)):
        assert path in lines, path
    assert lines[("quoted \" key",)] == 6
    assert lines[("a", "b", "c", 2, "y", "z")] == 8
    assert lines[("tab", "x.y", "z", "arr", 1)] == 14
    assert lines[("aot", 1, "k")] == 21
    assert lines[("aot", 1, "sub", "m")] == 23


def test_the_readme_names_every_config_key() -> None:
    """Every key config.toml accepts is in the README's Configuration section (the example or the
    paragraph after it): `api_key`, `max_retries`, the cache prices and `capabilities` were not."""
    from pydantic import BaseModel

    from chatroute.config import ConfigFile

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Configuration\n")
    section = readme[start:readme.index("\n## ", start + 1)]
    missing = []
    for table, field in ConfigFile.model_fields.items():
        inner = field.annotation
        args = getattr(inner, "__args__", ())  # dict[str, ProviderConfig] -> ProviderConfig
        model = args[-1] if args else inner
        assert isinstance(model, type) and issubclass(model, BaseModel), table
        for name, info in model.model_fields.items():
            key = info.alias or name
            if key != "name" and f"`{key}" not in section and f"\n{key} =" not in section \
                    and f"# {key} =" not in section:
                missing.append(f"{table}.{key}")
    assert missing == []


@pytest.mark.parametrize(("url", "own"), [
    ("http://127.0.0.1:8080/v1", True),
    ("http://localhost:11434", True),
    ("http://192.168.1.20:11434", True),          # RFC 1918
    ("http://10.0.0.5:8080/v1", True),
    ("http://172.16.4.2:1234/v1", True),
    ("http://172.31.255.1/v1", True),
    ("http://100.101.102.103:11434", True),       # RFC 6598: Tailscale's addresses, carrier NAT
    ("http://169.254.10.1:8080", True),           # link-local
    ("http://[fd12:3456::1]:8080/v1", True),      # unique local (fc00::/7)
    ("http://[fe80::1%25eth0]:8080/v1", True),    # link-local, with its zone
    ("http://[::ffff:192.168.1.20]:8080", True),  # an IPv4-mapped private address
    ("http://gpu-box:11434", True),               # a single label: only a local resolver knows it
    ("http://ollama:11434/v1", True),             # a compose service
    ("http://gpu-box.local:11434", True),         # mDNS
    ("http://nas.home.arpa:8080", True),
    ("http://box.lan:8080", True),
    ("http://llm.internal:8000/v1", True),
    ("http://172.32.0.1/v1", False),              # just past 172.16/12
    ("http://8.8.8.8/v1", False),
    ("http://192.0.2.2/v1", False),               # documentation space, not a LAN's
    ("https://api.openai.com/v1", False),
    ("https://api.deepseek.com", False),
    ("https://my-llm.example.com/v1", False),
    ("http://[2001:db8::1]/v1", False),
    ("", False),
    (None, False),
])
def test_is_own_network_url(url: str | None, own: bool) -> None:
    assert is_own_network_url(url) is own
