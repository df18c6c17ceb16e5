"""The key reference of ``docs/provisioning.md``, generated from the schema."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from softphone.config.provisioning import model_of
from softphone.config.schema import Provisioning


def schema_keys(model: type[BaseModel] = Provisioning, prefix: str = "") -> Iterator[
        tuple[str, FieldInfo]]:
    """Every key path (``directory.agents[].uri``) with its field, depth first."""
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path, info
        sub = model_of(info.annotation)
        if sub is not None:
            is_list = typing.get_origin(info.annotation) is list
            yield from schema_keys(sub, f"{path}[]." if is_list else f"{path}.")


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is list:
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if origin is typing.Literal:
        return " \\| ".join(f"`{a!r}`".replace("'", '"') for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "table"
        return {"str": "string", "int": "integer", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__)
    return str(annotation)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return ""
        if isinstance(value, list) and value and isinstance(value[0], BaseModel):
            return "see the example"
        return f"`{value!r}`".replace("'", '"')
    if info.default is PydanticUndefined:
        return "required"
    return f"`{info.default!r}`".replace("'", '"').replace("True", "true").replace(
        "False", "false")


def reference_markdown() -> str:
    """A Markdown table of every provisioning key."""
    rows = ["| Key | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
    for path, info in schema_keys():
        default = _default(info).replace("True", "true").replace("False", "false")
        meaning = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{path}` | {_type_name(info.annotation)} | {default} | {meaning} |")
    return "\n".join(rows) + "\n"
