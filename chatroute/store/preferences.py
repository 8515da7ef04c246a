"""Preference signals: which model the user chose over which (an @model override, a
regenerate, a pick in compare mode, a cached answer marked wrong), the data
routing/preferences.py learns from."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime

from chatroute.store.connection import StoreBase
from chatroute.store.ids import new_id, ts_bound, utc_now
from chatroute.store.records import PREFERENCE_KINDS, Preference


class PreferenceQueries(StoreBase):
    """Recording and reading preference signals (a part of Store)."""

    def add_preference(
        self,
        kind: str,
        chosen_model: str | None,
        rejected_models: Iterable[str] = (),
        prompt: str | None = None,
        *,
        conversation_id: str | None = None,
        message_id: str | None = None,
        embedding: bytes | None = None,
    ) -> Preference:
        if kind not in PREFERENCE_KINDS:
            raise ValueError(f"bad preference kind {kind!r}")
        pref = Preference(
            id=new_id(),
            kind=kind,
            chosen_model=chosen_model,
            rejected_models=list(rejected_models),
            prompt=prompt,
            conversation_id=conversation_id,
            message_id=message_id,
            embedding=bytes(embedding) if embedding is not None else None,
            created_at=utc_now(),
        )
        self._write(
            lambda c: c.execute(
                "INSERT INTO preferences (id, kind, chosen_model, rejected_models, prompt, conversation_id, message_id,"
                " embedding, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pref.id,
                    kind,
                    chosen_model,
                    json.dumps(pref.rejected_models),
                    prompt,
                    conversation_id,
                    message_id,
                    pref.embedding,
                    pref.created_at,
                ),
            )
        )
        return pref

    def preferences(
        self, kind: str | None = None, *, since: str | date | datetime | None = None, limit: int | None = None
    ) -> list[Preference]:
        """Oldest first (the order the router should learn them in)."""
        clauses: list[str] = []
        params: list[str | None] = []
        if kind:
            clauses.append("kind = ?")
            params.append(kind)
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(ts_bound(since))
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        lim = f" LIMIT {int(limit)}" if limit else ""
        rows = self._rows(f"SELECT * FROM preferences {where} ORDER BY created_at, id{lim}", params)
        return [Preference.from_row(r) for r in rows]
