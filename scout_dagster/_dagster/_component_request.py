"""The YAML form of a component's ``request:``.

It is a :class:`~scout_dagster.FindAllRequest` or
:class:`~scout_dagster.SearchRequest`, its YAML form derived from the
dataclass's fields (:func:`request_model`), so a field added to a request is
a field of the YAML with no change here; the request checks itself when it is
built.
"""

import dataclasses
import functools
import inspect
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Union

from dagster.components import ResolutionContext, Resolver
from pydantic import BaseModel, ConfigDict, Field, create_model

__all__ = ["request_field_names", "request_model"]


def _yaml_type(hint: Any) -> Any:
    """The type of a request field as YAML gives it: a list where the request
    keeps a tuple, a dict where it keeps a Mapping (the request converts)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return _alias(Union, *(_yaml_type(arg) for arg in args))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _alias(list, _yaml_type(args[0]))
    if origin in (list, Sequence):
        return _alias(list, *map(_yaml_type, args)) if args else list
    if origin in (dict, Mapping):
        return _alias(dict, args[0], _yaml_type(args[1])) if args else dict
    return hint


def _alias(origin: Any, *params: Any) -> Any:
    """``origin[params]``, for types built at run time."""
    return origin[params if len(params) > 1 else params[0]]


def _is_tuple_type(hint: Any) -> bool:
    if typing.get_origin(hint) in (Union, types.UnionType):
        return any(_is_tuple_type(arg) for arg in typing.get_args(hint))
    return typing.get_origin(hint) is tuple


def _type_hints(kind: type) -> dict[str, Any]:
    """The annotations of a request class and its bases, each evaluated where
    it was written (the package shows its classes as ``scout_dagster.X``, a
    namespace other than the one their annotations were written in)."""
    hints: dict[str, Any] = {}
    for base in reversed(kind.__mro__):
        if "__annotations__" in vars(base):
            hints.update(inspect.get_annotations(base, globals=_namespace(base), eval_str=True))
    return hints


def _namespace(cls: type) -> dict[str, Any]:
    for value in vars(cls).values():
        if isinstance(value, types.FunctionType) and value.__qualname__.startswith(
            f"{cls.__qualname__}."
        ):
            return value.__globals__
    module = sys.modules.get(cls.__module__)
    return vars(module) if module is not None else {}


def _summary(kind: type) -> str:
    return (kind.__doc__ or kind.__name__).strip().split("\n\n")[0].replace("\n", " ")


@functools.cache
def request_model(kind: type) -> type[BaseModel]:
    """The YAML form of a request dataclass: one field per field it takes, of
    the type it declares (strictly: ``limit: "5"`` or ``limit: true`` is no
    limit), with its default, and no other field.

    It checks the shape only; what a value means (a limit of at least 1, a
    valid ``output_schema``, a query that fits) is the request's own check,
    run when the component builds it.
    """
    if not dataclasses.is_dataclass(kind):
        raise TypeError(f"{kind!r} is not a dataclass")
    hints = _type_hints(kind)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(kind):
        if not field.init:
            continue
        description = field.metadata.get("description")
        if field.default is not dataclasses.MISSING:
            info = Field(default=field.default, description=description)
        elif field.default_factory is not dataclasses.MISSING:
            info = Field(default_factory=field.default_factory, description=description)
        else:
            info = Field(description=description)
        fields[field.name] = (_yaml_type(hints[field.name]), info)
    return create_model(
        kind.__name__,
        __config__=ConfigDict(extra="forbid", strict=True, title=kind.__name__),
        __doc__=f"The fields of scout_dagster.{kind.__name__}: {_summary(kind)}",
        **fields,
    )


def request_field_names(kind: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(kind) if field.init)


def _request_resolver(kind: type) -> Resolver:
    def resolve(context: ResolutionContext, value: BaseModel) -> Any:
        # Only what the YAML sets: the defaults are the request's own. A list
        # stands for a tuple where the request declares one.
        hints = _type_hints(kind)
        given = {
            name: tuple(item) if isinstance(item, list) and _is_tuple_type(hints[name]) else item
            for name, item in value.model_dump(exclude_unset=True).items()
        }
        return kind(**given)

    # The request's strings are not Jinja templates: they are the package's own
    # partition templates ("{start:%B %Y}", "{{" for a literal brace), which
    # Jinja would misread. _component_model takes the template form away.
    return Resolver(
        resolve,
        model_field_type=request_model(kind),
        description=f"The run's request: the fields of scout_dagster.{kind.__name__}, "
        "checked by it at load.",
    )
