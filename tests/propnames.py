"""What the deploy-side adapters read, per Pulumi type token, found statically; and what the
Pulumi SDKs call each type's properties. Used by tests/test_property_names.py.

`collect()` walks the AST of `policypack.services.*` (and the helpers in `policypack.adapters`,
`policypack.wire`, `policypack.fixers` they call) with a small abstract interpreter. It starts at
every place the stack model and the remediation call into a service: each adapter of `facts` and
of a `ResourceCheck` on each of its tokens, each `link` step, `StackCheck` rule and `arns`
function, and each `Fixer` on each of its tokens (with the tags `policypack.remediate` matches
tag waivers against). A resource value knows its one type token, so
`r.type == ...`, `r.type in TYPES`, `.startswith("aws-native")` and the `native = ...` flags
built from them decide branches exactly as they would run; a resource whose token is one of
several (an item of `linked[kind]`, `model.res_of[id(fact)]`, `model.resources`) forks the rest
of the code once per token. Property reads are followed through variables, helper calls,
loops, comprehensions and lambdas: `r.get(...)`, `get(value, ...)`, `value.get(...)`,
`value[...]`, `items`/`maps`/`strings`/`each`, `tags(props, key)`, `base(r, ...)` (tags,
region), `model.deps(r, prop, ...)`, `model.unlinked_if_unknown(r, kind, prop)`,
`r.property_deps.get(prop)`, and a Fixer target's `value/set/raise_to/make_true/make_false`.
A key that is a loop variable over a literal tuple, or `"a" if native else "b"`, is read as
each of its values (per iteration, so zipped tuples stay zipped).

It cannot see: reads through a value it lost track of (a list a helper built and returned,
e.g. recovery's `_candidates`; a resource kept in a dict and read later, e.g. recovery's vault
locks by vault), keys computed at run time (an f-string, a value read from the
resource), reads in `policypack.stack` itself (`arn_of` probes arn/dbInstanceArn/dbClusterArn on
any fact), and code reached only through objects it does not model. Those reads are not
checked; `Reads.dynamic` lists the reads whose key it could not resolve.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import itertools
import operator
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ELEM = "[]"  # a path step into the items of a list

# ---- abstract values -------------------------------------------------------------------------


class _Unknown:
    def __repr__(self) -> str:
        return "U"


U: Any = _Unknown()


@dataclass(frozen=True, eq=False)
class C:
    """A value known while reading the code (a literal, a module global)."""

    v: Any


@dataclass(frozen=True)
class R:
    """One resource of type `token` (a fixer's Target when `target`)."""

    token: str
    target: bool = False


@dataclass(frozen=True)
class P:
    """The value at `path` of a resource of type `token`."""

    token: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class L:
    """A list whose items are `elem`."""

    elem: Any


@dataclass(frozen=True)
class F:
    """A fact of model kind `kind`."""

    kind: str


@dataclass(frozen=True)
class T:
    """A tuple of abstract values."""

    items: tuple[Any, ...]


@dataclass(frozen=True)
class D:
    """A list or dict the code filled (append, item assignment) with `elem` values."""

    elem: Any


@dataclass(frozen=True)
class Alt:
    """One of several values."""

    options: tuple[Any, ...]


@dataclass(frozen=True)
class Obj:
    """A special object: the model, `linked`, `model.res_of`, `model.facts`,
    `r.property_deps` (of `arg`), `id(x)` (of `arg`)."""

    kind: str
    arg: Any = None


@dataclass(eq=False)
class Fn:
    node: Any  # FunctionDef | Lambda
    env: dict[str, Any]
    module: Any


def key(v: Any) -> Any:
    if isinstance(v, C):
        try:
            hash(v.v)
            return ("C", type(v.v).__name__, v.v)
        except TypeError:
            return ("C", id(v.v))
    if isinstance(v, Alt):
        return ("A", frozenset(key(x) for x in v.options))
    if isinstance(v, T):
        return ("T", tuple(key(x) for x in v.items))
    if isinstance(v, L):
        return ("L", key(v.elem))
    if isinstance(v, D):
        return ("D", key(v.elem))
    if isinstance(v, Obj):
        return ("O", v.kind, key(v.arg))
    if isinstance(v, Fn):
        return ("Fn", id(v))
    return v if v is U else ("V", v)


def alt(values: Iterable[Any]) -> Any:
    out: dict[Any, Any] = {}
    for v in values:
        for x in (v.options if isinstance(v, Alt) else (v,)):
            out.setdefault(key(x), x)
    if not out:
        return U
    if len(out) == 1:
        return next(iter(out.values()))
    return Alt(tuple(out.values()))


def options(v: Any) -> tuple[Any, ...]:
    return v.options if isinstance(v, Alt) else (v,)


def amap(v: Any, fn: Callable[[Any], Any]) -> Any:
    return alt(fn(x) for x in options(v))


def truth(v: Any) -> bool | None:
    """The truth of a test when the code tells it, else None."""
    vals = set()
    for x in options(v):
        if not isinstance(x, C):
            return None
        try:
            vals.add(bool(x.v))
        except Exception:
            return None
    return vals.pop() if len(vals) == 1 else None


def elem(v: Any) -> Any:
    """What iterating `v` yields."""
    def one(x: Any) -> Any:
        if isinstance(x, P):
            return P(x.token, (*x.path, ELEM))
        if isinstance(x, L | D):
            return x.elem
        if isinstance(x, T):
            return alt(x.items)
        return U
    return amap(v, one)


def resources(v: Any) -> list[Any]:
    return [x for x in options(v) if isinstance(x, R)]


# ---- the reads -------------------------------------------------------------------------------


@dataclass
class Reads:
    # (token, path) -> where in the code (module.function:line)
    found: dict[tuple[str, tuple[str, ...]], set[str]] = field(default_factory=dict)
    dynamic: set[str] = field(default_factory=set)  # where a key was not known (module.function)

    def add(self, token: str, path: tuple[str, ...], where: str) -> None:
        self.found.setdefault((token, path), set()).add(where)


_TOKEN = re.compile(r"^(aws|aws-native|mongodbatlas):[A-Za-z0-9/]+:[A-Za-z0-9]+$")
_SAFE_METHODS = {"startswith", "endswith", "split", "rsplit", "get", "lower", "upper",
                 "removeprefix", "removesuffix", "items", "keys", "values", "partition"}
_BUILTINS = {"len", "isinstance", "str", "int", "float", "bool", "list", "dict", "set",
             "frozenset", "tuple", "any", "all", "sorted", "next", "type", "repr", "max",
             "min", "sum", "enumerate", "zip", "print", "getattr", "hasattr", "callable",
             "iter", "reversed", "range", "abs", "round", "hash"}
MAX_DEPTH = 14
_CMP: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_BINOP: dict[type, Callable[[Any, Any], Any]] = {
    ast.BitOr: operator.or_, ast.BitAnd: operator.and_, ast.Add: operator.add,
    ast.Sub: operator.sub, ast.Mod: operator.mod}


class _Return(Exception):
    pass


class Interp:
    """The abstract interpreter (see the module docstring)."""

    def __init__(self) -> None:
        from policypack import adapters, fixers, wire
        from policypack.services import CATALOG

        self.catalog = CATALOG
        self.reads = Reads()
        self.kind_tokens: dict[str, set[str]] = {}
        for t, (kind, _) in CATALOG.facts.items():
            self.kind_tokens.setdefault(kind, set()).add(t)
        self.linked_tokens: dict[str, set[str]] = {}
        for t, kind in CATALOG.linked.items():
            self.linked_tokens.setdefault(kind, set()).add(t)
        self.modeled: dict[Any, str] = {}
        for name in ("get", "val", "raw", "num", "boolean", "tags"):
            self.modeled[getattr(wire, name)] = name
        for name in ("items", "maps", "strings", "each", "base", "or_default", "has_unknown",
                     "arn_region", "arn_account"):
            self.modeled[getattr(adapters, name)] = name
        for name in ("untouchable", "true", "false", "is_secret", "show_value",
                     "snapshot_identifier"):
            self.modeled[getattr(fixers, name)] = "opaque"
        self.memo: dict[Any, Any] = {}
        self.depth = 0
        self.where = ""
        self.all_tokens = self._every_token()

    # -- tokens -------------------------------------------------------------------------------
    def _every_token(self) -> set[str]:
        """Every type token named in the services' modules (model.resources holds any)."""
        from policypack import services

        out = set(self.catalog.all_types)

        def walk(v: Any, depth: int = 0) -> None:
            if depth > 3:
                return
            if isinstance(v, str):
                if _TOKEN.match(v):
                    out.add(v)
            elif isinstance(v, dict):
                for k, x in v.items():
                    walk(k, depth + 1)
                    walk(x, depth + 1)
            elif isinstance(v, (frozenset, set, tuple, list)):
                for x in v:
                    walk(x, depth + 1)

        for m in services.MODULES:
            for v in vars(m).values():
                walk(v)
        return out

    # -- entry points ------------------------------------------------------------------------
    def run(self) -> Reads:
        from policypack import remediate
        from policypack.binding import ResourceCheck, StackCheck

        model, linked = Obj("model"), Obj("linked")
        for t, (_, adapter) in self.catalog.facts.items():
            self.call(C(adapter), [R(t)])
        for s in self.catalog.services:
            for chk in s.checks:
                if isinstance(chk, ResourceCheck):
                    for t in chk.types:
                        self.call(C(chk.adapter), [R(t)])
                elif isinstance(chk, StackCheck):
                    self.call(C(chk.rule), [model, U])
            if s.link is not None:
                self.call(C(s.link.run), [model, linked, U])
            for fn in s.arns.values():
                self.call(C(fn), [model, U, alt(R(t) for t in s.facts), U, U])
            for fx in s.remediations:
                for t in fx.types:
                    self.call(C(fx.fix), [R(t, target=True), U])
                    # the tags a waiver by tag is matched against before the fix
                    self.call(C(remediate.resource_tags), [C(t), P(t, ())])
        return self.reads

    # -- reads ---------------------------------------------------------------------------------
    def read(self, base: Any, keys: list[Any]) -> Any:
        """`get(base, *keys)`: record every path it reads, return the value there."""
        if not keys:
            return base

        def one(b: Any) -> Any:
            if isinstance(b, R):
                b = P(b.token, ())
            if not isinstance(b, P):
                return U
            k = keys[0]
            out = []
            for kk in options(k):
                if not isinstance(kk, C):
                    self.reads.dynamic.add(self.where.split(":")[0])
                    continue
                if isinstance(kk.v, int) and not isinstance(kk.v, bool):
                    step = ELEM
                elif isinstance(kk.v, str):
                    step = kk.v
                else:
                    continue
                nxt = P(b.token, (*b.path, step))
                if step != ELEM:
                    self.reads.add(b.token, nxt.path, self.where)
                out.append(self.read(nxt, keys[1:]))
            return alt(out)

        return amap(base, one)

    # -- calls ---------------------------------------------------------------------------------
    def call(self, fn: Any, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        return amap(fn, lambda f: self._call_one(f, args, kwargs))

    def _call_one(self, f: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if isinstance(f, Fn):
            return self.inline(f.node, f.module, args, kwargs, f.env)
        if not isinstance(f, C):
            return U
        fn = f.v
        name = self.modeled.get(fn) if _hashable(fn) else None
        if name is not None:
            return self.modeled_call(name, args, kwargs)
        if fn is id and args:
            return Obj("id", args[0])
        mod = getattr(fn, "__module__", "") or ""
        if mod.startswith("policypack") and callable(fn) and hasattr(fn, "__code__"):
            if not any(_interesting(a) for a in [*args, *kwargs.values()]):
                return U
            node = _function_node(fn)
            if node is None:
                return U
            return self.inline(node, sys.modules[mod], args, kwargs, None)
        return U

    def modeled_call(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        first = args[0] if args else U
        if name == "get":
            return self.read(first, args[1:])
        if name in ("val", "raw", "num", "boolean", "items", "maps", "strings", "or_default"):
            return first
        if name == "tags":
            k = args[1] if len(args) > 1 else kwargs.get("key", C("tags"))
            self.read(first, [k])
            return U
        if name == "base":
            tags_key = args[2] if len(args) > 2 else kwargs.get("tags_key", C("tags"))
            if not (isinstance(tags_key, C) and tags_key.v is None):
                self.read(first, [tags_key])
            for r in resources(first):
                self.reads.add(r.token, ("region",), self.where)
            return U
        if name == "each" and len(args) > 1:
            return L(self.call(args[1], [elem(first)]))
        return U

    def inline(self, node: Any, module: Any, args: list[Any], kwargs: dict[str, Any],
               closure: dict[str, Any] | None) -> Any:
        # one run per resource: fork over the tokens of a multi-token argument
        forks = [[x for x in options(a)] if len(resources(a)) > 1 else [a] for a in args]
        if any(len(f) > 1 for f in forks):
            return alt(self.inline(node, module, list(combo), kwargs, closure)
                       for combo in itertools.product(*forks))
        memo = (id(node), tuple(key(a) for a in args),
                tuple(sorted((k, key(v)) for k, v in kwargs.items())))
        if memo in self.memo:
            return self.memo[memo]
        if self.depth >= MAX_DEPTH:
            return U
        self.memo[memo] = U  # recursion
        env: dict[str, Any] = {"__closure__": closure or {}, "__module__": module,
                               "__returns__": []}
        a = node.args
        params = [p.arg for p in (*a.posonlyargs, *a.args)]
        defaults = list(a.defaults)
        for i, p in enumerate(params):
            if i < len(args):
                env[p] = args[i]
            elif p in kwargs:
                env[p] = kwargs[p]
            else:
                j = i - (len(params) - len(defaults))
                env[p] = self.eval(defaults[j], env) if j >= 0 else U
        if a.vararg:
            env[a.vararg.arg] = T(tuple(args[len(params):]))
        for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
            env[p.arg] = kwargs.get(p.arg, self.eval(d, env) if d is not None else U)
        saved = self.where
        self.depth += 1
        try:
            name = getattr(node, "name", "<lambda>")
            self.where = f"{module.__name__}.{name}"
            if isinstance(node, ast.Lambda):
                result = self.eval(node.body, env)
            else:
                self.block(node.body, env)
                result = alt(env["__returns__"]) if env["__returns__"] else C(None)
        finally:
            self.depth -= 1
            self.where = saved
        self.memo[memo] = result
        return result

    # -- statements ------------------------------------------------------------------------------
    def block(self, stmts: list[ast.stmt], env: dict[str, Any]) -> dict[str, Any] | None:
        """Run statements; the env after them, or None when every path left (return,
        continue, break, raise)."""
        for i, st in enumerate(stmts):
            result = self.stmt(st, env)
            if result is None:
                return None
            env = result
            if isinstance(st, ast.Assign | ast.AnnAssign) and i + 1 < len(stmts):
                targets = st.targets if isinstance(st, ast.Assign) else [st.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                for n in names:
                    if len(resources(env.get(n))) > 1:  # fork the rest per token
                        outs = []
                        for opt in options(env[n]):
                            e = dict(env)
                            e[n] = opt
                            outs.append(self.block(stmts[i + 1:], e))
                        return _merge_all(env, outs)
        return env

    def stmt(self, st: ast.stmt, env: dict[str, Any]) -> dict[str, Any] | None:
        if hasattr(st, "lineno"):
            self.where = self.where.split(":")[0] + f":{st.lineno}"
        if isinstance(st, ast.Expr):
            self.eval(st.value, env)
        elif isinstance(st, ast.Assign):
            v = self.eval(st.value, env)
            for t in st.targets:
                self.assign(t, v, env)
        elif isinstance(st, ast.AnnAssign):
            if st.value is not None:
                self.assign(st.target, self.eval(st.value, env), env)
        elif isinstance(st, ast.AugAssign):
            self.eval(st.value, env)
            if isinstance(st.target, ast.Name):
                env[st.target.id] = U
        elif isinstance(st, ast.Return):
            env["__returns__"].append(self.eval(st.value, env) if st.value else C(None))
            return None
        elif isinstance(st, ast.If):
            test = truth(self.eval(st.test, env))
            if test is True:
                return self.block(st.body, dict(env))
            if test is False:
                return self.block(st.orelse, dict(env))
            return _merge_all(env, [self.block(st.body, dict(env)),
                                    self.block(st.orelse, dict(env))])
        elif isinstance(st, ast.For | ast.AsyncFor):
            outs = [env]
            for binding in self.iterate(self.eval(st.iter, env)):
                e = dict(env)
                self.assign(st.target, binding, e)
                outs.append(self.block(st.body, e))
            after = _merge_all(env, outs)
            return self.block(st.orelse, after) if st.orelse else after
        elif isinstance(st, ast.While):
            self.eval(st.test, env)
            return _merge_all(env, [env, self.block(st.body, dict(env))])
        elif isinstance(st, ast.Try):
            outs = [self.block(st.body, dict(env))]
            for h in st.handlers:
                e = dict(env)
                if h.name:
                    e[h.name] = U
                outs.append(self.block(h.body, e))
            after = _merge_all(env, outs)
            if after is not None and st.orelse:
                after = self.block(st.orelse, after)
            if st.finalbody:
                return self.block(st.finalbody, after if after is not None else dict(env))
            return after
        elif isinstance(st, ast.With):
            for item in st.items:
                v = self.eval(item.context_expr, env)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, v, env)
            return self.block(st.body, env)
        elif isinstance(st, ast.FunctionDef):
            env[st.name] = Fn(st, env, env["__module__"])
        elif isinstance(st, ast.Import | ast.ImportFrom):
            self.do_import(st, env)
        elif isinstance(st, ast.Continue | ast.Break | ast.Raise):
            if isinstance(st, ast.Raise) and st.exc is not None:
                self.eval(st.exc, env)
            return None
        elif isinstance(st, ast.Assert):
            self.eval(st.test, env)
        return env

    def iterate(self, v: Any) -> list[Any]:
        """The bindings a loop over `v` runs its body with: each item of a known collection,
        each token of a multi-token resource, else the one abstract item."""
        out: list[Any] = []
        for x in options(v):
            if isinstance(x, C):
                try:
                    vals = list(x.v)[:64]
                except TypeError:
                    vals = []
                out += [_wrap(e) for e in vals]
            else:
                item = elem(x)  # each alternative apart: a tuple's parts stay together
                out += list(options(item))
        return out or [U]

    def do_import(self, st: ast.Import | ast.ImportFrom, env: dict[str, Any]) -> None:
        module = env["__module__"]
        if isinstance(st, ast.ImportFrom):
            pkg = module.__package__ if st.level else None
            name = "." * st.level + (st.module or "")
            m = importlib.import_module(name, pkg)
            for a in st.names:
                env[a.asname or a.name] = C(getattr(m, a.name, None))
        else:
            for a in st.names:
                env[a.asname or a.name.split(".")[0]] = C(importlib.import_module(a.name))

    def assign(self, target: ast.expr, v: Any, env: dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = v
        elif isinstance(target, ast.Tuple | ast.List):
            n = len(target.elts)
            parts: list[list[Any]] = [[] for _ in range(n)]
            for x in options(v):
                if isinstance(x, T) and len(x.items) == n:
                    items = list(x.items)
                elif isinstance(x, C) and isinstance(x.v, tuple | list) and len(x.v) == n:
                    items = [_wrap(e) for e in x.v]
                else:
                    items = [U] * n
                for i in range(n):
                    parts[i].append(items[i])
            for t, p in zip(target.elts, parts, strict=True):
                self.assign(t, alt(p), env)
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            self.eval(target.slice, env)
            self.fill(target.value.id, v, env)
        elif isinstance(target, ast.Attribute | ast.Subscript):
            self.eval(target.value, env)

    def fill(self, name: str, v: Any, env: dict[str, Any]) -> None:
        """`name[...] = v` / `name.append(v)` on a list or dict the function made."""
        cur = self.lookup(name, env)
        if not any(isinstance(x, D) or (isinstance(x, C) and isinstance(x.v, list | dict))
                   for x in options(cur)):
            return
        env[name] = D(alt([*(x.elem for x in options(cur) if isinstance(x, D)), v]))

    # -- expressions -----------------------------------------------------------------------------
    def lookup(self, name: str, env: dict[str, Any]) -> Any:
        if name in env:
            return env[name]
        closure = env.get("__closure__") or {}
        while closure:
            if name in closure:
                return closure[name]
            closure = closure.get("__closure__") or {}
        module = env.get("__module__")
        if module is not None and name in vars(module):
            return C(vars(module)[name])
        if hasattr(builtins, name):
            return C(getattr(builtins, name))
        return U

    def eval(self, e: ast.expr | None, env: dict[str, Any]) -> Any:
        if e is None:
            return U
        if isinstance(e, ast.Constant):
            return C(e.value)
        if isinstance(e, ast.Name):
            return self.lookup(e.id, env)
        if isinstance(e, ast.Attribute):
            return amap(self.eval(e.value, env), lambda r: self.attr(r, e.attr))
        if isinstance(e, ast.Subscript):
            base = self.eval(e.value, env)
            if isinstance(e.slice, ast.Slice):  # a part of a list: the same items
                for x in (e.slice.lower, e.slice.upper, e.slice.step):
                    self.eval(x, env)
                return amap(base, lambda b: b if isinstance(b, P) else U)
            idx = self.eval(e.slice, env)
            return amap(base, lambda b: self.subscript(b, idx))
        if isinstance(e, ast.Call):
            return self.eval_call(e, env)
        if isinstance(e, ast.Compare):
            vals = [self.eval(e.left, env)] + [self.eval(c, env) for c in e.comparators]
            if all(isinstance(v, C) for v in vals):
                try:
                    ok = all(_CMP[type(op)](vals[i].v, vals[i + 1].v)
                             for i, op in enumerate(e.ops))
                except Exception:
                    return U
                return C(ok)
            return U
        if isinstance(e, ast.BoolOp):
            seen: list[Any] = []
            for x in e.values:
                v = self.eval(x, env)
                t = truth(v)
                if t is None:
                    seen.append(U)
                    continue
                if t is isinstance(e.op, ast.Or):
                    return v if not seen else U  # short circuit: the rest never runs
                seen.append(v)
            return seen[-1] if all(v is not U for v in seen) else U
        if isinstance(e, ast.UnaryOp):
            v = self.eval(e.operand, env)
            if isinstance(e.op, ast.Not):
                t = truth(v)
                return U if t is None else C(not t)
            return U
        if isinstance(e, ast.BinOp):
            a, b = self.eval(e.left, env), self.eval(e.right, env)
            if isinstance(a, C) and isinstance(b, C) and type(e.op) in _BINOP:
                try:
                    return C(_BINOP[type(e.op)](a.v, b.v))
                except Exception:
                    return U
            return U
        if isinstance(e, ast.IfExp):
            t = truth(self.eval(e.test, env))
            if t is True:
                return self.eval(e.body, env)
            if t is False:
                return self.eval(e.orelse, env)
            return alt([self.eval(e.body, env), self.eval(e.orelse, env)])
        if isinstance(e, ast.Tuple | ast.List | ast.Set):
            vals = [self.eval(x, env) for x in e.elts]
            if any(isinstance(x, ast.Starred) for x in e.elts):
                return U
            if all(isinstance(v, C) for v in vals):
                kind = {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(e)]
                try:
                    return C(kind(v.v for v in vals))
                except TypeError:
                    return U
            return T(tuple(vals))
        if isinstance(e, ast.Dict):
            ks = [self.eval(k, env) if k is not None else U for k in e.keys]
            vs = [self.eval(v, env) for v in e.values]
            if all(isinstance(v, C) for v in [*ks, *vs]) and None not in e.keys:
                try:
                    return C({k.v: v.v for k, v in zip(ks, vs, strict=True)})
                except TypeError:
                    return U
            return U
        if isinstance(e, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            results: list[Any] = []
            self.comprehension(e, list(e.generators), dict(env), results)
            return L(alt(results))
        if isinstance(e, ast.Lambda):
            return Fn(e, env, env["__module__"])
        if isinstance(e, ast.NamedExpr):
            v = self.eval(e.value, env)
            self.assign(e.target, v, env)
            return v
        if isinstance(e, ast.JoinedStr | ast.FormattedValue):
            for x in ast.iter_child_nodes(e):
                if isinstance(x, ast.expr):
                    self.eval(x, env)
            return U
        if isinstance(e, ast.Starred):
            self.eval(e.value, env)
            return U
        for x in ast.iter_child_nodes(e):
            if isinstance(x, ast.expr):
                self.eval(x, env)
        return U

    def comprehension(self, e: Any, gens: list[ast.comprehension], env: dict[str, Any],
                      results: list[Any]) -> None:
        if not gens:
            if isinstance(e, ast.DictComp):
                self.eval(e.key, env)
                results.append(self.eval(e.value, env))
            else:
                results.append(self.eval(e.elt, env))
            return
        g = gens[0]
        for binding in self.iterate(self.eval(g.iter, env)):
            inner = dict(env)
            self.assign(g.target, binding, inner)
            if any(truth(self.eval(c, inner)) is False for c in g.ifs):
                continue
            self.comprehension(e, gens[1:], inner, results)

    def eval_call(self, e: ast.Call, env: dict[str, Any]) -> Any:
        args = [self.eval(a, env) for a in e.args]
        kwargs = {k.arg: self.eval(k.value, env) for k in e.keywords if k.arg}
        for k in e.keywords:
            if not k.arg:  # **mapping: its reads count
                self.eval(k.value, env)
        if any(isinstance(a, ast.Starred) for a in e.args):
            args = [U if isinstance(a, ast.Starred) else v for a, v in zip(e.args, args,
                                                                             strict=True)]
        if isinstance(e.func, ast.Attribute):
            if isinstance(e.func.value, ast.Name) and e.func.attr in ("append", "add") \
                    and args:
                self.fill(e.func.value.id, args[0], env)
            elif isinstance(e.func.value, ast.Name) and e.func.attr == "extend" and args:
                self.fill(e.func.value.id, elem(args[0]), env)
            recv = self.eval(e.func.value, env)
            return amap(recv, lambda r: self.method(r, e.func.attr, args, kwargs))
        return self.call(self.eval(e.func, env), args, kwargs)

    # -- objects -------------------------------------------------------------------------------
    def attr(self, r: Any, name: str) -> Any:
        if isinstance(r, R):
            if name == "type":
                return C(r.token)
            if name == "props":
                return P(r.token, ())
            if name == "region":
                self.reads.add(r.token, ("region",), self.where)
                return U
            if name == "property_deps":
                return Obj("deps", r)
            return U
        if isinstance(r, Obj) and r.kind == "model":
            if name in self.kind_tokens:
                return L(F(name))
            if name == "resources":
                return L(alt(R(t) for t in sorted(self.all_tokens)))
            if name in ("res_of", "facts"):
                return Obj(name)
            if name == "catalog":
                return C(self.catalog)
            return U
        if isinstance(r, C):
            if isinstance(r.v, type(sys)) or isinstance(r.v, type) or not callable(r.v):
                try:
                    return C(getattr(r.v, name))
                except Exception:
                    return U
            return U
        return U

    def subscript(self, b: Any, idx: Any) -> Any:
        if isinstance(b, P | R):
            return self.read(b, [idx])
        if isinstance(b, C) and isinstance(idx, C):
            try:
                return _wrap(b.v[idx.v])
            except Exception:
                return U
        if isinstance(b, T) and isinstance(idx, C) and isinstance(idx.v, int):
            try:
                return b.items[idx.v]
            except IndexError:
                return U
        if isinstance(b, L | D):
            return b.elem
        if isinstance(b, Obj):
            return self.method(b, "get", [idx], {})
        return U

    def method(self, r: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if isinstance(r, R):
            if name == "get" or (r.target and name == "value"):
                return self.read(r, args)
            if r.target and name in ("set", "raise_to", "make_true", "make_false") and args:
                self.read(r, args[:1])
            return U
        if isinstance(r, P):
            if name == "get" and args:
                return self.read(r, args[:1])
            if name in ("items", "values", "keys"):
                return L(U)
            return U
        if isinstance(r, Obj):
            first = args[0] if args else U
            if r.kind == "model":
                if name == "deps" and len(args) > 1:
                    self.read(args[0], [args[1]])
                    return L(U)
                if name == "unlinked_if_unknown" and len(args) > 2:
                    self.read(args[0], [args[2]])
                return U
            if r.kind == "linked" and name == "get":
                return L(alt(R(t) for k in options(first) if isinstance(k, C)
                             for t in sorted(self.linked_tokens.get(k.v, ()))))
            if r.kind == "deps" and name == "get":
                self.read(r.arg, [first])
                return L(U)
            if r.kind == "res_of" and name == "get":
                kinds = [f.kind for x in options(first) if isinstance(x, Obj) and x.kind == "id"
                         for f in options(x.arg) if isinstance(f, F)]
                return alt(R(t) for k in kinds for t in sorted(self.kind_tokens[k]))
            if r.kind == "facts" and name == "get":
                return alt(L(F(k.v)) for k in options(first)
                           if isinstance(k, C) and k.v in self.kind_tokens)
            return U
        if isinstance(r, C):
            if name in _SAFE_METHODS and all(isinstance(a, C) for a in args) and not kwargs:
                try:
                    return _wrap(getattr(r.v, name)(*(a.v for a in args)))
                except Exception:
                    return U
            fn = getattr(r.v, name, None) if isinstance(r.v, type(sys)) else None
            if fn is not None:
                return self.call(C(fn), args, kwargs)
            return U
        if isinstance(r, D):
            if name in ("get", "pop", "setdefault"):
                return r.elem
            if name == "values":
                return L(r.elem)
            if name == "items":
                return L(T((U, r.elem)))
        return U


def _wrap(v: Any) -> Any:
    return C(v)


def _hashable(v: Any) -> bool:
    try:
        hash(v)
        return True
    except TypeError:
        return False


def _interesting(v: Any) -> bool:
    return any(not isinstance(x, C) and x is not U for x in options(v))


def _merge_all(env: dict[str, Any], outs: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    live = [o for o in outs if o is not None]
    if not live:
        return None
    if len(live) == 1:
        return live[0]
    merged = dict(live[0])
    for o in live[1:]:
        for k, v in o.items():
            if k.startswith("__"):
                continue
            if k in merged and key(merged[k]) != key(v):
                merged[k] = alt([merged[k], v])
            else:
                merged.setdefault(k, v)
    merged["__returns__"] = env["__returns__"]
    return merged


@cache
def _module_functions(path: str) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(Path(path).read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _function_node(fn: Any) -> ast.FunctionDef | None:
    if fn.__name__ == "<lambda>":
        return _lambda_node(fn)
    mod = sys.modules.get(fn.__module__)
    if mod is None or not getattr(mod, "__file__", None):
        return None
    return _module_functions(mod.__file__).get(fn.__name__)


def _lambda_node(fn: Any) -> Any:
    mod = sys.modules.get(fn.__module__)
    if mod is None:
        return None
    tree = _module_tree(mod.__file__)
    line = fn.__code__.co_firstlineno
    for n in ast.walk(tree):
        if isinstance(n, ast.Lambda) and n.lineno == line:
            return n
    return None


@cache
def _module_tree(path: str) -> ast.Module:
    return ast.parse(Path(path).read_text())


def collect() -> Reads:
    """Every (type token, property path) the deploy side reads (see the module docstring)."""
    return Interp().run()


# ---- the SDKs ------------------------------------------------------------------------------------

_PACKAGES = {"aws": "pulumi_aws", "aws-native": "pulumi_aws_native",
             "mongodbatlas": "pulumi_mongodbatlas"}
_GETTER = re.compile(r'@pulumi\.getter(?:\(name="(\w+)"\))?\n(?:\s*@[^\n]*\n)*'
                     r'\s*def (\w+)\(self\) -> (.*?):\n')
_CLASS = re.compile(r"^class (\w+)\b[^\n]*:\n", re.M)


@dataclass(frozen=True)
class Shape:
    """One SDK class: camelCase property -> its annotation; where its nested names live."""

    name: str
    props: dict[str, str]
    pkg_dir: Path
    mod_dir: Path


def _site(pkg: str) -> Path | None:
    spec = importlib.util.find_spec(pkg)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def _classes(path: Path) -> dict[str, str]:
    """class name -> its source text, of one SDK file."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    out: dict[str, str] = {}
    starts = [(m.start(), m.group(1)) for m in _CLASS.finditer(text)]
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        out[name] = text[start:end]
    return out


def _shape(name: str, path: Path, pkg_dir: Path) -> Shape | None:
    src = _classes(path).get(name)
    if src is None:
        return None
    props = {(m.group(1) or m.group(2)): m.group(3) for m in _GETTER.finditer(src)}
    return Shape(name, props, pkg_dir, path.parent)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


@cache
def resource_shapes(token: str) -> tuple[Shape, ...] | None:
    """The SDK classes of a type token: the resource (outputs) and its Args (inputs); None
    when the token's SDK is not installed or has no such class."""
    provider, mod, cls = token.split(":")
    pkg_dir = _site(_PACKAGES.get(provider, ""))
    if pkg_dir is None:
        return None
    mod = mod.split("/")[0]
    mod_dir = pkg_dir if mod == "index" else pkg_dir / mod.replace("-", "_")
    candidates = [mod_dir / f"{_snake(cls)}.py", mod_dir / f"{cls.lower()}.py"]
    candidates += sorted(p for p in mod_dir.glob("*.py") if p not in candidates)
    for path in candidates:
        if cls in _classes(path):
            shapes = [_shape(cls, path, pkg_dir), _shape(f"{cls}Args", path, pkg_dir)]
            return tuple(s for s in shapes if s is not None)
    return None


_NESTED = re.compile(r"'(?:(_root_outputs|_root_inputs|outputs|_inputs)\.)?(\w+)'")


def nested(shape: Shape, annotation: str) -> tuple[bool, list[Shape]] | None:
    """(is a list, the classes of its items or value) of a property annotation; None when
    it is not an object the SDK describes (a scalar, a map, Any)."""
    ann = annotation.replace("pulumi.Output[", "").replace("pulumi.Input[", "")
    seq = "Sequence[" in ann or "List[" in ann
    if "Mapping[" in ann:
        return None
    found = _NESTED.search(ann)
    if found is None:
        return (seq, []) if seq else None
    where, name = found.groups()
    files = {"_root_outputs": [shape.pkg_dir / "outputs.py"],
             "_root_inputs": [shape.pkg_dir / "_inputs.py"],
             "outputs": [shape.mod_dir / "outputs.py"],
             "_inputs": [shape.mod_dir / "_inputs.py"],
             None: [shape.mod_dir / "_inputs.py", shape.mod_dir / "outputs.py"]}[where]
    out = [s for f in files if (s := _shape(name, f, shape.pkg_dir)) is not None]
    return seq, out


UNIVERSAL = frozenset({"id", "urn"})  # every custom resource's, not an SDK getter


def mismatches(reads: Reads) -> dict[tuple[str, str], tuple[str, set[str]]]:
    """(token, dotted path) -> (why, where read) for each read the SDK does not name; only
    the shortest failing path of each (what lies below a missing name is not reported)."""
    out: dict[tuple[str, str], tuple[str, set[str]]] = {}
    failed: set[tuple[str, tuple[str, ...]]] = set()
    for (token, path), where in sorted(reads.found.items()):
        if any((token, path[:i]) in failed for i in range(1, len(path))):
            continue
        why = check_path(token, path)
        if why is not None:
            failed.add((token, path))
            out[(token, ".".join(path))] = (why, where)
    return out


def check_path(token: str, path: tuple[str, ...]) -> str | None:
    """Why `path` is not a property of `token` per its SDK, or None when it is (or cannot
    be told: no SDK, or below a value the SDK does not describe)."""
    shapes = resource_shapes(token)
    if shapes is None:
        return None
    if path[0] in UNIVERSAL:
        return None
    current: list[Shape] = list(shapes)
    is_list = False
    for i, step in enumerate(path):
        where = ".".join(path[:i]) or "(top level)"
        if step == ELEM:
            if not is_list:
                return f"{where} is not a list in the SDK"
            is_list = False
            continue
        if is_list:
            return f"{where} is a list in the SDK (read without an item)"
        anns = [(s, s.props[step]) for s in current if step in s.props]
        if not anns:
            known = sorted({p for s in current for p in s.props})
            return f"no property {step!r} in {where} (the SDK has: {', '.join(known)})"
        kinds = [nested(s, a) for s, a in anns]
        if any(k is None for k in kinds):
            if i + 1 < len(path) and all(k is None for k in kinds) and all(
                    _scalar(a) for _, a in anns):
                return f"{'.'.join(path[:i + 1])} is a scalar in the SDK"
            return None  # a map or Any: what is below is not the SDK's to name
        is_list = any(k[0] for k in kinds if k)
        current = [s for k in kinds if k for s in k[1]]
        if not current and i + 1 < len(path) and not (is_list and path[i + 1] == ELEM
                                                         and i + 2 == len(path)):
            return None  # the item type is not described (e.g. Sequence[str])
    return None


def _scalar(annotation: str) -> bool:
    if "Mapping[" in annotation or "Any" in annotation:
        return False
    return bool(re.search(r"\b(str|bool|int|float)\]*$", annotation.replace("'", "")))
