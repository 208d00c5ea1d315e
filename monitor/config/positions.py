"""Where keys sit in a TOML file, so schema errors can name a line.

tomllib reports positions only for syntax errors, and only inside its message text. Rule and
config files are small and hand-written, so a line scan that follows table headers, arrays of
tables and (dotted) keys is enough to point a person at the right line.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import typing

from pydantic import BaseModel, ValidationError

from monitor.errors import Problem, ProblemsError

KeyPath = tuple[str | int, ...]

_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_TABLE = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")
_KEY = re.compile(
    r"""^(\s*)((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_SYNTAX_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _split_dotted(text: str) -> tuple[str, ...]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", text)
    return tuple(p.strip("\"'") for p in parts)


def key_positions(text: str) -> dict[KeyPath, tuple[int, int]]:
    """Map each table and key path to its (line, column), both 1-based.

    Arrays of tables get their index in the path: the second ``[[rules]]`` is ``("rules", 1)``.
    Multi-line strings and arrays are skipped over well enough for hand-edited files.
    """
    positions: dict[KeyPath, tuple[int, int]] = {}
    array_counts: dict[tuple[str | int, ...], int] = {}
    table: KeyPath = ()
    in_multiline: str | None = None
    depth = 0  # open brackets of a multi-line array
    # tomllib counts only "\n" as a line break; splitlines() would also split on U+2028 etc.
    for number, line in enumerate(text.split("\n"), start=1):
        if in_multiline is not None:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if depth > 0:
            depth += _bracket_balance(line)
            continue
        if match := _ARRAY_TABLE.match(line):
            name = _split_dotted(match.group(1))
            parent = _resolve(name[:-1], array_counts)
            key = (*parent, name[-1])
            index = array_counts.get(key, 0)
            array_counts[key] = index + 1
            table = (*key, index)
            positions.setdefault(key, (number, line.index("[") + 1))
            positions[table] = (number, line.index("[") + 1)
            continue
        if match := _TABLE.match(line):
            table = _resolve(_split_dotted(match.group(1)), array_counts)
            positions[table] = (number, line.index("[") + 1)
            continue
        if match := _KEY.match(line):
            path = (*table, *_split_dotted(match.group(2)))
            positions.setdefault(path, (number, len(match.group(1)) + 1))
            value = line[match.end() :]
            for quote in ('"""', "'''"):
                if value.count(quote) % 2 == 1:
                    in_multiline = quote
            if in_multiline is None:
                depth = _open_brackets(value)
    return positions


def _open_brackets(value: str) -> int:
    return max(_bracket_balance(value), 0)


def _bracket_balance(value: str) -> int:
    # Ignore brackets inside strings and comments; good enough for arrays of plain strings.
    stripped = re.sub(r'"(?:\\.|[^"\\])*"|\'[^\']*\'', "", value).split("#", 1)[0]
    return stripped.count("[") - stripped.count("]")


def _resolve(name: tuple[str, ...], array_counts: dict[tuple[str | int, ...], int]) -> KeyPath:
    """Turn ``a.b`` into the path of the latest ``[[a]]`` element, if ``a`` is an array."""
    path: list[str | int] = []
    for part in name:
        path.append(part)
        count = array_counts.get(tuple(path))
        if count:
            path.append(count - 1)
    return tuple(path)


def line_of(positions: dict[KeyPath, tuple[int, int]], path: KeyPath) -> tuple[int, int]:
    """The position of the longest known prefix of ``path``; (1, 1) if none is known."""
    for end in range(len(path), 0, -1):
        if path[:end] in positions:
            return positions[path[:end]]
    return (1, 1)


def parse_toml(text: str, path: str) -> dict[str, object]:
    """Parse TOML, turning a syntax error into a Problem with its line and column."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        line, column = 1, 1
        if match := _SYNTAX_POSITION.search(message):
            line, column = int(match.group(1)), int(match.group(2))
            message = message[: match.start()].strip()
        elif "(at end of document)" in message:
            line = text.rstrip().count("\n") + 1  # the last line with anything on it
            message = message.replace("(at end of document)", "").strip() + " at end of file"
        if opened := _unclosed_quote(text, line):
            message = opened
        raise ProblemsError([Problem(path, line, f"TOML syntax: {message}", column)]) from None
    except RecursionError:
        line = _deepest_line(text)
        message = f"arrays or tables nested more than {MAX_NESTING} deep; write it flatter"
        raise ProblemsError([Problem(path, line, message)]) from None
    except ValueError:  # Python refuses to read an integer of more than 4,300 digits
        found = _LONG_NUMBER.search(text)
        line = text.count("\n", 0, found.start()) + 1 if found else 1
        raise ProblemsError([Problem(path, line, "a number too long to read")]) from None


def _unclosed_quote(text: str, upto: int) -> str | None:
    """Where a quote that never closes opened, at or before line ``upto``, and how to close it.

    tomllib only says what it tripped over ("Illegal character '\\n'", "Unclosed array"),
    which is not where the mistake is.
    """
    found = None
    in_multiline: str | None = None
    for number, line in enumerate(text.split("\n")[:upto], start=1):
        for triple in ('"""', "'''"):
            if line.count(triple) % 2 == 1:
                in_multiline = None if in_multiline == triple else in_multiline or triple
        if in_multiline is not None or '"""' in line or "'''" in line:
            continue
        quote, opened_at, escaped = "", 0, False
        for column, char in enumerate(line, start=1):
            if quote:
                if escaped:
                    escaped = False
                elif char == "\\" and quote == '"':
                    escaped = True
                elif char == quote:
                    quote = ""
            elif char == "#":
                break
            elif char in "\"'":
                quote, opened_at = char, column
        if quote:
            key = _KEY.match(line)
            name = _split_dotted(key.group(2))[-1] if key else "name"
            found = (
                f"the text that starts with {quote} at line {number}, column {opened_at} is not "
                f"closed; end it with {quote} on the same line, e.g. {name} = {quote}Acme{quote}"
            )
            if line.count(quote) > 1:  # the missing quote may be an earlier one on the line
                found += f"; check that each text on line {number} starts and ends with {quote}"
    return found


# What tomllib's recursion allows comfortably; no real config comes near it.
MAX_NESTING = 100
_LONG_NUMBER = re.compile(r"[0-9_]{4000,}")


def _deepest_line(text: str) -> int:
    """The line where brackets and braces first nest past MAX_NESTING, strings not told apart:
    good enough to point at the one line that does it."""
    depth = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        for char in line:
            depth += (char in "[{") - (char in "]}")
            if depth > MAX_NESTING:
                return line_number
    return 1


def validation_problems(
    error: ValidationError,
    model: type[BaseModel],
    positions: dict[KeyPath, tuple[int, int]],
    path: str,
    prefix: KeyPath = (),
) -> list[Problem]:
    """Turn pydantic's errors into Problems at the lines of the keys they are about.

    ``prefix`` is where the validated table sits in the file (e.g. ``("sources", "hn")``).
    Unknown keys get a did-you-mean from the model's own field names.
    """
    problems = []
    for detail in error.errors():
        loc = tuple(detail["loc"])
        line, column = line_of(positions, (*prefix, *loc))
        where = ".".join(str(part) for part in (*prefix, *loc)) or "file"
        if detail["type"] == "extra_forbidden":
            known = _field_names(model, loc[:-1])
            message = f'unknown key "{where}"'
            if guess := difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6):
                message += f' (did you mean "{guess[0]}"?)'
            elif known:
                message += f"; known keys: {', '.join(sorted(known))}"
        elif detail["type"] == "missing":
            message = f'missing required key "{where}"'
        elif isinstance(detail["input"], str) and detail["type"] in _NUMBER_ERRORS:
            message = _number_in_quotes(str(loc[-1]), detail["input"], detail["type"])
        elif isinstance(detail["input"], str) and detail["type"] == "enum":
            message = _not_a_choice(where, detail["input"], str(detail["ctx"]["expected"]))
        else:
            message = f"{where}: {_plain(detail['msg'])}"
        problems.append(Problem(path, line, message, column))
    return problems


_NUMBER_ERRORS = {"float_type", "float_parsing", "int_type", "int_parsing"}
_SUFFIXES = {"k": 1_000, "m": 1_000_000}


def _number_in_quotes(key: str, value: str, kind: str) -> str:
    """``sentiment_below = "-0.05"``: a number written as text, and how to write it."""
    whole = kind.startswith("int")
    written = value.strip().replace(",", "").replace("_", "")
    scale = _SUFFIXES.get(written[-1:].lower(), 1)
    try:
        number = float(written[:-1] if scale > 1 else written)
    except ValueError:
        example = "10000" if whole else "-0.5"
        return f"{key} must be a number, like {key} = {example}; not {value!r}"
    number *= scale
    example = f"{number:.0f}" if whole else f"{number:g}"
    if scale > 1:
        return f"{key} must be a plain number: write {key} = {example} (no k/m suffixes)"
    return f"{key} must be a number without quotes, like {key} = {example}"


def _not_a_choice(where: str, value: str, expected: str) -> str:
    """``severity = "urgnet"``: say which word was meant, and the words there are."""
    choices = re.findall(r"'([^']*)'", expected)
    message = f'{where}: "{value}" is not one of {expected}'
    if guess := difflib.get_close_matches(value.strip().lower(), choices, n=1, cutoff=0.6):
        message += f' (did you mean "{guess[0]}"?)'
    return message


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _field_names(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model allows at ``loc``, following nested models through lists and dicts."""
    current: object = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(part)
        if field is None:
            by_alias = [f for f in current.model_fields.values() if f.alias == part]
            if not by_alias:
                return []
            field = by_alias[0]
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _model_in(annotation: object) -> object:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
