"""Reading connector specs from YAML, and reporting every problem as ``file: path.to.field: problem``.

YAML is read strictly (duplicate keys and aliases are errors), validated by the pydantic models
in `schema`, then by the cross-field rules in `checks`. Pydantic's error locations become the
dotted paths; the common messages are rewritten to read well.

Specs also come from people (custom connectors), so reading one is bounded: its size, how deeply it nests
(the composer recurses), and its numbers (64-bit integers, finite floats: Python refuses to read an integer of
more than 4,300 digits, and a database column holds less). Whatever a value's constructor cannot make of it
(``!!int abc``, a 13th month) is a problem at that line, never an exception.
"""

from __future__ import annotations

import difflib
import functools
import math
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .checks import check_spec
from .errors import Problem, SpecError
from .schema import AUTH_TYPES, ConnectorSpec

__all__ = [
    "MAX_SPEC_BYTES",
    "MAX_SPEC_DEPTH",
    "SPEC_SUFFIXES",
    "find_spec_files",
    "load_spec_file",
    "load_specs",
    "parse_spec_text",
]

SPEC_SUFFIXES = (".yaml", ".yml")
# 25 times the largest built-in spec. Reading YAML in Python takes about 20 ms per KiB at worst (a long flow
# list), and saving a custom connector reads it up to three times (check, save, register; see _parse_memo).
MAX_SPEC_BYTES = 128 * 1024
MAX_SPEC_DEPTH = 20  # mappings and lists inside each other; the built-in specs need 7
_MAX_INT = 2**63 - 1
_MAX_NUMBER_CHARS = 100  # 0b and 64 binary digits, with room for _ separators; longer is never a useful number


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent override hides typos), aliases (YAML bombs), nesting
    deeper than MAX_SPEC_DEPTH, and numbers no column or request could hold."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in connector specs", event.start_mark
            )
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= MAX_SPEC_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_SPEC_DEPTH} levels deep", self.peek_event().start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError, KeyError):
            # A constructor given what its tag cannot hold: `!!int abc`, `2020-13-45`, `!!timestamp x`.
            kind = node.tag.rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {_excerpt(node)} as {_KINDS.get(kind, kind)}", node.start_mark
            ) from None


_KINDS = {"int": "an integer", "float": "a number", "timestamp": "a date", "bool": "true or false",
          "binary": "base64 data"}


def _excerpt(node: Any) -> str:
    value = node.value if isinstance(node.value, str) else ""
    return repr(value if len(value) <= 40 else value[:40] + "…") if value else "this value"


def _construct_str(loader: _StrictLoader, node: yaml.ScalarNode) -> str:
    # A double-quoted "\0" or "\ud800" reads as a NUL or a lone surrogate: no database column or page takes one.
    value = loader.construct_yaml_str(node)
    if "\x00" in value or any("\ud800" <= char <= "\udfff" for char in value):
        raise yaml.constructor.ConstructorError(
            None, None, "strings must not contain NUL characters or unpaired surrogates (\\0, \\ud800...)",
            node.start_mark,
        )
    return value


def _check_number_length(node: yaml.ScalarNode) -> None:
    if len(node.value) > _MAX_NUMBER_CHARS:
        raise yaml.constructor.ConstructorError(None, None, f"{_excerpt(node)} is too long for a number",
                                                node.start_mark)


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    _check_number_length(node)
    value = loader.construct_yaml_int(node)
    if not -_MAX_INT - 1 <= value <= _MAX_INT:
        raise yaml.constructor.ConstructorError(
            None, None, f"{_excerpt(node)} is out of range (integers are at most {_MAX_INT:,} either way)",
            node.start_mark,
        )
    return value


def _construct_float(loader: _StrictLoader, node: yaml.ScalarNode) -> float:
    _check_number_length(node)
    value = loader.construct_yaml_float(node)
    if not math.isfinite(value):
        raise yaml.constructor.ConstructorError(None, None, f"{_excerpt(node)} is not a finite number",
                                                node.start_mark)
    return value


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            raise yaml.constructor.ConstructorError(
                None, None, "merge keys (<<) are not allowed in connector specs", key_node.start_mark
            )
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain values", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _yaml_problem(source: str, exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return Problem(source, "", f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}")
    return Problem(source, "", f"invalid YAML: {exc}")


def parse_spec_text(text: str, *, source: str) -> ConnectorSpec:
    """Parse and validate one spec; raises `SpecError` listing every problem found."""
    if len(text.encode("utf-8", "replace")) > MAX_SPEC_BYTES:
        raise SpecError([Problem(source, "", f"spec is larger than {MAX_SPEC_BYTES // 1024} KiB")])
    return _parse_memo(text, source)


@functools.lru_cache(maxsize=16)
def _parse_memo(text: str, source: str) -> ConnectorSpec:
    """The valid specs read most recently (a spec is immutable): saving a custom connector checks its text in
    the form, again in the service, and registers it, all in one request. A refusal is not kept."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as exc:
        raise SpecError([_yaml_problem(source, exc)]) from None
    if not isinstance(data, dict):
        raise SpecError([Problem(source, "", "a spec must be a YAML mapping (key: value pairs)")])
    try:
        spec = ConnectorSpec.model_validate(data)
        problems = [Problem(source, path, message) for path, message in check_spec(spec)]
    except ValidationError as exc:
        raise SpecError(_problems_from_validation(source, exc)) from None
    except RecursionError:  # the depth limit above keeps this from happening; a message still beats a 500
        raise SpecError([Problem(source, "", "the spec is nested too deeply")]) from None
    if problems:
        raise SpecError(problems)
    return spec.with_source(source)


def load_spec_file(path: str | Path) -> ConnectorSpec:
    """Read and validate one spec file; the file name is the ``source`` in messages."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(source, "", f"cannot read file: {exc}")]) from None
    return parse_spec_text(text, source=source)


def find_spec_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """The spec files named by ``paths``: files as given, folders' ``*.yaml``/``*.yml`` (not nested)."""
    files: list[Path] = []
    problems: list[Problem] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(str(path), "", "no such file or folder"))
    return files, problems


def load_specs(paths: Iterable[str | Path]) -> tuple[list[ConnectorSpec], list[Problem]]:
    """Load every spec under ``paths``; returns the valid specs and all problems, duplicates included.

    A key defined twice is reported on the second file, naming the first.
    """
    files, problems = find_spec_files(paths)
    specs: list[ConnectorSpec] = []
    by_key: dict[str, ConnectorSpec] = {}
    for file in files:
        try:
            spec = load_spec_file(file)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        first = by_key.get(spec.key)
        if first is not None:
            problems.append(
                Problem(spec.source, "key", f"duplicate connector key {spec.key!r} (already defined in {first.source})")
            )
            continue
        by_key[spec.key] = spec
        specs.append(spec)
    return specs, problems


# --- turning pydantic errors into readable problems ------------------------------------------


def _problems_from_validation(source: str, exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for error in exc.errors(include_url=False):
        path, message = _describe(error)
        problem = Problem(source, path, message)
        if problem not in problems:
            problems.append(problem)
    return problems


def _describe(error: Any) -> tuple[str, str]:
    loc: tuple[Any, ...] = tuple(error["loc"])
    kind: str = error["type"]
    message: str = error["msg"]
    is_key_error = bool(loc) and loc[-1] == "[key]"
    path_parts = [str(p) for p in _strip_union_tags(loc) if p != "[key]"]
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag")
        return _join(*path_parts, "type"), f"unknown auth type {tag!r} (expected one of {', '.join(AUTH_TYPES)})"
    if kind == "union_tag_not_found":
        return _join(*path_parts, "type"), f"Field required (one of {', '.join(AUTH_TYPES)})"
    if kind == "extra_forbidden":
        return _join(*path_parts), _unknown_field_message(loc)
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if is_key_error:
        message = f"invalid name: {message}"
    return _join(*path_parts), message


def _join(*parts: str) -> str:
    return ".".join(parts)


def _strip_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the discriminator tag pydantic puts in locations: ``auth.0.oauth2.token_url`` → ``auth.0.token_url``."""
    if len(loc) >= 3 and loc[0] == "auth" and isinstance(loc[1], int) and loc[2] in AUTH_TYPES:
        return (*loc[:2], *loc[3:])
    return loc


def _unknown_field_message(loc: tuple[Any, ...]) -> str:
    name = str(loc[-1])
    model = _model_at(loc[:-1])
    if model is None:
        return "unknown field"
    allowed = sorted(f.alias or n for n, f in model.model_fields.items())
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(allowed)}"
    return f"unknown field ({hint})"


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _model_at(loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model class found by following ``loc`` from `ConnectorSpec`, for "did you mean" hints."""
    tp: Any = ConnectorSpec
    for part in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            tp = next(
                (a for a in typing.get_args(tp) if _is_model(a) and _tag_of(a) == part),
                None,
            )
            if tp is None:
                return None
            continue
        if _is_model(tp) and isinstance(part, str):
            fields = {f.alias or n: f for n, f in tp.model_fields.items()}
            if part not in fields:
                return None
            tp = fields[part].annotation
        elif origin is list and isinstance(part, int):
            tp = typing.get_args(tp)[0]
        elif origin is dict and isinstance(part, str):
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if _is_model(tp) else None


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _tag_of(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("type")
    args = typing.get_args(field.annotation) if field is not None else ()
    return args[0] if args else None
