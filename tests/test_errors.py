"""errors.py draws its exception tree in its docstring; the drawing must be the code, exactly."""

from __future__ import annotations

import inspect
import re

import monitor.errors

# "│   ├── FetchError    the HTTP fetch failed": the name's indent is its depth in the tree.
_DRAWN = re.compile(
    r"^(?P<indent>(?:[│ ] {3})*)(?:[├└]── )?(?P<name>[A-Z]\w*)(?:\s+(?P<what>.*))?$"
)


def drawn_tree() -> dict[str, str | None]:
    """Each class in the docstring's tree, with the class drawn above it (None for the root)."""
    parents: dict[str, str | None] = {}
    path: list[str] = []
    paragraphs = (monitor.errors.__doc__ or "").split("\n\n")
    [tree] = [text for text in paragraphs if text.startswith("HarkenError")]
    for line in tree.strip().splitlines():
        match = _DRAWN.match(line)
        assert match is not None, f"not a line of the tree: {line!r}"
        depth = len(match["indent"]) // 4 + (1 if "──" in line else 0)
        del path[depth:]
        parents[match["name"]] = path[-1] if path else None
        path.append(match["name"])
    return parents


def defined_tree() -> dict[str, str | None]:
    """Each exception class errors.py defines, with its parent among them (None for the root)."""
    classes = {
        name: cls
        for name, cls in inspect.getmembers(monitor.errors, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == monitor.errors.__name__
    }
    return {
        name: next((base.__name__ for base in cls.__bases__ if base in classes.values()), None)
        for name, cls in classes.items()
    }


def test_the_docstring_draws_every_error_under_its_parent() -> None:
    assert drawn_tree() == defined_tree()


def test_the_tree_has_one_root_and_says_what_else_a_class_is() -> None:
    defined = defined_tree()
    assert [name for name, parent in defined.items() if parent is None] == ["HarkenError"]
    docstring = monitor.errors.__doc__ or ""
    for name in defined:
        cls = getattr(monitor.errors, name)
        outside = [base.__name__ for base in cls.__bases__ if base.__name__ not in defined]
        if name != "HarkenError":
            line = next(line for line in docstring.splitlines() if f"── {name} " in line)
            assert all(f"also a {base}" in line for base in outside), line


def test_a_query_error_is_a_harken_error_that_validation_reads_as_a_bad_value() -> None:
    error = monitor.errors.QueryError("Acme (", 5, "this ( is not closed")
    assert isinstance(error, monitor.errors.HarkenError)
    assert isinstance(error, ValueError)
    assert str(error) == "column 6: this ( is not closed\n    Acme (\n         ^"
