"""A task created from a preset: the preset's settings, the body's explicit fields over them, and the
template rendered with the body's `variables`.

Precedence: a field the body gives wins over the preset's (provider, model, system, name); options are merged
per option (the body's over the preset's). The prompt always comes from the template, so the body may not
give one. The preset's model applies only on the preset's own provider. The fallback chain is the preset's,
without the pair the task starts on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from spoonfeeder.data.profiles import ProfileStore
from spoonfeeder.errors import Unprocessable, ValidationFailed
from spoonfeeder.models.tasks import TaskCreate, TaskType
from spoonfeeder.presets.template import check_variables, placeholders, render
from spoonfeeder.tasks import routing


@dataclass(frozen=True)
class Applied:
    body: TaskCreate  # complete: type, provider and prompt are set
    snapshot: dict[str, Any] = field(default_factory=dict)  # what the request snapshot adds (profile_id …)


def apply_preset(store: ProfileStore, owner: str, body: TaskCreate) -> Applied:
    """The body to create, after its preset if it names one (one GetItem); nothing is read otherwise."""
    if body.profile_id is None:
        if body.variables:
            raise ValidationFailed("variables fill a preset's template: give profile_id too", code="VALIDATION_ERROR")
        return Applied(body)
    profile = store.get(owner, body.profile_id)
    if profile is None:
        raise Unprocessable(f"preset {body.profile_id} not found", code="PROFILE_NOT_FOUND",
                            details={"profile_id": body.profile_id})
    if body.prompt is not None or body.messages is not None:
        raise ValidationFailed("a preset's template gives the prompt: send variables, not prompt or messages")
    if body.type is not None and body.type is not profile.type:
        raise ValidationFailed(f"the preset is for {profile.type} tasks, not {body.type}",
                               details={"type": str(body.type), "preset_type": str(profile.type)})
    variables = body.variables or {}
    system_template = profile.system if body.system is None else None
    check_variables([*placeholders(profile.prompt_template),
                     *(placeholders(system_template, field="system") if system_template else [])], variables)
    provider = body.provider or profile.provider
    model = body.model or (profile.model if provider is profile.provider else None)
    starts_on = (provider, model or routing.default_model(provider))
    options = {**profile.options.model_dump(exclude_none=True), **body.options.model_dump(exclude_none=True)}
    prompt = render(profile.prompt_template, variables)
    given = body.model_dump(exclude_unset=True, exclude={"profile_id", "variables", "prompt"})
    resolved = _complete_body({
        **given, "type": profile.type, "provider": provider, "model": model, "name": body.name or profile.name,
        # a chat preset's template is the user's turn: the preset gives the conversation its opening message
        **({"messages": [{"role": "user", "content": prompt}]} if profile.type is TaskType.CHAT
           else {"prompt": prompt}),
        "system": render(system_template, variables, field="system") if system_template else body.system,
        "options": options,
    })
    fallbacks = [pair.model_dump(mode="json") for pair in profile.fallbacks
                 if (pair.provider, pair.model) != starts_on]
    snapshot: dict[str, Any] = {"profile_id": profile.id, "variables": variables}
    if fallbacks:
        snapshot["fallbacks"] = fallbacks
    return Applied(resolved, snapshot)


def _complete_body(fields: dict[str, Any]) -> TaskCreate:
    """The rendered body, checked by every rule a body without a preset meets (type, provider, options)."""
    try:
        return TaskCreate.model_validate(fields)
    except ValidationError as exc:
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        raise ValidationFailed("the task the preset makes is not valid", details={"errors": problems}) from None
