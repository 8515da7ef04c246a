"""CLI subcommands, one module each with a `run(args) -> exit code`; `chatroute.cli` imports
only the one it needs, so start-up stays fast."""
