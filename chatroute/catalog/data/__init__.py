"""Shipped catalogue data: price snapshot and tiktoken encodings (see NOTICE.md)."""
