"""`chatroute serve` against the raw openai SDK on the same fake provider (issue 17).

    .venv/bin/python benchmarks/serve_bench.py [--n 30] [--streams 50] [--tokens 2000] [--tokens-per-s 100]
        [--litellm /path/to/venv/bin/litellm | --proxy-url URL --proxy-key KEY --proxy-model NAME --fake-port PORT
         | --floor WORKERS] [--profile OUT.prof]

The fake provider and `chatroute serve` each run in their own process; this process is the
client (AsyncOpenAI, one client per target, reused). Both targets are warm (untimed calls first).
Every call has its own prompt, so the answer cache never answers.

Added time to first token, three ways:
- against raw (the targets): the client's TTFT through serve minus its TTFT straight at the fake
  provider (medians, or p99s under load). On a busy machine this includes the scheduling delays
  of the extra process hop, which grow with the machine's load (printed).
- client TTFT - provider TTFT: per request, the client's TTFT through serve minus the provider's
  TTFT as serve measured it (the ledger's ttft_ms, from sending the request to the first token).
- inside serve: the `added_ttft_ms` serve reports in its last chunk, from the request's arrival to
  its first chunk out, less the provider's TTFT: HTTP parsing, auth, cache lookup, routing.

1. Sequential, interleaved: raw (`gpt-4o-mini` at the fake provider), pinned
   (`openai/gpt-4o-mini` through serve) and routed (`chatroute/auto`), max_tokens 20.
   Target: added p50 <= 5 ms. Also the server's CPU per call.
2. `--streams` concurrent routed streams of `--tokens` tokens (paced at `--tokens-per-s`, as real
   providers stream), then as many straight at the fake provider, with include_usage. Checks:
   all complete with every token; the ledger (tokens and dollars) equals the sum of what the
   streams reported; added p99 TTFT <= 50 ms; the server's peak RSS <= 300 MB.

Another OpenAI-compatible proxy, side by side in the same run (same client, same fake provider,
its calls interleaved with the others in part 1 and its own burst of streams in part 2):
- `--litellm EXE`: LiteLLM's proxy (`litellm` from a venv of its own), started here on 127.0.0.1
  with a config naming this run's fake provider, and stopped at the end;
- `--proxy-url URL --proxy-key KEY --proxy-model NAME`: one already running, configured against
  the fake provider at `--fake-port PORT` (its OpenAI base URL is http://127.0.0.1:PORT/v1);
- `--floor WORKERS`: serve_floor.py, uvicorn and the SDK relaying with nothing of chatroute's on the
  path, in WORKERS processes: the least any relay on this stack adds on this machine.

`--streams 0` runs part 1 only; `--profile OUT` runs serve under cProfile (stats in OUT at the end).

Bounded: `--timeout` (default 300 s) for the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import openai  # noqa: E402
from _bench_common import OPENAI_KEY, ROOT, ServerProcess, bench_env, make_home, median, pct  # noqa: E402

from chatroute.store import Store  # noqa: E402

CLIENT = "serve-bench"


def start_serve(home: Path, profile: str | None = None) -> tuple[subprocess.Popen[str], str, str]:
    from chatroute.serve.tokens import add_client_token

    token = add_client_token(home, CLIENT)  # the ledger names the benchmark's requests
    env = bench_env(home)
    env["PYTHONPATH"] = str(ROOT)
    prof = ["-m", "cProfile", "-o", profile] if profile else []
    proc = subprocess.Popen([sys.executable, *prof, "-m", "chatroute", "serve", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline()
        if not line:
            raise RuntimeError("chatroute serve did not start")
        if line.startswith("listening on "):
            return proc, line.split()[-1], token


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process, in MB."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class PacedServer(ServerProcess):
    """The fake provider, its default reply `n_tokens` long at `tokens_per_s`."""

    def __init__(self, n_tokens: int, tokens_per_s: float | None, port: int = 0) -> None:
        super().__init__(n_tokens, tokens_per_s=tokens_per_s, port=port)


@dataclass
class Call:
    ttft_ms: float
    chunks: int
    last: Any

    @property
    def turn_id(self) -> str:
        return str(self.last.model_extra["chatroute"]["turn_id"])

    @property
    def server_added_ms(self) -> float:
        """What serve itself measured between the request's arrival and its first chunk out,
        less the provider's time to first token."""
        return float(self.last.model_extra["chatroute"]["added_ttft_ms"])


async def one_stream(client: openai.AsyncOpenAI, model: str, prompt: str, max_tokens: int | None) -> Call:
    start = time.perf_counter()
    kwargs: dict[str, Any] = {"max_tokens": max_tokens} if max_tokens else {}
    stream = await client.chat.completions.create(model=model, stream=True, stream_options={"include_usage": True},
                                                  messages=[{"role": "user", "content": prompt}], **kwargs)
    ttft = None
    n = 0
    last = None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            n += 1
            if ttft is None:
                ttft = time.perf_counter() - start
        last = chunk
    assert ttft is not None, "no content"
    return Call(ttft * 1000, n, last)


@dataclass
class Proxy:
    """Another OpenAI-compatible proxy in front of the same fake provider."""

    name: str
    url: str
    key: str
    model: str
    pid: int | None = None  # when this run started it: its CPU and RSS are reported


def start_litellm(exe: str, fake: ServerProcess, work: Path) -> tuple[subprocess.Popen[str], Proxy]:
    """LiteLLM's proxy on a free loopback port, its one model the fake provider's gpt-4o-mini."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = "sk-litellm-bench"
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: gpt-4o-mini\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n"
        f"      api_base: {fake.openai_base_url}\n"
        f"      api_key: {OPENAI_KEY}\n"
        f"general_settings:\n  master_key: {key}\n"
        "litellm_settings:\n  telemetry: false\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # its bundled price list: no download at start
    log = (work / "litellm.log").open("w", encoding="utf-8")
    proc = subprocess.Popen([exe, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)], cwd=work,
                            env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"litellm exited with {proc.returncode}: see {work / 'litellm.log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("litellm did not start listening within 120 s")
    return proc, Proxy("litellm", f"{url}/v1", key, "gpt-4o-mini", proc.pid)


def start_floor(fake: ServerProcess, workers: int) -> tuple[subprocess.Popen[str], Proxy]:
    """serve_floor.py: the bare uvicorn + SDK relay, nothing of chatroute's own on the path."""
    script = str(Path(__file__).with_name("serve_floor.py"))
    proc = subprocess.Popen([sys.executable, script, "--upstream", fake.openai_base_url, "--key", OPENAI_KEY,
                             "--workers", str(workers)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"serve_floor did not start: {line!r}")
    return proc, Proxy("floor", line.split()[-1], "none", "gpt-4o-mini", proc.pid)


async def sequential(raw: openai.AsyncOpenAI, served: openai.AsyncOpenAI, n: int,
                     proxy: tuple[Proxy, openai.AsyncOpenAI] | None = None) -> dict[str, list[Call]]:
    targets: list[tuple[str, openai.AsyncOpenAI, str]] = [
        ("raw", raw, "gpt-4o-mini"), ("pinned", served, "openai/gpt-4o-mini"), ("routed", served, "chatroute/auto")]
    if proxy is not None:
        targets.append((proxy[0].name, proxy[1], proxy[0].model))
    out: dict[str, list[Call]] = {name: [] for name, _, _ in targets}
    for i in range(-2, n):  # two untimed rounds first
        for name, client, model in targets:
            prompt = f"Question {i} for {name}, topic {i * 7919 % 1000}: explain routers and caches."
            call = await one_stream(client, model, prompt, 20)
            if i >= 0:
                out[name].append(call)
    return out


async def concurrent(client: openai.AsyncOpenAI, model: str, streams: int, tag: str) -> list[Call]:
    try:
        return await asyncio.gather(*(one_stream(client, model, f"{tag} stream {i}: write at length", None)
                                      for i in range(streams)))
    except openai.APIConnectionError as exc:
        raise RuntimeError(f"{tag}: {exc!r} caused by {exc.__cause__!r}") from None


def ledger(home: Path, calls: list[Call]) -> tuple[int, int, float, dict[str, float]]:
    """(turns, input + output tokens, dollars, provider TTFT by turn) the ledger holds for these calls."""
    ids = [c.turn_id for c in calls]
    with Store.open(home / "chatroute.db") as store:
        marks = ",".join("?" * len(ids))
        rows = store.conn.execute(f"SELECT id, input_tokens + output_tokens, cost_usd, ttft_ms FROM turns"
                                  f" WHERE id IN ({marks}) AND client = ?", (*ids, CLIENT)).fetchall()
    return (len(rows), sum(r[1] for r in rows), sum(r[2] or 0.0 for r in rows),
            {r[0]: r[3] for r in rows if r[3] is not None})


def own_added(home: Path, calls: list[Call]) -> list[float]:
    provider = ledger(home, calls)[3]
    return [c.ttft_ms - provider[c.turn_id] for c in calls]


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


async def run(args: argparse.Namespace, fake: ServerProcess, url: str, token: str, pid: int, home: Path,
              proxy: Proxy | None) -> int:
    raw = openai.AsyncOpenAI(base_url=fake.openai_base_url, api_key=OPENAI_KEY, max_retries=0, timeout=300)
    served = openai.AsyncOpenAI(base_url=url, api_key=token, max_retries=0, timeout=300)
    other = openai.AsyncOpenAI(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=300) if proxy else None
    ok = True
    try:
        print(f"before: {load()} (2 cores here: figures above ~2 include waiting for a CPU)")
        cpu0 = cpu_s(pid)
        seq = await sequential(raw, served, args.n, (proxy, other) if proxy and other else None)
        per_call = (cpu_s(pid) - cpu0) * 1000 / (2 * (args.n + 2))
        ttft = {k: [c.ttft_ms for c in v] for k, v in seq.items()}
        print(f"1. sequential, {args.n} calls each, TTFT ms: "
              + ", ".join(f"{k} p50 {median(v):.2f} p90 {pct(v, 90):.2f}" for k, v in ttft.items()))
        for name in ("pinned", "routed"):
            vs_raw = median(ttft[name]) - median(ttft["raw"])
            own = median(own_added(home, seq[name]))
            inside = median([c.server_added_ms for c in seq[name]])
            ok &= vs_raw <= 5.0
            print(f"   added p50 ({name}): {vs_raw:.2f} ms against raw [target <= 5 ms: "
                  f"{'met' if vs_raw <= 5 else 'NOT met'}]; client TTFT - provider TTFT {own:.2f} ms; "
                  f"inside serve {inside:.2f} ms")
        if proxy is not None:
            vs_raw = median(ttft[proxy.name]) - median(ttft["raw"])
            print(f"   added p50 ({proxy.name}): {vs_raw:.2f} ms against raw")
        print(f"   server CPU per call (HTTP, auth, cache, route, relaying 20 tokens, ledger, health): "
              f"{per_call:.1f} ms")
        if args.streams == 0:
            print(f"after: {load()}")
            return 0 if ok else 1

        t0, cpu0 = time.perf_counter(), cpu_s(pid)
        through = await concurrent(served, "chatroute/auto", args.streams, "served")
        served_s, stream_cpu = time.perf_counter() - t0, cpu_s(pid) - cpu0
        t0 = time.perf_counter()
        direct = await concurrent(raw, "gpt-4o-mini", args.streams, "raw")
        raw_s = time.perf_counter() - t0
        _, peak = rss_mb(pid)
        complete = sum(c.chunks == args.tokens for c in through)
        reported_tokens = sum(c.last.usage.prompt_tokens + c.last.usage.completion_tokens for c in through)
        reported_cost = sum(c.last.model_extra["chatroute"]["cost_usd"] or 0.0 for c in through)
        n_turns, l_tokens, l_cost, _ = ledger(home, through)
        s_ttft, r_ttft = [c.ttft_ms for c in through], [c.ttft_ms for c in direct]
        own_ms = own_added(home, through)
        inside_ms = [c.server_added_ms for c in through]
        vs_raw99 = pct(s_ttft, 99) - pct(r_ttft, 99)
        pace = f" at {args.tokens_per_s:g} tok/s" if args.tokens_per_s else ""
        print(f"2. {args.streams} concurrent streams of {args.tokens} tokens{pace}: {complete}/{args.streams} complete "
              f"through serve in {served_s:.1f} s (raw: {sum(c.chunks == args.tokens for c in direct)}/"
              f"{args.streams} in {raw_s:.1f} s); server CPU {stream_cpu:.1f} s "
              f"({stream_cpu * 1e6 / (args.streams * args.tokens):.0f} µs a token)")
        print(f"   TTFT p50/p99 ms: serve {median(s_ttft):.1f}/{pct(s_ttft, 99):.1f}, raw {median(r_ttft):.1f}/"
              f"{pct(r_ttft, 99):.1f}: added p99 {vs_raw99:.1f} ms against raw [target <= 50 ms: "
              f"{'met' if vs_raw99 <= 50 else 'NOT met'}]; client TTFT - provider TTFT p50/p99 "
              f"{median(own_ms):.1f}/{pct(own_ms, 99):.1f} ms; inside serve p50/p99 {median(inside_ms):.1f}/"
              f"{pct(inside_ms, 99):.1f} ms")
        same = n_turns == args.streams and l_tokens == reported_tokens and abs(l_cost - reported_cost) < 1e-9
        print(f"   ledger: {n_turns} turns, {l_tokens:,} tokens, ${l_cost:.6f}; the streams reported "
              f"{reported_tokens:,} tokens, ${reported_cost:.6f} [{'equal' if same else 'DIFFERENT'}]")
        print(f"   server RSS peak {peak:.0f} MB [target <= 300 MB: {'met' if peak <= 300 else 'NOT met'}]")
        if proxy is not None and other is not None:
            t0 = time.perf_counter()
            cpu0 = cpu_s(proxy.pid) if proxy.pid else 0.0
            via = await concurrent(other, proxy.model, args.streams, proxy.name)
            via_s = time.perf_counter() - t0
            p_ttft = [c.ttft_ms for c in via]
            extra = ""
            if proxy.pid:
                p_cpu = cpu_s(proxy.pid) - cpu0
                extra = (f"; its CPU {p_cpu:.1f} s ({p_cpu * 1e6 / (args.streams * args.tokens):.0f} µs a token), "
                         f"RSS peak {rss_mb(proxy.pid)[1]:.0f} MB (its main process)")
            print(f"   {proxy.name}: {sum(c.chunks == args.tokens for c in via)}/{args.streams} complete in "
                  f"{via_s:.1f} s; TTFT p50/p99 {median(p_ttft):.1f}/{pct(p_ttft, 99):.1f} ms: added p99 "
                  f"{pct(p_ttft, 99) - pct(r_ttft, 99):.1f} ms against raw{extra}")
        print(f"after: {load()}")
        ok &= complete == args.streams and same and vs_raw99 <= 50 and peak <= 300
    finally:
        await raw.close()
        await served.close()
        if other is not None:
            await other.close()
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=30, help="sequential calls per target (default 30)")
    ap.add_argument("--streams", type=int, default=50, help="concurrent streams in part 2 (0: part 1 only)")
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--tokens-per-s", type=float, default=100.0, help="provider pacing (0: flat out)")
    ap.add_argument("--profile", metavar="OUT", help="run serve under cProfile, its stats written to OUT at the end")
    ap.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    ap.add_argument("--litellm", metavar="EXE", help="also measure LiteLLM's proxy (its `litellm` executable)")
    ap.add_argument("--floor", type=int, default=0, metavar="WORKERS",
                    help="also measure serve_floor.py (uvicorn + the SDK relaying, nothing else) in WORKERS processes")
    ap.add_argument("--proxy-url", help="also measure this running OpenAI-compatible proxy (its /v1 base URL)")
    ap.add_argument("--proxy-key", default="none", help="the proxy's API key")
    ap.add_argument("--proxy-model", default="gpt-4o-mini", help="the proxy's name for the fake provider's model")
    ap.add_argument("--proxy-name", default="proxy", help="what to call it in the report")
    ap.add_argument("--fake-port", type=int, default=0, help="the fake provider's port (0: any free one)")
    args = ap.parse_args()
    if sum(map(bool, (args.litellm, args.proxy_url, args.floor))) > 1:
        ap.error("one of --litellm, --proxy-url and --floor")
    with PacedServer(args.tokens, args.tokens_per_s, args.fake_port) as fake:
        home = make_home(fake)
        os.environ.update(bench_env(home))
        proc, url, token = start_serve(home, args.profile)
        work = Path(tempfile.mkdtemp(prefix="serve-bench-proxy-"))
        other: subprocess.Popen[str] | None = None
        try:
            proxy = None
            if args.litellm:
                other, proxy = start_litellm(args.litellm, fake, work)
            elif args.floor:
                other, proxy = start_floor(fake, args.floor)
            elif args.proxy_url:
                proxy = Proxy(args.proxy_name, args.proxy_url, args.proxy_key, args.proxy_model)
            return asyncio.run(asyncio.wait_for(run(args, fake, url, token, proc.pid, home, proxy), args.timeout))
        except TimeoutError:
            print(f"serve_bench: gave up after {args.timeout:.0f} s", file=sys.stderr)
            return 1
        finally:
            for p in (proc, other):
                if p is None:
                    continue
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            shutil.rmtree(home, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
