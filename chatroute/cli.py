"""The `chatroute` command: the TUI by default, subcommands for everything else.

Only argparse is imported at module level so `chatroute --help` stays fast; each
subcommand imports what it needs. Errors are one line on stderr with the exit codes of
the contract: 0 success, 2 bad usage or config, 1 provider failure after all fallbacks.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, TextIO, cast

from chatroute import __version__
from chatroute.errors import ChatrouteError, StopSignal, stop_signals

EPILOG = """\
environment:
  CHATROUTE_HOME      keep config, database and caches under this folder
                      (empty: the platform's folders, as when unset)
  OPENAI_API_KEY      key for OpenAI (OPENAI_BASE_URL for a compatible server)
  ANTHROPIC_API_KEY   key for Anthropic (ANTHROPIC_BASE_URL to point elsewhere)
  CHATROUTE_PRESET    overrides router.preset (frugal, balanced or best)
  CHATROUTE_THEME     overrides ui.theme
  CHATROUTE_NO_DISCOVERY=1
                      never probe local ports for Ollama, llama.cpp or LM Studio
  CHATROUTE_DEBUG=1   an internal error shows its traceback instead of one line

Run `chatroute` with no arguments to open the TUI.
"""


# config.Preset's values, named here so that building the parser does not import pydantic.
PRESETS = ("frugal", "balanced", "best")
PRESET_HELP = "route this turn with this preset instead of router.preset (CHATROUTE_PRESET)"
PROMPT_HELP = "the prompt; '-', or none with standard input not a terminal (`echo … |`), reads standard input"


class _Parser(argparse.ArgumentParser):
    """argparse's parser, its usage errors said as every other error is: an unknown option is
    quoted as typed (`unrecognized arguments: …`), and a pasted escape sequence in it would
    otherwise reach the terminal. Subcommands' parsers are made of the same class."""

    def error(self, message: str) -> NoReturn:
        super().error(_for_stderr(message))


def _build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
        prog="chatroute",
        description="Chat with several LLMs; a local router picks the model for each turn.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"chatroute {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # In this order in --help.
    _add_turn_commands(sub)
    _add_record_commands(sub)
    _add_front_ends(sub)
    return parser


def _add_turn_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """ask, route, eval, compare: a prompt in, an answer or a decision out."""
    ask = sub.add_parser("ask", help="one turn, streamed to stdout")
    ask.add_argument("-m", "--model", help="use this model for this turn (provider/model or a bare name)")
    ask.add_argument("--no-cache", action="store_true", help="bypass the answer cache")
    ask.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")
    ask.add_argument("-c", "--conversation", metavar="ID",
                     help="continue this conversation: its id, the start of it, or `last`")
    ask.add_argument("-s", "--system", help="system prompt for a new conversation; '-' reads it from standard input "
                                            "(PROMPT then comes as an argument)")
    ask.add_argument("--over-budget", action="store_true",
                     help="past a budget cap, send this one turn anyway, on the cheapest model")
    ask.add_argument("--preset", choices=PRESETS, help=PRESET_HELP)
    ask.add_argument("prompt", nargs="?", help=PROMPT_HELP)

    route = sub.add_parser("route", help="the routing decision and its reasons, without calling a model")
    route.add_argument("--json", action="store_true", help="print the decision as JSON")
    route.add_argument("-c", "--conversation", metavar="ID",
                       help="route as the next turn of this conversation (an id, the start of one, or `last`)")
    route.add_argument("--preset", choices=PRESETS, help=PRESET_HELP)
    route.add_argument("prompt", nargs="?", help=PROMPT_HELP)

    ev = sub.add_parser("eval", help="router quality on a labelled JSONL(.gz) file")
    ev.add_argument("file", nargs="?", help="labelled JSONL or JSONL.gz in the shared routing schema; '-', or none "
                                            "with standard input not a terminal, reads standard input")
    ev.add_argument("--weak", metavar="M", help="the weak model (default: lowest-scoring per dataset)")
    ev.add_argument("--strong", metavar="M", help="the strong model (default: highest-scoring per dataset)")
    ev.add_argument("--cost-ratio", type=_ratio, metavar="R",
                    help="weak model's cost / strong model's cost per call, 0..1 (default 0), for the saving")
    ev.add_argument("--json", action="store_true", help="print one JSON object keyed by dataset")

    cmp_ = sub.add_parser("compare", help="the same prompt to several models, side by side")
    cmp_.add_argument("-m", "--model", action="append", required=True, dest="models", metavar="MODEL",
                      help="a model to compare (repeat, 2 to 4)")
    cmp_fmt = cmp_.add_mutually_exclusive_group()
    cmp_fmt.add_argument("--json", action="store_true", help="print one JSON document: a list with an object per model")
    cmp_fmt.add_argument("--jsonl", action="store_true", help="print JSON Lines: one object per model, one per line")
    cmp_.add_argument("prompt", nargs="?", help=PROMPT_HELP)


def _add_record_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """costs, models, prices, cache, prefs: what chatroute keeps, shown or managed."""
    costs = sub.add_parser("costs", help="spending and savings against a baseline")
    costs.add_argument("--by", choices=("day", "model", "conversation", "client"), default="day",
                       help="client: who sent each request through `chatroute serve` (chat turns apart)")
    costs.add_argument("--since", metavar="DATE", help="ISO date (YYYY-MM-DD), or today/week/month")
    costs.add_argument("--format", choices=("table", "csv", "json"), default="table",
                       help="table (the default), csv of the rows, or json of everything")
    costs.add_argument("--baseline", metavar="MODEL", help="baseline model (default: ui.baseline_model)")

    models = sub.add_parser("models", help="the catalogue: prices and their as-of date, context, ability, health")
    models.add_argument("--json", action="store_true", help="print the catalogue as one JSON object")
    models.add_argument("--all", action="store_true", help="every model of the configured providers, not only the pool")

    prices = sub.add_parser("prices", help="the price table")
    prices_sub = prices.add_subparsers(dest="prices_command", metavar="ACTION", required=True)
    upd = prices_sub.add_parser("update", help="refresh prices from a URL or file, validated")
    upd.add_argument("--from", dest="source", metavar="URL|FILE|-",
                     help="feed in LiteLLM's model_prices_and_context_window.json format, '-' for standard input "
                          "(default: LiteLLM's URL)")
    prices_sub.add_parser("show", help="where the prices come from and how old they are")

    cache = sub.add_parser("cache", help="the answer cache")
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    cache_stats = cache_sub.add_parser("stats", help="entries, hits, misses, saved dollars, false-hit reports")
    cache_stats.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    cache_sub.add_parser("clear", help="empty the cache")
    check = cache_sub.add_parser(
        "check", help="would the answer cached for CACHED be served for ASKED, and why (your cache is not touched)")
    check.add_argument("cached", metavar="CACHED", help="the prompt whose answer is in the cache ('-' reads stdin)")
    check.add_argument("asked", metavar="ASKED", help="the prompt asked now ('-' reads stdin)")
    check.add_argument("--json", action="store_true", help="print the verdict as one JSON object")

    prefs = sub.add_parser("prefs", help="what the router learned from your choices")
    prefs_sub = prefs.add_subparsers(dest="prefs_command", metavar="ACTION", required=True)
    prefs_sub.add_parser("show", help="per-model adjustment learned from overrides, regenerations and picks")
    prefs_sub.add_parser("reset", help="forget the learned adjustment")


def _add_front_ends(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """serve and tui: chatroute for other tools, and the TUI."""
    serve = sub.add_parser("serve", help="OpenAI- and Anthropic-compatible endpoints: the router, cache and "
                                         "ledger for other tools")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    serve.add_argument("--allow-remote", action="store_true",
                       help="allow a non-loopback --host (anyone reaching it needs only the token)")
    tokens = serve.add_mutually_exclusive_group()
    tokens.add_argument("--rotate-token", action="store_true",
                        help="replace the bearer token, print the new one once, and exit")
    tokens.add_argument("--client-token", metavar="NAME",
                        help="make a token that names its requests NAME in the ledger, print it once, and exit")
    serve.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="close a connection whose request headers take longer than this (default 10)")
    serve.add_argument("--max-connections", type=int, default=512, metavar="N",
                       help="requests in progress at once; requests beyond get a 503 with Retry-After (default 512)")
    serve.add_argument("--shutdown-grace", type=float, default=5.0, metavar="SECONDS",
                       help="on Ctrl+C, SIGTERM or SIGHUP, how long requests still streaming get to finish before "
                            "they are cut off and recorded as interrupted (default 5)")

    sub.add_parser("tui", help="open the TUI (the default)")


def _ratio(value: str) -> float:
    try:
        r = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= r <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return r


def _subparser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The deepest subcommand parser `args` went through: its usage is the one to show."""
    current = parser
    for dest in ("command", "prices_command", "cache_command", "prefs_command"):
        name = getattr(args, dest, None)
        actions = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not name or not actions or name not in actions[0].choices:
            continue
        current = actions[0].choices[name]
    return current


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse would report a subcommand's unknown option with the top-level usage.
        _subparser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    _decode_text_args(args)
    return args


def _parse_guarded(argv: Sequence[str] | None) -> argparse.Namespace:
    """_parse with stdout guarded: argparse swallows an OSError from writing --help or
    --version and exits 0, and what it left buffered fails only in the interpreter's own flush.
    Raises OutputFailed as a command's output does."""
    stdout = sys.stdout
    guard = _GuardedOutput(stdout)
    sys.stdout = cast(TextIO, guard)
    try:
        return _parse(argv)
    except SystemExit:
        guard.flush()  # --help and --version exit right after printing: their text fails here
        raise
    finally:
        sys.stdout = stdout


INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports a command Ctrl+C ended


def main(argv: Sequence[str] | None = None) -> int:
    code = _main(argv)
    if code == INTERRUPTED_EXIT and argv is None:
        _die_of_sigint()  # the process's own command line: this process is the command
    return code


def _die_of_sigint() -> None:
    """End the process by SIGINT itself, as Python does for an uncaught KeyboardInterrupt. A shell
    running `for …; do chatroute ask …; done` goes on with the loop when its child exits 130 by
    itself (the child, it reasons, handled Ctrl+C), and stops it when the child died of SIGINT.
    Everything is saved by now; only the interpreter's shutdown is skipped, so stdio is flushed."""
    import signal

    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # noqa: BLE001 - the line on stderr was the last word
            pass
    if not hasattr(os, "kill") or sys.platform == "win32":
        return
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


def _main(argv: Sequence[str] | None) -> int:
    _stderr_to_devnull_if_closed()
    stdout = sys.stdout
    try:
        args = _parse_guarded(argv)
    except OutputFailed as failed:
        return _output_failed(stdout, failed.cause)
    # The TUI draws on the terminal itself; every other command's output goes through the guard.
    guard = None if _MODULES[args.command] == "tui" else _GuardedOutput(stdout)
    if guard is not None and stdout is None:
        # Refused before the command runs: `ask` would pay for an answer no one could read.
        return _output_failed(stdout, _closed_stdout())
    stderr = sys.stderr
    # The TUI and serve handle the stop signals themselves (Textual's driver, uvicorn).
    restore = None if _MODULES[args.command] in ("tui", "serve") else _stop_signals_interrupt()
    if guard is not None:
        _replace_unencodable(stdout)
        sys.stdout = cast(TextIO, guard)
        sys.stderr = cast(TextIO, _Diagnostics(stderr))
    try:
        # Inside the try: Ctrl+C while the command's modules import is still a plain interruption.
        code = _handler(args.command)(args)
        if guard is not None:
            guard.flush()  # what is still buffered fails here, not in the interpreter's exit
        return code
    except OutputFailed as failed:
        return _output_failed(stdout, failed.cause)
    except ChatrouteError as exc:
        print(f"chatroute: error: {_for_stderr(str(exc))}", file=sys.stderr)
        _json_failure(args, str(exc), exc.exit_code)
        return exc.exit_code
    except Exception as exc:
        fault = _database_fault(exc)
        if fault is None:
            said = _internal_error(exc)
            _json_failure(args, said, INTERNAL_ERROR_EXIT)
            return INTERNAL_ERROR_EXIT
        print(f"chatroute: error: {_for_stderr(str(fault))}", file=sys.stderr)
        _json_failure(args, str(fault), fault.exit_code)
        return fault.exit_code
    except StopSignal as stop:
        import signal

        try:  # after SIGHUP the terminal may be gone
            print(f"chatroute: interrupted by {signal.Signals(stop.signum).name}", file=sys.stderr)
        except OSError:
            pass
        return 128 + stop.signum
    except KeyboardInterrupt:
        print("chatroute: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    finally:
        if restore is not None:
            restore()
        if guard is not None and sys.stdout is guard:
            sys.stdout = stdout
        if isinstance(sys.stderr, _Diagnostics):
            sys.stderr = stderr


def _stop_signals_interrupt() -> Callable[[], None] | None:
    """SIGTERM and SIGHUP raise StopSignal, as Ctrl+C raises KeyboardInterrupt, until a command's
    event loop installs its own handlers (commands/common.run_stoppable): a command stopped while
    it opens the database ended silently, killed, where README promises one line and 128 + n
    (and `ask --json` its object). Returns what puts the previous handlers back (None where
    handlers cannot be set: not the main thread)."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise StopSignal(signum)

    previous: dict[int, Any] = {}
    try:
        for sig in stop_signals():
            previous[sig] = signal.signal(sig, interrupt)
    except ValueError:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        return None

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    return restore


# Arguments that name a file: kept as the OS gave them, so a path with bytes that are not UTF-8
# still opens. Every other argument is text that is stored, sent or compared.
_PATH_ARGS = frozenset({"file", "source"})


def _decode_text_args(args: argparse.Namespace) -> None:
    """Bytes of an argument that are not UTF-8 become U+FFFD, as they do in a prompt: left as
    Python's surrogate escapes they fail the first write or request that encodes them."""
    from chatroute.safetext import argv_text

    for name, value in vars(args).items():
        if name in _PATH_ARGS:
            continue
        if isinstance(value, str):
            setattr(args, name, argv_text(value))
        elif isinstance(value, list):
            setattr(args, name, [argv_text(v) if isinstance(v, str) else v for v in value])


INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE (sysexits.h): a fault in chatroute, not in the input
ERROR_REPORT = "last-error.txt"


def _json_failure(args: argparse.Namespace, error: str, exit_code: int) -> None:
    """A command asked for JSON (`--json`, `--jsonl`, `--format json`) that failed before it had
    a result still prints JSON, so a script parses every outcome one way: `status` and `error`
    as `ask --json` has them for a failed turn, and the exit code. The line on stderr stays."""
    wanted = getattr(args, "json", False) or getattr(args, "jsonl", False) or getattr(args, "format", None) == "json"
    if not wanted:
        return
    from chatroute.commands.common import json_text

    try:
        sys.stdout.write(json_text({"status": "error", "error": error, "exit_code": exit_code}) + "\n")
        sys.stdout.flush()
    except (OutputFailed, OSError):  # the line on stderr has said it
        pass


def _internal_error(exc: Exception) -> str:
    """A fault no handler foresaw: one line on stderr, the traceback in a file beside the
    database (overwritten by the next one) for a bug report. CHATROUTE_DEBUG=1 raises it.
    Returns the line without its `chatroute: ` prefix."""
    # "1" (or true, yes, on) turns it on, as CHATROUTE_NO_DISCOVERY reads its value: =0 is off.
    if os.environ.get("CHATROUTE_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        raise exc
    import traceback

    detail = "".join(traceback.format_exception(exc))
    where = "set CHATROUTE_DEBUG=1 to see the details"
    try:
        from chatroute.fsutil import atomic_write
        from chatroute.paths import resolve_paths

        report = resolve_paths().data_dir / ERROR_REPORT
        atomic_write(report, f"chatroute {__version__}, {' '.join(sys.argv[1:2])}\n{detail}")
        where = f"the details are in {report}"
    except Exception:  # noqa: BLE001 - the report is a courtesy; the line below is the answer
        pass
    said = " ".join(str(exc).split())[:300]
    line = f"internal error: {type(exc).__name__}: {said}; this is a bug in chatroute ({where})"
    print(f"chatroute: {_for_stderr(line)}", file=sys.stderr)
    return line


def _replace_unencodable(stream: TextIO) -> None:
    """On a terminal or pipe whose encoding is not UTF-8 (a Latin-1 or ASCII locale), a
    character it cannot show (a CJK title, an emoji, the tables' dashes) becomes '?' instead of
    failing the command halfway through its output."""
    import codecs

    try:
        utf8 = codecs.lookup(stream.encoding or "utf-8").name == "utf-8"
    except (AttributeError, LookupError):
        return
    if not utf8 and isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="replace")


class OutputFailed(Exception):
    """Writing to standard output failed. Raised in place of the OSError so that a closed pipe
    or a full disk under stdout is told apart from the same errno on the database or a socket."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _closed_stdout() -> OSError:
    import errno

    return OSError(errno.EBADF, "standard output is closed")


def _stderr_to_devnull_if_closed() -> None:
    """With descriptor 2 closed (`2>&-`) Python sets sys.stderr to None, and print(file=None)
    writes to stdout: the badge and warnings would land in the answer or the JSON a script reads."""
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process's life


class _GuardedOutput:
    """sys.stdout for a command: its write errors become OutputFailed; all else is the stream's.
    `stream` is None when descriptor 1 is closed (`>&-`), as Python then sets sys.stdout."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if self._stream is None:
            raise OutputFailed(_closed_stdout())
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise OutputFailed(exc) from exc

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            raise OutputFailed(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Diagnostics:
    """sys.stderr for a command. Once it cannot be written (its reader gone: `2>&1 | head -1`),
    what else the command says there is dropped: a notice no one can read must not fail an
    answer already given (it read as an internal error, exit 1), and stdout decides the rest."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._failed = False

    def write(self, text: str) -> int:
        if not self._failed:
            try:
                return self._stream.write(text)
            except OSError:
                self._give_up()
        return len(text)

    def flush(self) -> None:
        if not self._failed:
            try:
                self._stream.flush()
            except OSError:
                self._give_up()

    def _give_up(self) -> None:
        self._failed = True
        # Python flushes stderr again at exit; that must not fail either.
        _point_at_devnull(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _point_at_devnull(stream: TextIO | None) -> None:
    try:
        fd = None if stream is None else stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        fd = None
    if fd is not None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


def _output_failed(stdout: TextIO | None, cause: OSError) -> int:
    """A reader that went away (`| head`) ends the command quietly, as it asked for no more; any
    other failure to write (a full disk) is an error. Either way Python flushes stdout again at
    exit and would fail the same way, so, as its docs on SIGPIPE advise, the descriptor is
    pointed at os.devnull first."""
    _point_at_devnull(stdout)
    if isinstance(cause, BrokenPipeError):
        return 0
    print(f"chatroute: error: cannot write the output: {cause.strerror or cause}", file=sys.stderr)
    return 2


def _for_stderr(text: str) -> str:
    """An error may quote a provider or a file: no escape sequences onto a terminal."""
    from chatroute.commands.common import terminal_line

    return terminal_line(sys.stderr, text)


def _database_fault(exc: Exception) -> ChatrouteError | None:
    """Damage in the database found past the checks at open, by a query: one line naming the file."""
    import sqlite3

    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    from chatroute.paths import resolve_paths
    from chatroute.store.dbfile import explain

    return explain(resolve_paths().database, exc)


_MODULES = {
    None: "tui",
    "tui": "tui",
    "ask": "ask",
    "route": "route",
    "eval": "evaluate",
    "compare": "compare",
    "costs": "costs",
    "models": "models",
    "prices": "prices",
    "cache": "cache",
    "prefs": "prefs",
    "serve": "serve",
}


def _handler(command: str | None) -> Callable[[argparse.Namespace], int]:
    import importlib

    module = importlib.import_module(f"chatroute.commands.{_MODULES[command]}")
    return module.run


if __name__ == "__main__":
    sys.exit(main())
