"""The ``calculator`` built-in: arithmetic on numbers, parsed with ``ast``, never ``eval``.

Only number literals, ``+ - * / // % **``, parentheses and unary minus are accepted. Sizes are
bounded so a prompt cannot make the server compute ``9 ** 9 ** 9``: the input length, the
exponent, and the bit length of every integer result; and the nesting, so ``- - - ... 1``
(999 characters) is refused, not a ``RecursionError`` a thousand frames deep.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from agentos_runtime.errors import DescribedFailure
from agentos_runtime.tools.tool import Tool

Number = int | float

# A long arithmetic expression is a sign of misuse, not of a question.
MAX_EXPRESSION_LENGTH = 1000
# Largest exponent accepted; enough for any realistic question, far from a CPU hazard.
MAX_EXPONENT = 1000
# Largest integer result (about 1233 decimal digits): keeps every step cheap to compute and print.
MAX_INT_BITS = 4096
# Deepest nesting of operators (``-(-(...))``, or a sum of that many terms): evaluating recurses
# once per level, so this keeps clear of Python's recursion limit (1000) while every sum the
# length limit allows (``1+1+...``: 500 terms in 1000 characters) is still taken.
MAX_DEPTH = 600

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}

PARAMETERS = {
    "type": "object",
    "properties": {
        "expression": {
            "type": "string",
            "description": "An arithmetic expression, e.g. `(2 + 3) * 4 ** 2 / 7`. Numbers, + - * / // % **, parentheses.",
        }
    },
    "required": ["expression"],
}


class CalculationError(DescribedFailure, ValueError):
    """The expression is not plain arithmetic, or its result is out of bounds."""


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression; raises ``CalculationError`` saying what is wrong."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise CalculationError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise CalculationError(f"not an arithmetic expression: {error.msg}") from error
    except RecursionError:  # the parser's own limit, past ours
        raise CalculationError(f"the expression is nested more than {MAX_DEPTH} levels deep") from None
    if depth(tree.body) > MAX_DEPTH:
        raise CalculationError(f"the expression is nested more than {MAX_DEPTH} levels deep")
    return _evaluate(tree.body)


def depth(node: ast.AST) -> int:
    """How deep the tree under ``node`` goes (``1`` for a number), walked without recursion."""
    deepest = 0
    pending = [(node, 1)]
    while pending:
        current, level = pending.pop()
        deepest = max(deepest, level)
        pending.extend((child, level + 1) for child in ast.iter_child_nodes(current))
    return deepest


def _evaluate(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalculationError(f"only numbers are allowed, not {node.value!r}")
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _checked(-_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        try:
            return _checked(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError as error:
            raise CalculationError("division by zero") from error
        except OverflowError as error:
            raise CalculationError("the result is too large") from error
    raise CalculationError(f"'{ast.unparse(node)}' is not allowed: use numbers, + - * / // % ** and parentheses")


def _check_power(base: Number, exponent: Number) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise CalculationError(f"exponents are limited to {MAX_EXPONENT}")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if base.bit_length() * exponent > MAX_INT_BITS:
            raise CalculationError("the result is too large")


def _checked(value: Any) -> Number:
    if isinstance(value, complex):
        raise CalculationError("the result is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculationError("the result is too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError("the result is too large")
    return value  # type: ignore[no-any-return]


async def calculate(expression: str) -> str:
    """The tool function: the value as text. Bounded work, so it runs on the event loop."""
    return str(evaluate(expression))


def build_calculator() -> Tool:
    """The ``calculator`` tool (it has no settings)."""
    return Tool(
        "calculator",
        "Evaluate an arithmetic expression exactly and return the number.",
        PARAMETERS,
        calculate,
    )
