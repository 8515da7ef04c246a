"""The bundled snapshot's provenance, and refusing or accepting refreshed feeds."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import pytest

from chatroute.catalog.prices import (
    PriceFeedError,
    backup_path,
    load_bundled,
    load_current,
    update_prices,
)
from tests.engine.helpers import run_cli

from .helpers import make_feed, make_paths, write_json


def test_snapshot_matches_meta() -> None:
    data = resources.files("chatroute.catalog.data")
    meta = json.loads(data.joinpath("prices.meta.json").read_text())
    gz = data.joinpath("prices.json.gz").read_bytes()
    assert hashlib.sha256(gz).hexdigest() == meta["trimmed_gz_sha256"]
    assert hashlib.sha256(gzip.decompress(gz)).hexdigest() == meta["trimmed_sha256"]
    assert len(meta["original_sha256"]) == 64 and meta["as_of"][:2] == "20"
    table = load_bundled()
    assert len(table) == meta["models"] >= 300
    assert table.as_of == meta["as_of"] and "litellm" in table.source
    assert {e["mode"] for e in table.models.values()} == {"chat"}


def _snapshot(paths) -> dict[str, bytes | None]:
    files = [paths.prices_file, backup_path(paths.prices_file)]
    return {str(p): p.read_bytes() if p.exists() else None for p in files}


@pytest.fixture
def installed(chatroute_home: Path, tmp_path: Path):
    """A home with one good refreshed feed already installed (so there is something to keep)."""
    paths = make_paths(chatroute_home)
    update_prices(str(write_json(tmp_path / "good0.json", make_feed())), paths)
    return paths


def _bad_feeds(tmp_path: Path) -> dict[str, Path]:
    good = json.dumps(make_feed())
    feeds: dict[str, str | bytes] = {
        "truncated": good[: len(good) // 2],
        "not json": "<html>502 Bad Gateway</html>",
        "not an object": json.dumps([1, 2, 3]),
        "too few": json.dumps({k: v for k, v in list(make_feed(0).items())[:40]}),
        "shrunk": json.dumps(dict(list(make_feed().items())[:1000])),
        "negative": json.dumps({**make_feed(), "gpt-4o": {**make_feed(0)["gpt-4o"], "output_cost_per_token": -1e-5}}),
        "NaN": good.replace('"input_cost_per_token": 2.5e-06', '"input_cost_per_token": NaN', 1),
        "Infinity": good.replace('"output_cost_per_token": 1e-05', '"output_cost_per_token": Infinity', 1),
        "overflow": good.replace('"output_cost_per_token": 1e-05', '"output_cost_per_token": 1e999', 1),
        "nested negative": good.replace('"search_context_size_low": 0.01', '"search_context_size_low": -0.01', 1),
        "binary": b"\xff\xfe\x00garbage",
    }
    out = {}
    for i, (name, body) in enumerate(feeds.items()):
        p = tmp_path / f"bad{i}.json"
        p.write_bytes(body if isinstance(body, bytes) else body.encode())
        out[name] = p
    assert "NaN" in out["NaN"].read_text() and "Infinity" in out["Infinity"].read_text()
    return out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated", "not valid JSON"),
        ("not json", "not valid JSON"),
        ("not an object", "not a JSON object"),
        ("too few", "at least 50"),
        ("shrunk", "shrinks by more than half"),
        ("negative", "negative"),
        ("NaN", "not valid JSON.*NaN"),
        ("Infinity", "Infinity"),
        ("overflow", "not finite"),
        ("nested negative", "negative"),
        ("binary", "not UTF-8"),
    ],
)
def test_bad_feed_refused_and_nothing_changes(installed, tmp_path: Path, name: str, message: str) -> None:
    before = _snapshot(installed)
    current = load_current(installed.prices_file)
    with pytest.raises(PriceFeedError, match=message):
        update_prices(str(_bad_feeds(tmp_path)[name]), installed, current=current)
    assert _snapshot(installed) == before
    assert sorted(p.name for p in installed.data_dir.iterdir() if p.name.startswith(".prices")) == []


def test_missing_file_refused(chatroute_home: Path, tmp_path: Path) -> None:
    paths = make_paths(chatroute_home)
    with pytest.raises(PriceFeedError, match="could not read"):
        update_prices(str(tmp_path / "nope.json"), paths)
    assert not paths.prices_file.exists()


def test_good_feed_accepted_and_last_good_copy_kept(chatroute_home: Path, tmp_path: Path) -> None:
    paths = make_paths(chatroute_home)
    feed = make_feed()
    first = update_prices(str(write_json(tmp_path / "a.json", feed)), paths, current=load_bundled())
    assert first.backup is None and first.models == len(load_bundled())
    first_bytes = paths.prices_file.read_bytes()
    table = load_current(paths.prices_file)
    assert table.kind == "refreshed" and table.sha256 == first.sha256
    assert table.models_in_source == first.models_in_source == len(feed) - 1  # minus sample_spec

    feed["gpt-4o"]["input_cost_per_token"] = 5e-6
    second = update_prices(str(write_json(tmp_path / "b.json", feed)), paths)
    assert second.changed == 1 and second.backup == backup_path(paths.prices_file)
    assert backup_path(paths.prices_file).read_bytes() == first_bytes
    assert load_current(paths.prices_file).models["gpt-4o"]["input_cost_per_token"] == 5e-6
    # a corrupted main file: the last good copy is used
    paths.prices_file.write_text("{")
    assert load_current(paths.prices_file).sha256 == first.sha256


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes]] = {}

    def do_GET(self) -> None:  # noqa: N802
        status, body = self.routes.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_update_from_url(chatroute_home: Path, http_server: str) -> None:
    paths = make_paths(chatroute_home)
    _Handler.routes = {"/prices.json": (200, json.dumps(make_feed()).encode()), "/bad": (200, b"[]")}
    result = update_prices(f"{http_server}/prices.json", paths)
    assert result.source.endswith("/prices.json") and paths.prices_file.exists()
    before = _snapshot(paths)
    with pytest.raises(PriceFeedError, match="HTTP 404"):
        update_prices(f"{http_server}/missing", paths)
    with pytest.raises(PriceFeedError, match="not a JSON object"):
        update_prices(f"{http_server}/bad", paths)
    assert _snapshot(paths) == before


def test_a_gzipped_feed_over_http_and_an_unknown_scheme(chatroute_home: Path, http_server: str) -> None:
    """A .json.gz served as is (no Content-Encoding) was read as text ("not UTF-8"), though the
    same file installed from disk; ftp:// was read as the path 'ftp:/…'."""
    paths = make_paths(chatroute_home)
    _Handler.routes = {"/prices.json.gz": (200, gzip.compress(json.dumps(make_feed()).encode()))}
    result = update_prices(f"{http_server}/prices.json.gz", paths)
    assert result.models > 0 and paths.prices_file.exists()
    with pytest.raises(PriceFeedError, match="unsupported URL scheme 'ftp'"):
        update_prices("ftp://127.0.0.1/prices.json", paths)


def _feed_with(model: str, **fields: str) -> str:
    """The plausible feed as JSON text, with raw JSON spliced in for some of `model`'s fields."""
    feed = make_feed()
    for key in fields:
        feed[model][key] = f"@{key}@"
    text = json.dumps(feed)
    for key, raw in fields.items():
        text = text.replace(f'"@{key}@"', raw)
    return text


@pytest.mark.parametrize(("fields", "says"), [
    ({"input_cost_per_token": "1" + "0" * 400},
     "gpt-4o: input_cost_per_token is not finite (10000000000000000000… (401 digits))"),
    ({"output_cost_per_token": "-" + "9" * 400}, "gpt-4o: output_cost_per_token is not finite"),
    ({"search_context_cost_per_query": '{"search_context_size_low": ' + "7" * 400 + "}"},
     "gpt-4o: search_context_cost_per_query.search_context_size_low is not finite"),
    ({"mode": '["chat"]'}, "gpt-4o: mode is a list, not a string"),
    ({"litellm_provider": '["openai"]'}, "gpt-4o: litellm_provider is a list, not a string"),
    ({"litellm_provider": '{"name": "openai"}'}, "gpt-4o: litellm_provider is an object, not a string"),
    ({"mode": "true"}, "gpt-4o: mode is true/false, not a string"),
], ids=["huge cost", "huge negative cost", "huge nested cost", "mode list", "provider list", "provider object",
        "mode bool"])
def test_malformed_feed_through_the_command_is_refused_in_one_line(
        capsys: pytest.CaptureFixture[str], installed, tmp_path: Path, fields: dict[str, str], says: str) -> None:
    before = _snapshot(installed)
    feed = tmp_path / "feed.json"
    feed.write_text(_feed_with("gpt-4o", **fields))
    code, out, err = run_cli(capsys, "prices", "update", "--from", str(feed))
    assert code == 2, err
    progress, error = err.splitlines()  # `fetching prices from …`, then the one error line
    assert progress.startswith("fetching prices from")
    assert error.startswith(f"chatroute: error: price feed refused: {says}")
    assert _snapshot(installed) == before


def test_a_feed_file_is_recorded_by_its_whole_path_and_never_dated_ahead(
        capsys: pytest.CaptureFixture[str], chatroute_home: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`prices show` runs from anywhere: a relative path meant nothing from another folder. A
    file's date in the future (a clock, a copy) dated the table ahead of the day it was read.
    A context window of 1e30 tokens was taken as given."""
    import os
    from datetime import UTC, datetime

    feed = make_feed()
    feed["gpt-4o"]["max_input_tokens"] = 1e30
    (tmp_path / "feed.json").write_text(json.dumps(feed), encoding="utf-8")
    os.utime(tmp_path / "feed.json", (4102444800, 4102444800))  # 2100-01-01
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, out, err = run_cli(capsys, "prices", "update", "--from", "feed.json")
    assert code == 0, err
    monkeypatch.chdir(chatroute_home)
    code, out, err = run_cli(capsys, "prices", "show")
    assert code == 0, err
    assert f"refreshed prices from {tmp_path / 'feed.json'}" in out
    assert f"as of {datetime.now(UTC).date().isoformat()}" in out
    code, out, err = run_cli(capsys, "models", "--json")
    [gpt4o] = [m for m in json.loads(out)["models"] if m["id"] == "openai/gpt-4o"]
    assert gpt4o["context_window"] is None


def test_a_feed_older_than_the_bundled_prices_says_so_and_does_not_override_them(
        capsys: pytest.CaptureFixture[str], chatroute_home: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A feed file dated before the bundled snapshot (an old download) was installed over it
    without a word, and its older prices billed every model it listed."""
    import os
    from datetime import UTC, datetime, timedelta

    bundled = load_bundled()
    assert bundled.as_of is not None
    feed = make_feed()
    feed["gpt-4o"]["input_cost_per_token"] = 9e-6
    old = tmp_path / "old.json"
    old.write_text(json.dumps(feed), encoding="utf-8")
    then = datetime.fromisoformat(bundled.as_of).replace(tzinfo=UTC) - timedelta(days=90)
    os.utime(old, (then.timestamp(), then.timestamp()))
    code, out, err = run_cli(capsys, "prices", "update", "--from", str(old))
    assert code == 0, err
    assert f"as of {then.date().isoformat()}" in out
    assert f"the bundled prices (as of {bundled.as_of}) are newer" in err
    code, out, err = run_cli(capsys, "prices", "show")
    assert f"the bundled prices (as of {bundled.as_of}) are newer" in out
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, out, err = run_cli(capsys, "models", "--json")
    [gpt4o] = [m for m in json.loads(out)["models"] if m["id"] == "openai/gpt-4o"]
    assert (gpt4o["input_cost_per_mtok"], gpt4o["price_as_of"]) == (2.5, bundled.as_of)


@pytest.mark.parametrize("name", ["not json", "too few", "negative", "binary"])
def test_a_feed_on_standard_input_is_read_and_refused_as_a_file_is(
        installed, tmp_path: Path, name: str) -> None:
    """`prices update --from -` took '-' for a file of that name ('could not read price feed -: No
    such file or directory') where every other command reads standard input; now the feed piped in
    is validated and refused with the very line a file of the same bytes gets."""
    from tests.engine.helpers import run_subprocess

    before = _snapshot(installed)
    bad = _bad_feeds(tmp_path)[name]
    from_file = run_subprocess("prices", "update", "--from", str(bad))
    piped = run_subprocess("prices", "update", "--from", "-", stdin=bad.read_bytes())
    assert piped.returncode == from_file.returncode == 2, piped.stderr
    progress, error = piped.stderr.decode().splitlines()
    assert progress == "fetching prices from standard input …"
    assert error == from_file.stderr.decode().splitlines()[-1]
    assert _snapshot(installed) == before


def test_a_good_feed_on_standard_input_is_installed(chatroute_home: Path) -> None:
    from tests.engine.helpers import run_subprocess

    feed = json.dumps(make_feed()).encode()
    for body in (feed, gzip.compress(feed)):  # a .json.gz piped as it is, too
        done = run_subprocess("prices", "update", "--from", "-", stdin=body)
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode().startswith("prices updated: ")
    shown = run_subprocess("prices", "show")
    assert "refreshed prices from standard input" in shown.stdout.decode()


def test_a_feed_that_cannot_be_reached_says_which_prices_stay_in_use(
        capsys: pytest.CaptureFixture[str], chatroute_home: Path, tmp_path: Path) -> None:
    """Offline, `prices update` said only `could not fetch …: [Errno 111] Connection refused`:
    not whether the prices had changed, nor how old the ones still in use are. Now the line ends
    with them, the bundled snapshot's date or the refreshed table's."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/prices.json"
    bundled = load_bundled()
    code, out, err = run_cli(capsys, "prices", "update", "--from", url)
    assert code == 1, err
    error = err.splitlines()[-1]
    assert error.startswith(f"chatroute: error: could not fetch {url}: ")
    assert error.endswith(f"; the prices are unchanged (bundled, as of {bundled.as_of})"), error
    assert out == ""

    paths = make_paths(chatroute_home)
    update_prices(str(write_json(tmp_path / "good.json", make_feed())), paths)
    refreshed = load_current(paths.prices_file)
    code, out, err = run_cli(capsys, "prices", "update", "--from", url)
    assert code == 1, err
    assert err.splitlines()[-1].endswith(f"; the prices are unchanged (refreshed, as of {refreshed.as_of})")
