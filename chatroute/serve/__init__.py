"""`chatroute serve`: an OpenAI-compatible endpoint in front of the same engine as the TUI, so
other tools' requests are routed, cached and counted too (wire, turns, app, tokens, state)."""
