"""SAM template handling: load, transform to CloudFormation, and evaluate CloudFormation intrinsics."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Resolver", "SamTemplate", "load_sam_template", "references", "substitute"]

DUMMY_BUCKET = "localcloud-code"
_SUB_VAR = re.compile(r"\$\{([^!}][^}]*)\}")
Json = Any


@dataclass
class SamTemplate:
    """The original template, its CloudFormation transform, and where the local code lives."""

    source: dict[str, Json]
    transformed: dict[str, Json]
    code_dirs: dict[str, Path] = field(default_factory=dict)  # function logical id -> dir
    layer_dirs: dict[str, Path] = field(default_factory=dict)  # *transformed* layer logical id -> dir
    layer_sources: dict[str, Path] = field(default_factory=dict)  # original layer logical id -> dir
    parameters: dict[str, str] = field(default_factory=dict)  # defaults merged with overrides

    @property
    def resources(self) -> dict[str, dict[str, Json]]:
        return self.transformed["Resources"]  # type: ignore[no-any-return]


def _plain(value: Json) -> Json:
    """cfn-lint's node classes behave like dict/str but carry marks; make ordinary JSON values."""
    return json.loads(json.dumps(value))


def load_sam_template(path: Path, region: str, account_id: str,
                      parameters: Mapping[str, str]) -> SamTemplate:
    # Imported here: together they take ~1.3 s, which create_stack overlaps with moto's own warm-up.
    import boto3
    from cfnlint.decode import decode_str
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.translator import Translator

    base = path.parent
    decoded, matches = decode_str(path.read_text(encoding="utf-8"))
    if decoded is None:
        raise ValueError(f"cannot parse {path}: {matches}")
    source: dict[str, Json] = _plain(decoded)
    local = copy.deepcopy(source)
    code_dirs: dict[str, Path] = {}
    layer_sources: dict[str, Path] = {}
    for logical_id, resource in local.get("Resources", {}).items():
        props = resource.get("Properties") or {}
        for key, found in (("CodeUri", code_dirs), ("ContentUri", layer_sources)):
            uri = props.get(key)
            if isinstance(uri, str) and not uri.startswith("s3://"):
                found[logical_id] = (base / uri).resolve()
                # The object key carries the logical id so transformed layers can be traced back.
                props[key] = f"s3://{DUMMY_BUCKET}/{logical_id}.zip"
    defaults = {name: str(spec["Default"]) for name, spec in local.get("Parameters", {}).items()
                if isinstance(spec, dict) and "Default" in spec}
    values = {**defaults, **{k: str(v) for k, v in parameters.items()}}
    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    pseudo = {"AWS::Region": region, "AWS::AccountId": account_id,
              "AWS::Partition": ArnGenerator.get_partition_name(region)}
    _language_extensions(local, {**values, **pseudo})
    # transform() would look the region up in the process's boto3 configuration; give it ours.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    transformed = _plain(translator.translate(local, parameter_values={**values, **pseudo},
                                              get_managed_policy_map=dict))
    layer_dirs: dict[str, Path] = {}
    for logical_id, resource in transformed["Resources"].items():
        if resource.get("Type") == "AWS::Lambda::LayerVersion":
            key = str((resource.get("Properties", {}).get("Content") or {}).get("S3Key", ""))
            original = key.removesuffix(".zip")
            if original in layer_sources:
                layer_dirs[logical_id] = layer_sources[original]
    return SamTemplate(source, transformed, code_dirs, layer_dirs, layer_sources, values)


def _language_extensions(template: dict[str, Json], parameters: Mapping[str, str]) -> None:
    """The part of AWS::LanguageExtensions this template uses, which the SAM translator does not run:
    intrinsics in DeletionPolicy/UpdateReplacePolicy, and every Fn::If (its branch chosen, AWS::NoValue
    dropped) in Globals and resource properties, such as the SnapStart alias, resolved against parameters
    and conditions."""
    def no_attributes(logical_id: str, name: str) -> str:
        raise KeyError(f"{logical_id}.{name}")

    resolver = Resolver(parameters, template.get("Conditions") or {}, {}, no_attributes)
    if "Globals" in template:
        template["Globals"] = _choose_branches(template["Globals"], resolver)
    for resource in (template.get("Resources") or {}).values():
        for key in ("DeletionPolicy", "UpdateReplacePolicy"):
            if isinstance(resource.get(key), dict):
                resource[key] = resolver.resolve(resource[key])
        if "Properties" in resource:
            resource["Properties"] = _choose_branches(resource["Properties"], resolver)


_NO_VALUE = object()


def _choose_branches(node: Json, resolver: Resolver) -> Json:
    """``node`` with each Fn::If replaced by the branch its condition picks (``_NO_VALUE`` for AWS::NoValue,
    which removes the key or list item holding it)."""
    if isinstance(node, list):
        return [item for item in (_choose_branches(i, resolver) for i in node) if item is not _NO_VALUE]
    if not isinstance(node, dict):
        return node
    if node == {"Ref": "AWS::NoValue"}:
        return _NO_VALUE
    if len(node) == 1 and "Fn::If" in node:
        name, when_true, when_false = node["Fn::If"]
        return _choose_branches(when_true if resolver.condition(name) else when_false, resolver)
    chosen = {key: _choose_branches(value, resolver) for key, value in node.items()}
    return {key: value for key, value in chosen.items() if value is not _NO_VALUE}


def _sub_parts(value: Json) -> tuple[str, dict[str, Json]] | None:
    if isinstance(value, str):
        return value, {}
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        return value[0], dict(value[1] or {})
    return None


def _getatt(value: Json) -> tuple[str, str]:
    if isinstance(value, str):
        logical_id, _, attr = value.partition(".")
        return logical_id, attr
    return str(value[0]), str(value[1])


def substitute(node: Json, ids: Mapping[str, str],
               attr: Callable[[str, str], str]) -> Json:
    """Replace every reference to the resources in ``ids`` by literals (Ref, GetAtt, ``${X}`` in Sub)."""
    if isinstance(node, list):
        return [substitute(item, ids, attr) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, value),) = node.items()
        if key == "Ref" and value in ids:
            return ids[value]
        if key == "Fn::GetAtt" and _getatt(value)[0] in ids:
            return attr(*_getatt(value))
        if key == "Fn::Sub" and (parts := _sub_parts(value)) is not None:
            text, local_vars = parts

            def repl(match: re.Match[str]) -> str:
                name = match.group(1)
                logical_id, _, attribute = name.partition(".")
                if name in local_vars or logical_id not in ids:
                    return match.group(0)
                return attr(logical_id, attribute) if attribute else ids[logical_id]

            text = _SUB_VAR.sub(repl, text)
            if local_vars:
                return {"Fn::Sub": [text, substitute(local_vars, ids, attr)]}
            return {"Fn::Sub": text}
    return {key: substitute(value, ids, attr) for key, value in node.items()}


def references(node: Json) -> set[str]:
    """Logical ids (and parameters) a value refers to, through Ref, GetAtt and Sub."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref" and isinstance(value, str):
                return {value}
            if key == "Fn::GetAtt":
                return {_getatt(value)[0]}
            if key == "Fn::Sub" and (parts := _sub_parts(value)) is not None:
                text, local_vars = parts
                names = {m.group(1).partition(".")[0] for m in _SUB_VAR.finditer(text)}
                return (names - set(local_vars)) | references(list(local_vars.values()))
        for value in node.values():
            found |= references(value)
    return found


class Resolver:
    """Evaluates intrinsics over known parameters, resource ids and attributes; unknowns raise KeyError."""

    def __init__(self, parameters: Mapping[str, str], conditions: Mapping[str, Json],
                 ids: Mapping[str, str], attr: Callable[[str, str], str]) -> None:
        self.parameters = parameters
        self.conditions = conditions
        self.ids = ids
        self.attr = attr

    def _ref(self, name: str) -> Json:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.ids:
            return self.ids[name]
        raise KeyError(name)

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, node: Json) -> Json:
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or not next(iter(node)).startswith(("Fn::", "Ref", "Condition")):
            return {key: self.resolve(value) for key, value in node.items()}
        ((key, value),) = node.items()
        if key == "Ref":
            return self._ref(value)
        if key == "Condition":
            return self.condition(value)
        if key == "Fn::GetAtt":
            return self.attr(*_getatt(value))
        if key == "Fn::Sub":
            parts = _sub_parts(value)
            if parts is None:
                raise ValueError(f"bad Fn::Sub {value!r}")
            text, local_vars = parts
            resolved = {name: self.resolve(v) for name, v in local_vars.items()}

            def repl(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in resolved:
                    return str(resolved[name])
                logical_id, _, attribute = name.partition(".")
                return str(self.attr(logical_id, attribute) if attribute else self._ref(name))

            return _SUB_VAR.sub(repl, text).replace("${!", "${")
        if key == "Fn::Join":
            separator, items = value
            return str(separator).join(str(i) for i in self.resolve(items))
        if key == "Fn::Select":
            index, items = self.resolve(value)
            return items[int(index)]
        if key == "Fn::Split":
            separator, text = self.resolve(value)
            return str(text).split(str(separator))
        if key == "Fn::If":
            name, when_true, when_false = value
            return self.resolve(when_true if self.condition(name) else when_false)
        if key == "Fn::Equals":
            left, right = self.resolve(value)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(value[0])
        if key == "Fn::And":
            return all(self.resolve(v) for v in value)
        if key == "Fn::Or":
            return any(self.resolve(v) for v in value)
        return {key: self.resolve(value)}
