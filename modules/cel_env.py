"""CEL expressions checked in the environment the API server compiles them in.

cel-python (what the tests evaluate CEL with) binds whatever names its activation has, so
an expression that refers to a name its context does not declare evaluates fine in a test
and is rejected by the API server (a ValidatingAdmissionPolicy that is never created, so
its binding enforces nothing). This module parses each expression (cel-python's parser)
and reports every free identifier the expression's context does not declare.

Which names each context declares, from the upstream sources:

- ``staging/src/k8s.io/apiserver/pkg/admission/plugin/cel/compile.go``
  (``createEnvForOpts``): every admission expression has ``object``, ``oldObject``,
  ``namespaceObject`` and ``request``; ``params`` only with ``HasParams``; ``authorizer``
  and ``authorizer.requestResource`` only with ``HasAuthorizer``. ``request`` and
  ``namespaceObject`` are typed (``BuildRequestType``, ``BuildNamespaceType``).
- ``pkg/apis/admissionregistration/validation/validation.go`` (what the API server checks
  when a ValidatingAdmissionPolicy is created or updated):

  - ``spec.matchConditions[*].expression``: ``validateMatchConditionsExpression``, the
    *stateless* compiler (no variable composition: no ``variables``), ``HasParams`` when
    ``spec.paramKind`` is set, ``HasAuthorizer``. The API reference of ``spec.variables``
    says the same: variables are available "except MatchConditions because MatchConditions
    are evaluated before the rest of the policy";
  - ``spec.variables[i].expression``: ``validateVariable``, the composited compiler
    (``CompileAndStoreVariable``: ``variables`` has the variables compiled before it),
    ``HasParams`` when ``paramKind`` is set, ``HasAuthorizer``;
  - ``spec.validations[*].expression`` and ``spec.auditAnnotations[*].valueExpression``:
    the composited compiler when ``spec.variables`` is not empty (otherwise there is no
    ``variables``), ``HasParams`` when ``paramKind`` is set, ``HasAuthorizer``;
  - ``spec.validations[*].messageExpression``: ``validateMessageExpression``, the same
    but **without** ``HasAuthorizer``.
- ``staging/src/k8s.io/apiserver/pkg/admission/plugin/policy/validating/plugin.go``
  (``compilePolicy``): the same options at admission time.
- ``staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/compilation.go``:
  a CRD ``x-kubernetes-validations`` rule (and its ``messageExpression``) has ``self`` and
  ``oldSelf``; a rule that uses ``oldSelf`` is a transition rule, and
  ``apiextensions-apiserver/pkg/apis/apiextensions/validation/validation.go`` rejects it on
  the uncorrelatable portion of a schema ("oldSelf cannot be used on the uncorrelatable
  portion of the schema within ...": below the items of a list that is not
  ``x-kubernetes-list-type: map``); ``optionalOldSelf`` "may not be set if oldSelf is not
  used in rule".

Bound variables of macros (``all``, ``exists``, ``exists_one``, ``filter``, ``map``, the
two-variable comprehensions, ``cel.bind``) are not free. Function names, namespaced
functions of the Kubernetes CEL libraries (``format.named``, ``optional.of``, ...) and CEL
type names (``int``, ``string``, ...) are not variables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: declared in every admission expression (compile.go, createEnvForOpts)
ADMISSION_BASE = frozenset({"object", "oldObject", "namespaceObject", "request"})
PARAMS = "params"
AUTHORIZER = "authorizer"  # with authorizer.requestResource
VARIABLES = "variables"
#: fields of the typed variables (compile.go: BuildRequestType, BuildNamespaceType)
TYPED_FIELDS = {
    "request": frozenset({"kind", "resource", "subResource", "requestKind", "requestResource", "requestSubResource",
                          "name", "namespace", "operation", "userInfo", "dryRun", "options"}),
    "namespaceObject": frozenset({"metadata", "spec", "status"}),
    AUTHORIZER: frozenset({"requestResource"}),
}
#: identifiers that are CEL type names, usable as values (``type(x) == int``)
CEL_TYPE_NAMES = frozenset({"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type",
                            "type", "dyn"})
#: namespaces of functions (``format.named(...)``, ``optional.of(...)``, ``cel.bind(...)``)
FUNCTION_NAMESPACES = frozenset({"cel", "math", "strings", "base64", "sets", "lists", "optional", "format",
                                 "jsonpatch"})
_WRAPPERS = frozenset({"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication",
                       "unary", "member", "primary", "paren_expr"})


@dataclass(frozen=True)
class Env:
    """What an expression's context declares."""

    names: frozenset[str]
    #: the fields of ``variables`` (None: ``variables`` is not declared at all)
    variables: tuple[str, ...] | None = None
    #: why the context is what it is (for messages)
    about: str = ""

    @property
    def declared(self) -> frozenset[str]:
        return self.names | ({VARIABLES} if self.variables is not None else frozenset())


@dataclass(frozen=True)
class Ref:
    """A free identifier, and the field selected on it (``variables.containers``)."""

    name: str
    field: str | None = None


# ---------------------------------------------------------------- free identifiers


@lru_cache(maxsize=None)
def _parser() -> Any:
    from celpy import celparser

    return celparser.CELParser()


class CelSyntaxError(ValueError):
    pass


def free_references(expression: str) -> list[Ref]:
    """Every free identifier of ``expression`` (in order, repeated as often as it occurs)."""
    from celpy.celparser import CELParseError

    try:
        tree = _parser().parse(expression)
    except CELParseError as exc:
        raise CelSyntaxError(str(exc).strip()) from None
    out: list[Ref] = []
    _walk(tree, frozenset(), out)
    return out


def _ident_of(node: Any) -> str | None:
    """The name when ``node`` is a bare identifier (through the grammar's wrapper rules)."""
    from lark import Tree

    while isinstance(node, Tree) and node.data in _WRAPPERS and len(node.children) == 1:
        node = node.children[0]
    if isinstance(node, Tree) and node.data == "ident":
        return str(node.children[0])
    return None


def _args(children: list[Any]) -> list[Any]:
    from lark import Tree

    lists = [c for c in children if isinstance(c, Tree) and c.data == "exprlist"]
    return list(lists[0].children) if lists else []


def _bound_count(method: str, nargs: int) -> int:
    """How many leading arguments of a macro call are bound variables."""
    if method in ("all", "exists", "exists_one", "existsOne", "filter"):
        return {2: 1, 3: 2}.get(nargs, 0)
    if method == "map":
        return 1 if nargs in (2, 3) else 0
    if method in ("transformList", "transformMap", "transformMapEntry"):
        return 2 if nargs in (3, 4) else 0
    if method in ("sortBy", "optMap", "optFlatMap"):
        return 1 if nargs == 2 else 0
    return 0


def _walk(node: Any, bound: frozenset[str], out: list[Ref]) -> None:
    from lark import Tree

    if not isinstance(node, Tree):
        return
    kind, children = node.data, node.children
    if kind == "ident":
        if str(children[0]) not in bound:
            out.append(Ref(str(children[0])))
    elif kind == "dot_ident":  # .name: the root scope, never a bound variable
        out.append(Ref(str(children[0])))
    elif kind == "member_dot":
        target, field = children
        name = _ident_of(target)
        if name is not None and name not in bound:
            out.append(Ref(name, str(field)))
        else:
            _walk(target, bound, out)
    elif kind == "member_dot_arg":
        target, method, args = children[0], str(children[1]), _args(children[2:])
        name = _ident_of(target)
        if name is not None and name not in bound and name in FUNCTION_NAMESPACES:
            if (name, method) == ("cel", "bind") and len(args) == 3 and _ident_of(args[0]):
                _walk(args[1], bound, out)
                _walk(args[2], bound | {_ident_of(args[0])}, out)
            else:
                for arg in args:
                    _walk(arg, bound, out)
            return
        _walk(target, bound, out)
        n = _bound_count(method, len(args))
        names = [_ident_of(a) for a in args[:n]]
        if n and all(names):
            inner = bound | frozenset(b for b in names if b)
            for arg in args[n:]:
                _walk(arg, inner, out)
        else:
            for arg in args:
                _walk(arg, bound, out)
    elif kind in ("ident_arg", "dot_ident_arg"):  # a global function call: its name is no variable
        for arg in _args(children[1:]):
            _walk(arg, bound, out)
    elif kind == "fieldinits":  # IDENT ":" expr pairs: field names are no variables
        for child in children:
            _walk(child, bound, out)
    else:
        for child in children:
            _walk(child, bound, out)


def undeclared(expression: str, env: Env) -> list[str]:
    """What the API server's compiler would say about names in ``expression`` in ``env``
    (empty when every name is declared)."""
    try:
        refs = free_references(expression)
    except CelSyntaxError as exc:
        return [f"syntax error: {exc}"]
    problems: list[str] = []
    for ref in refs:
        if ref.name in CEL_TYPE_NAMES:
            continue
        if ref.name not in env.declared:
            problem = f"undeclared reference to '{ref.name}'"
        elif ref.name == VARIABLES and ref.field is not None and ref.field not in (env.variables or ()):
            problem = f"undefined field '{ref.field}' of variables"
        elif ref.name in TYPED_FIELDS and ref.field is not None and ref.field not in TYPED_FIELDS[ref.name]:
            problem = f"undefined field '{ref.field}' of {ref.name}"
        else:
            continue
        if problem not in problems:
            problems.append(problem)
    declared = ", ".join(sorted(env.declared | ({f"{AUTHORIZER}.requestResource"} if AUTHORIZER in env.names
                                                 else set())))
    variables = f"; variables: {', '.join(env.variables) or 'none yet'}" if env.variables is not None else ""
    return [f"{p} ({env.about}; declared: {declared}{variables})" for p in problems]


# ---------------------------------------------------------------- ValidatingAdmissionPolicy


def policy_expressions(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, Env]]:
    """``(field path, expression, environment)`` of every CEL expression of a
    ValidatingAdmissionPolicy ``spec`` (the API's camelCase object)."""
    base = ADMISSION_BASE | ({PARAMS} if spec.get("paramKind") else frozenset())
    no_params = "" if spec.get("paramKind") else ", no params without spec.paramKind"
    for i, cond in enumerate(spec.get("matchConditions") or ()):
        yield (f"spec.matchConditions[{i}].expression", cond["expression"],
               Env(base | {AUTHORIZER}, None, "a matchCondition is compiled without spec.variables" + no_params))
    names = tuple(v["name"] for v in spec.get("variables") or ())
    for i, var in enumerate(spec.get("variables") or ()):
        yield (f"spec.variables[{i}].expression", var["expression"],
               Env(base | {AUTHORIZER}, names[:i], "a variable sees only the variables before it" + no_params))
    composited = names if names else None
    for i, check in enumerate(spec.get("validations") or ()):
        yield (f"spec.validations[{i}].expression", check["expression"],
               Env(base | {AUTHORIZER}, composited, "a validation" + no_params))
        if check.get("messageExpression"):
            yield (f"spec.validations[{i}].messageExpression", check["messageExpression"],
                   Env(base, composited, "a messageExpression has no authorizer" + no_params))
    for i, note in enumerate(spec.get("auditAnnotations") or ()):
        yield (f"spec.auditAnnotations[{i}].valueExpression", note["valueExpression"],
               Env(base | {AUTHORIZER}, composited, "an audit annotation" + no_params))


def policy_problems(policy: Mapping[str, Any]) -> list[str]:
    """Every undeclared name in a ValidatingAdmissionPolicy manifest, as
    ``ValidatingAdmissionPolicy <name>: <field>: <problem>``."""
    name = (policy.get("metadata") or {}).get("name", "?")
    return [f"ValidatingAdmissionPolicy {name}: {field}: {problem}"
            for field, expression, env in policy_expressions(policy.get("spec") or {})
            for problem in undeclared(expression, env)]


# ---------------------------------------------------------------- CRD x-kubernetes-validations


def crd_rules(schema: Mapping[str, Any], path: str = "openAPIV3Schema",
              uncorrelatable: str | None = None) -> Iterator[tuple[str, Mapping[str, Any], str | None]]:
    """``(schema path, rule, uncorrelatable array path or None)`` of every
    ``x-kubernetes-validations`` rule of a CRD schema."""
    for rule in schema.get("x-kubernetes-validations") or ():
        yield path, rule, uncorrelatable
    for key, sub in (schema.get("properties") or {}).items():
        yield from crd_rules(sub, f"{path}.properties[{key}]", uncorrelatable)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):  # map values correlate by key
        yield from crd_rules(extra, f"{path}.additionalProperties", uncorrelatable)
    items = schema.get("items")
    if isinstance(items, Mapping):
        below = uncorrelatable if uncorrelatable or schema.get("x-kubernetes-list-type") == "map" else path
        yield from crd_rules(items, f"{path}.items", below)


def crd_rule_problems(schema: Mapping[str, Any], where: str = "") -> list[str]:
    """Every undeclared name in the ``x-kubernetes-validations`` rules of a CRD schema."""
    out = []
    for path, rule, uncorrelatable in crd_rules(schema):
        about = (f"oldSelf cannot be used on the uncorrelatable portion of the schema within {uncorrelatable}"
                 if uncorrelatable else "a CRD rule")
        env = Env(frozenset({"self"} if uncorrelatable else {"self", "oldSelf"}), None, about)
        for key in ("rule", "messageExpression"):
            if rule.get(key):
                out += [f"{where}{path}.x-kubernetes-validations: {key} {rule[key]!r}: {p}"
                        for p in undeclared(rule[key], env)]
        if rule.get("optionalOldSelf") is not None and rule.get("rule"):
            try:
                uses_old_self = any(r.name == "oldSelf" for r in free_references(rule["rule"]))
            except CelSyntaxError:
                continue
            if not uses_old_self:
                out.append(f"{where}{path}.x-kubernetes-validations: optionalOldSelf: "
                           "may not be set if oldSelf is not used in rule")
    return out
