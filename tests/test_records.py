"""drguard.records.record behaves as dataclasses.dataclass: equality, hashing, repr, frozen
guards, slots, a class's own methods and per-field options, on twin classes declared both
ways."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

import pytest

from drguard.records import record


def _twins(decorate_kw: dict[str, Any]) -> tuple[type, type]:
    def body() -> type:
        class Point:
            """A point."""

            x: int
            y: Any = None
            tags: list[str] = field(default_factory=list)
            note: str = field(default="", compare=False, repr=False)
            weight: float = field(default=0.0, hash=False)

        return Point

    return dataclass(**decorate_kw)(body()), record(**decorate_kw)(body())


CASES = [{}, {"frozen": True}, {"slots": True}, {"frozen": True, "slots": True}]
VALUES = [(1, "a", [], "n", 0.5), (1, "a", [], "other note", 0.5), (2, None, ["t"], "", 1.0),
          (1, "a", [], "n", 2.5), (1, (1, 2), [], "n", 0.5)]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(kw) or "plain")
def test_equality_and_repr_match_dataclass(kw: dict[str, Any]) -> None:
    std, rec = _twins(kw)
    for a in VALUES:
        for b in VALUES:
            assert (std(*a) == std(*b)) == (rec(*a) == rec(*b))
            assert (std(*a) != std(*b)) == (rec(*a) != rec(*b))
        assert repr(rec(*a)) == repr(std(*a))
    assert rec(*VALUES[0]).__eq__(std(*VALUES[0])) is NotImplemented
    assert rec(*VALUES[0]) != (1, "a", [], "n", 0.5)


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(kw) or "plain")
def test_hashing_matches_dataclass(kw: dict[str, Any]) -> None:
    std, rec = _twins(kw)
    if not kw.get("frozen"):
        assert rec.__hash__ is None and std.__hash__ is None
        with pytest.raises(TypeError):
            hash(rec(1))
        return
    for a in [(1, "a", (), "n", 0.5), (2, None, (), "x", 3.0)]:
        # the same hash values (set and dict orders follow them), the weight left out
        assert hash(rec(*a)) == hash(std(*a))
    assert hash(rec(1, tags=(), weight=1.0)) == hash(rec(1, tags=(), weight=2.0))


def test_frozen_guards_and_fields() -> None:
    _, rec = _twins({"frozen": True})
    p = rec(1)
    with pytest.raises(FrozenInstanceError):
        p.x = 2
    with pytest.raises(FrozenInstanceError):
        del p.x
    assert [f.name for f in dataclasses.fields(p)] == ["x", "y", "tags", "note", "weight"]
    assert dataclasses.replace(p, x=3) == rec(3)
    assert dataclasses.asdict(p)["x"] == 1
    assert rec.__match_args__ == ("x", "y", "tags", "note", "weight")


def test_slots_classes_have_no_dict() -> None:
    _, rec = _twins({"slots": True})
    assert not hasattr(rec(1), "__dict__")


def test_a_class_keeps_its_own_methods() -> None:
    @record(frozen=True)
    class Secret:
        value: str

        def __repr__(self) -> str:
            return "Secret(...)"

    @record
    class Loose:
        a: int

        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return 7

    assert repr(Secret("x")) == "Secret(...)"
    assert Secret("x") == Secret("x") and hash(Secret("x")) == hash(Secret("x"))
    assert Loose(1) == Loose(2) and hash(Loose(1)) == 7


def test_recursive_repr_is_cut_as_dataclass_cuts_it() -> None:
    @dataclass
    class StdNode:
        child: Any = None

    @record
    class RecNode:
        child: Any = None

    s, r = StdNode(), RecNode()
    s.child, r.child = s, r
    assert repr(r) == repr(s).replace("StdNode", "RecNode")


def test_subclass_compares_its_own_and_inherited_fields() -> None:
    @record
    class Base:
        a: int

    @record
    class Child(Base):
        b: int = 0

    assert Child(1, 2) == Child(1, 2) and Child(1, 2) != Child(1, 3)
    assert Child(1, 2) != Base(1) and repr(Child(1, 2)) == "test_subclass_compares_its_own_" \
        "and_inherited_fields.<locals>.Child(a=1, b=2)"


def test_the_product_declares_records_not_dataclasses() -> None:
    """Every dataclass of the product's packages is a record (the cost this module removes
    comes back with each plain one), with a docstring of its own (without one, dataclass
    writes one from inspect.signature, ~0.1 ms a class at every start)."""
    plain, undocumented = [], []
    for pkg in ("drguard", "policypack", "auditor"):
        root = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(root.__path__, pkg + "."):
            if info.name.endswith(".__main__"):  # runs the CLI
                continue
            try:
                mod = importlib.import_module(info.name)
            except ImportError:  # optional parts (e.g. a C extension not built)
                continue
            for obj in vars(mod).values():
                if isinstance(obj, type) and obj.__module__ == mod.__name__ \
                        and "__dataclass_fields__" in obj.__dict__ \
                        and "__record_compared__" not in obj.__dict__:
                    plain.append(f"{mod.__name__}.{obj.__qualname__}")
                if isinstance(obj, type) and obj.__module__ == mod.__name__ \
                        and "__record_compared__" in obj.__dict__ \
                        and (obj.__doc__ or "").startswith(obj.__name__ + "("):
                    undocumented.append(f"{mod.__name__}.{obj.__qualname__}")
    assert plain == []
    assert undocumented == []


def test_a_base_with_abstract_methods_is_completed_as_dataclass_completes_it() -> None:
    import collections.abc

    @dataclass(frozen=True)
    class StdKey(collections.abc.Hashable):
        a: int

    @record(frozen=True)
    class RecKey(collections.abc.Hashable):
        a: int

    assert hash(RecKey(1)) == hash(StdKey(1)) and RecKey(1) == RecKey(1)
