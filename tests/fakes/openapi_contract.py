"""The GitHub REST subset (tests/contracts/github-rest-subset.json) as a checker: matches a method and path to
an operation and validates requests and responses against GitHub's own OpenAPI schemas (jsonschema).

The fake GitHub (fake_github.py) runs every request and response through `OpenApiContract`; only the
faults of GitHub's description listed in tests/contracts/README.md are tolerated (`KNOWN_SPEC_FAULTS`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

SPEC_ENV = "CI_TRACK_GITHUB_OPENAPI"


SPEC_PATH = Path(__file__).resolve().parent.parent / "contracts" / "github-rest-subset.json"


ENTERPRISE_PREFIX = "/api/v3"


_SPEC_URI = "urn:github-rest-subset"


def locate_spec() -> Path:
    """The vendored subset (tests/contracts/), or $CI_TRACK_GITHUB_OPENAPI to check against another copy."""
    from_env = os.environ.get(SPEC_ENV, "")
    if from_env:
        if not Path(from_env).is_file():
            raise FileNotFoundError(f"{SPEC_ENV}={from_env} is not an existing file")
        return Path(from_env)
    return SPEC_PATH


@dataclasses.dataclass(frozen=True)
class KnownFault:
    """A fault in GitHub's own description (README of the subset) and how the validator tolerates it."""

    name: str
    description: str
    # "schema": the validator patches the schema (the fault would reject what GitHub really sends);
    # "example": only the description's examples are wrong; the fake sends the complete object, so
    # the tolerance applies only when the examples themselves are validated;
    applies_to: str
    # for "example" faults: does this validation error belong to the fault?
    matches: Callable[[str, str, Any], bool] = lambda _op, _status, _error: False


KNOWN_SPEC_FAULTS: tuple[KnownFault, ...] = (
    KnownFault(
        name="pull-request-example-team-type",
        description="in the pull-request example `requested_teams[0]` has no `type`",
        applies_to="example",
        matches=lambda op, status, e: (
            op == "pulls/get"
            and status == "200"
            and _is_missing_required(e, "type")
            and list(e.absolute_path)[:1] == ["requested_teams"]
        ),
    ),
    KnownFault(
        name="check-run-conclusion-null",
        description="a check run's `conclusion` is nullable but `null` is not in its enum",
        applies_to="schema",
    ),
    KnownFault(
        name="checks-create-discriminator",
        description="`checks/create` puts a `discriminator` on an inline `oneOf` (dropped: JSON Schema has none)",
        applies_to="schema",
    ),
)


def _is_missing_required(error: Any, prop: str) -> bool:
    return bool(error.validator == "required" and error.message == f"'{prop}' is a required property")


def _openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema: `nullable: true` adds "null" to the type.

    An `enum` is left alone, as OpenAPI 3.0.3 says: a nullable enum must list null itself.
    """
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _openapi_to_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False) is True:
        kind = converted.get("type")
        if kind is None:
            return {"anyOf": [{"type": "null"}, converted]}
        converted["type"] = [kind, "null"] if isinstance(kind, str) else [*kind, "null"]
    return converted


def _patch_schema_faults(spec: dict[str, Any]) -> None:
    """GitHub's faults (KNOWN_SPEC_FAULTS); another forge's subset patches its own (x-known-faults)."""
    if "check-run" not in spec.get("components", {}).get("schemas", {}):
        return
    conclusion = spec["components"]["schemas"]["check-run"]["properties"]["conclusion"]
    if None not in conclusion["enum"]:
        conclusion["enum"] = [*conclusion["enum"], None]
    create = spec["paths"]["/repos/{owner}/{repo}/check-runs"]["post"]["requestBody"]
    create["content"]["application/json"]["schema"].pop("discriminator", None)


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclasses.dataclass(frozen=True)
class Operation:
    method: str
    template: str
    operation_id: str
    pattern: re.Pattern[str]
    pointer: str  # JSON pointer of the operation object inside the spec


@dataclasses.dataclass(frozen=True)
class Violation:
    direction: str  # "request" | "response"
    method: str
    path: str
    operation: str | None
    status: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.method} {self.path}" + (f" -> {self.status}" if self.status is not None else "")
        return f"[{self.direction}] {self.operation or '?'} {where}: {self.message}"


class OpenApiContract:
    """Matches method+path to an operation of the subset and validates requests and responses."""

    def __init__(self, spec_path: Path | None = None) -> None:
        # spec_path: GitHub's subset by default; the GitLab and Bitbucket fakes pass their own
        self.spec_path = spec_path or locate_spec()
        self.spec: dict[str, Any] = json.loads(self.spec_path.read_text(encoding="utf-8"))
        schema_doc = copy.deepcopy(self.spec)
        _patch_schema_faults(schema_doc)
        schema_doc = _openapi_to_json_schema(schema_doc)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, DRAFT4.create_resource(schema_doc))
        self._validators: dict[str, Draft4Validator] = {}
        self._lock = threading.Lock()
        self.operations: list[Operation] = []
        for template, item in self.spec["paths"].items():
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            for method, op in item.items():
                if isinstance(op, dict) and "operationId" in op:
                    self.operations.append(
                        Operation(
                            method=method.upper(),
                            template=template,
                            operation_id=op["operationId"],
                            pattern=re.compile(f"^{regex}$"),
                            pointer=f"/paths/{_escape_pointer(template)}/{method}",
                        )
                    )

    # -- lookup ---------------------------------------------------------------------------
    def match(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for op in self.operations:
            found = op.pattern.match(path)
            if found and op.method == method:
                return op, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
        return None

    def _resolve(self, pointer: str) -> tuple[str, Any]:
        """Follow `$ref`s from a pointer: (final pointer, raw OpenAPI object)."""
        node: Any = self.spec
        for token in pointer.lstrip("/").split("/"):
            key = token.replace("~1", "/").replace("~0", "~")
            node = node[int(key)] if isinstance(node, list) else node[key]
        while isinstance(node, dict) and "$ref" in node:
            pointer = node["$ref"][1:]
            return self._resolve(pointer)
        return pointer, node

    def _validator(self, pointer: str) -> Draft4Validator:
        with self._lock:
            if pointer not in self._validators:
                self._validators[pointer] = Draft4Validator({"$ref": f"{_SPEC_URI}#{pointer}"}, registry=self._registry)
            return self._validators[pointer]

    def _errors(self, pointer: str, instance: Any) -> list[Any]:
        return sorted(self._validator(pointer).iter_errors(instance), key=lambda e: list(e.absolute_path))

    # -- requests ---------------------------------------------------------------------------
    def check_request(
        self,
        op: Operation,
        path_params: Mapping[str, str],
        query: Mapping[str, list[str]],
        content_type: str,
        body: bytes,
    ) -> list[str]:
        problems: list[str] = []
        _, op_obj = self._resolve(op.pointer)
        declared: dict[tuple[str, str], str] = {}
        for index, _ in enumerate(op_obj.get("parameters", [])):
            param_pointer, param = self._resolve(f"{op.pointer}/parameters/{index}")
            declared[(param["in"], param["name"])] = f"{param_pointer}/schema"
        for name, value in path_params.items():
            problems += self._check_parameter(declared.get(("path", name)), "path", name, value)
        for name, values in query.items():
            if ("query", name) not in declared:
                problems.append(f"query parameter {name!r} is not declared for {op.operation_id}")
                continue
            for value in values:
                problems += self._check_parameter(declared[("query", name)], "query", name, value)
        request_body = op_obj.get("requestBody")
        if request_body is None:
            if body.strip():
                problems.append(f"{op.operation_id} takes no request body")
            return problems
        if not body.strip():
            if request_body.get("required"):
                problems.append(f"{op.operation_id} requires a JSON request body")
            return problems
        if content_type.split(";")[0].strip().lower() != "application/json":
            problems.append(f"request body must be application/json, got {content_type!r}")
        try:
            document = json.loads(body)
        except ValueError as exc:
            return [*problems, f"request body is not JSON: {exc}"]
        schema_pointer = f"{op.pointer}/requestBody/content/application~1json/schema"
        problems += [_describe("request body", e) for e in self._errors(schema_pointer, document)]
        return problems

    def _check_parameter(self, schema_pointer: str | None, where: str, name: str, raw: str) -> list[str]:
        if schema_pointer is None:
            return [f"{where} parameter {name!r} is not declared"]
        _, schema = self._resolve(schema_pointer)
        value: Any = raw
        if schema.get("type") == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                return [f"{where} parameter {name}={raw!r} is not an integer"]
            value = int(raw)
        elif schema.get("type") == "boolean":
            value = {"true": True, "false": False}.get(raw, raw)
        return [_describe(f"{where} parameter {name}", e) for e in self._errors(schema_pointer, value)]

    # -- responses --------------------------------------------------------------------------
    def response_schema_pointer(self, op: Operation, status: int) -> tuple[str | None, str | None]:
        """(schema pointer or None when no body is declared, problem) for a status of an operation."""
        _, op_obj = self._resolve(op.pointer)
        responses = op_obj.get("responses", {})
        if str(status) in responses:
            response_pointer, response = self._resolve(f"{op.pointer}/responses/{status}")
            if "application/json" not in response.get("content", {}):
                return None, None
            return f"{response_pointer}/content/application~1json/schema", None
        if status >= 400:
            # GitHub answers errors the description does not list (401 everywhere, 403 on writes,
            # 429...); the subset keeps GitHub's error schemas for exactly these bodies. Another
            # forge's subset names its own in `x-error-schemas` (status or "default" -> schema, or
            # null for a body that is not JSON, as GitLab's 429 "Retry later").
            names = self.spec.get("x-error-schemas", {"422": "validation-error", "default": "basic-error"})
            name = names.get(str(status), names.get("default"))
            return (f"/components/schemas/{name}" if name else None), None
        return None, f"status {status} is not a declared response of {op.operation_id}"

    def check_response(self, op: Operation, status: int, headers: Mapping[str, str], body: bytes) -> list[str]:
        pointer, problem = self.response_schema_pointer(op, status)
        if problem:
            return [problem]
        problems = self._check_response_headers(op, status, headers)
        if pointer is None:
            lowered = {k.lower(): v for k, v in headers.items()}
            text_error = status >= 400 and lowered.get("content-type", "").startswith("text/plain")
            if body.strip() and not text_error:
                problems.append(f"status {status} of {op.operation_id} has no body, got {len(body)} bytes")
            return problems
        try:
            document = json.loads(body)
        except ValueError as exc:
            return [*problems, f"response body is not JSON: {exc}"]
        return problems + [_describe("response body", e) for e in self._errors(pointer, document)]

    def _check_response_headers(self, op: Operation, status: int, headers: Mapping[str, str]) -> list[str]:
        _, op_obj = self._resolve(op.pointer)
        if str(status) not in op_obj.get("responses", {}):
            return []
        response_pointer, response = self._resolve(f"{op.pointer}/responses/{status}")
        lowered = {k.lower(): v for k, v in headers.items()}
        problems: list[str] = []
        for name in response.get("headers", {}):
            if name.lower() not in lowered:
                continue  # OpenAPI headers are optional unless `required`
            header_pointer, _ = self._resolve(f"{response_pointer}/headers/{_escape_pointer(name)}")
            problems += self._check_parameter(f"{header_pointer}/schema", "header", name, lowered[name.lower()])
        return problems

    # -- the description's own examples ----------------------------------------------------
    def example_violations(self) -> list[tuple[str, str, str, Any]]:
        """(operationId, status, example name, error) for every response example that fails its schema."""
        found: list[tuple[str, str, str, Any]] = []
        for op in self.operations:
            _, op_obj = self._resolve(op.pointer)
            for status in op_obj.get("responses", {}):
                pointer, _ = self.response_schema_pointer(op, int(status))
                if pointer is None:
                    continue
                _, response = self._resolve(f"{op.pointer}/responses/{status}")
                for example_name, example in response["content"]["application/json"].get("examples", {}).items():
                    value = example
                    while "$ref" in value:
                        value = self._resolve(value["$ref"][1:])[1]
                    for error in self._errors(pointer, value["value"]):
                        found.append((op.operation_id, status, example_name, error))
        return found


def _describe(what: str, error: Any) -> str:
    location = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{what} at {location}: {error.message[:300]}"
