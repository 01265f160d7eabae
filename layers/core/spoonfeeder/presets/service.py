"""Preset use cases behind /api/profiles: save (with its rules checked), read, list, replace, delete.

The owner is part of every key, so another user's preset is "not found", never "forbidden".
"""

from __future__ import annotations

from dataclasses import dataclass

from spoonfeeder import ids
from spoonfeeder.data.profiles import PAGE_KEY_FIELDS, ProfileStore
from spoonfeeder.errors import NotFound, Unprocessable, ValidationFailed
from spoonfeeder.models.profiles import Profile, ProfileFields, ProfileView
from spoonfeeder.presets.template import placeholders
from spoonfeeder.tasks import cursor, routing


def check(fields: ProfileFields) -> None:
    """The rules a preset must keep to be saved: well-formed templates, and a chain of distinct pairs that
    can each run its type on the lane of the first (the worker moves a task along its own queue)."""
    placeholders(fields.prompt_template, field="prompt_template")
    if fields.system is not None:
        placeholders(fields.system, field="system")
    lane = routing.ensure_runnable(fields.type, fields.provider)
    chain = [(fields.provider, fields.model or routing.default_model(fields.provider))]
    for pair in fields.fallbacks:
        if routing.ensure_runnable(fields.type, pair.provider) is not lane:
            raise Unprocessable(f"fallback {pair.provider}/{pair.model} runs on another lane than the preset",
                                code="UNSUPPORTED_COMBINATION", details={"fallback": pair.model_dump(mode="json")})
        chain.append((pair.provider, pair.model))
    if len(set(chain)) != len(chain):
        raise ValidationFailed("each provider/model pair may appear once in the chain (preset and fallbacks)",
                               code="DUPLICATE_FALLBACK",
                               details={"chain": [f"{provider}/{model}" for provider, model in chain]})


@dataclass
class ProfileService:
    store: ProfileStore

    def create(self, owner: str, fields: ProfileFields) -> ProfileView:
        check(fields)
        at = ids.now_iso()
        profile = Profile(**fields.model_dump(), id=ids.new_id(), owner=owner, created_at=at, updated_at=at)
        if not self.store.put(profile, new=True):  # a ULID collision: never overwrite
            raise RuntimeError("a new preset id already exists")
        return profile.view()

    def get(self, owner: str, profile_id: str) -> Profile:
        profile = self.store.get(owner, profile_id)
        if profile is None:
            raise NotFound(f"preset {profile_id} not found")
        return profile

    def list(self, owner: str, *, limit: int, after: str | None) -> tuple[list[ProfileView], str | None]:
        start = cursor.decode(after, owner=owner, fields=PAGE_KEY_FIELDS, owner_field="pk")
        profiles, last_key = self.store.list(owner, limit=limit, start_key=start)
        return [p.view() for p in profiles], cursor.encode(last_key)

    def replace(self, owner: str, profile_id: str, fields: ProfileFields) -> ProfileView:
        check(fields)
        current = self.get(owner, profile_id)
        profile = Profile(**fields.model_dump(), id=profile_id, owner=owner, created_at=current.created_at,
                          updated_at=ids.now_iso())
        if not self.store.put(profile, new=False):  # deleted meanwhile: not brought back
            raise NotFound(f"preset {profile_id} not found")
        return profile.view()

    def delete(self, owner: str, profile_id: str) -> None:
        if not self.store.delete(owner, profile_id):
            raise NotFound(f"preset {profile_id} not found")
