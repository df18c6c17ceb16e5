"""Validating a provisioning file and turning it into the core models."""

from __future__ import annotations

import typing
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from softphone.config.errors import ConfigError, ConfigIssue, format_key
from softphone.config.schema import LOCKABLE_SECTIONS, Provisioning
from softphone.config.toml_lines import KeyPath, key_lines, line_of, parse_toml
from softphone.core.directory import Directory
from softphone.core.errors import InvalidParamsError

#: Keys refused anywhere in a provisioning file: secrets never travel in it.
SECRET_KEYS = frozenset({"password", "passwd", "pwd", "secret", "ha1"})
PASSWORD_MESSAGE = (
    "passwords are never provisioned: remove this key. Each agent's password is "
    "asked in the app and stored in the operating system's keyring"
)


def validate_provisioning_text(text: str, source: str) -> Provisioning:
    """Parse and validate provisioning TOML.

    Raises :class:`ConfigError` listing every problem with file, line and key.
    """
    data = parse_toml(text, source)
    lines = key_lines(text)
    issues = [ConfigIssue(source, line_of(lines, path), format_key(path), PASSWORD_MESSAGE)
              for path in _secret_keys(data)]
    try:
        provisioning = Provisioning.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            if error["type"] == "extra_forbidden" and str(loc[-1]).lower() in SECRET_KEYS:
                continue  # already reported with the keyring explanation
            issues.append(ConfigIssue(source, line_of(lines, loc), format_key(loc),
                                      _message(error, loc)))
        raise ConfigError(issues) from None
    issues += [ConfigIssue(source, line_of(lines, path), format_key(path), message)
               for path, message in cross_check(provisioning)]
    if issues:
        raise ConfigError(issues)
    return provisioning


def build_directory(provisioning: Provisioning) -> Directory:
    """The provisioned directory as the core :class:`Directory`."""
    directory = provisioning.directory
    identity = provisioning.identity
    my_groups = list(identity.groups)
    if not my_groups and identity.agent_id:
        my_groups = [g.id for g in directory.groups if identity.agent_id in g.members]
    return Directory.from_json({
        "agents": [{"id": a.id, "name": a.name, "uri": a.uri} for a in directory.agents],
        "groups": [{"id": g.id, "name": g.name, "members": list(g.members), "uri": g.uri,
                    "presence_list": g.presence_list}
                   for g in directory.groups],
        "presets": [{"id": p.id, "name": p.name, "number": p.number, "group": p.group}
                    for p in directory.presets],
        "my_groups": my_groups,
    })


def provisioned_keys(provisioning: Provisioning) -> frozenset[str]:
    """Dotted keys of the lockable tables that the file actually wrote."""
    keys: set[str] = set()
    for section in LOCKABLE_SECTIONS:
        if section in provisioning.model_fields_set:
            model = getattr(provisioning, section)
            keys.update(f"{section}.{name}" for name in model.model_fields_set)
    return frozenset(keys)


def cross_check(p: Provisioning) -> list[tuple[KeyPath, str]]:
    """References between tables that a per-field schema cannot see."""
    problems: list[tuple[KeyPath, str]] = []
    tables: list[tuple[str, list[str]]] = [
        ("accounts", [a.id for a in p.accounts]),
        ("directory.agents", [a.id for a in p.directory.agents]),
        ("directory.groups", [g.id for g in p.directory.groups]),
        ("directory.presets", [x.id for x in p.directory.presets]),
    ]
    for table, ids in tables:
        seen: set[str] = set()
        for i, item_id in enumerate(ids):
            if item_id in seen:
                problems.append(((*table.split("."), i, "id"), f"duplicate id {item_id!r}"))
            seen.add(item_id)
    agents = {a.id for a in p.directory.agents}
    groups = {g.id for g in p.directory.groups}
    for i, group in enumerate(p.directory.groups):
        for j, member in enumerate(group.members):
            if member not in agents:
                problems.append((("directory", "groups", i, "members", j),
                                 f"{member!r} is not the id of an agent in directory.agents"))
    for i, preset in enumerate(p.directory.presets):
        if preset.group and preset.group not in groups:
            problems.append((("directory", "presets", i, "group"),
                             f"{preset.group!r} is not the id of a group in directory.groups"))
    if p.identity.agent_id and p.identity.agent_id not in agents:
        problems.append((("identity", "agent_id"),
                         f"{p.identity.agent_id!r} is not the id of an agent in directory.agents"))
    for j, group_id in enumerate(p.identity.groups):
        if group_id not in groups:
            problems.append((("identity", "groups", j),
                             f"{group_id!r} is not the id of a group in directory.groups"))
    if p.security.tls_required:
        for i, account in enumerate(p.accounts):
            if account.transport != "tls":
                problems.append((("accounts", i, "transport"),
                                 "security.tls_required is true: the transport must be \"tls\""))
    if not problems:
        try:
            build_directory(p)
        except InvalidParamsError as exc:
            problems.append((("directory",), str(exc)))
    return problems


def _secret_keys(data: Any, path: KeyPath = ()) -> Iterator[KeyPath]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key.lower() in SECRET_KEYS:
                yield (*path, key)
            else:
                yield from _secret_keys(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _secret_keys(value, (*path, i))


def _message(error: Any, loc: Sequence[str | int]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = allowed_keys(loc[:-1])
        return "unknown key" + (f" (allowed here: {', '.join(allowed)})" if allowed else "")
    if kind == "missing":
        return "required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if kind != "value_error" and isinstance(value, str | int | float | bool):
        message += f" (got {str(value)[:60]!r})" if isinstance(value, str) else f" (got {value})"
    return message


def allowed_keys(loc: Sequence[str | int], root: type[BaseModel] = Provisioning) -> list[str]:
    """The keys the schema accepts in the table at ``loc``."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = model_of(field.annotation)
    return sorted(model.model_fields) if model else []


def model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = model_of(arg)
        if found:
            return found
    return None
