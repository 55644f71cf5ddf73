"""The one way to keep something computed from a schema: ``per_schema`` remembers a function's answer for each
schema object for as long as that schema lives (a schema is built once and never changes)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from proxy.schema.v6schema import V6Schema

T = TypeVar("T")


def per_schema(compute: Callable[[V6Schema], T]) -> Callable[[V6Schema], T]:
    """``compute(schema)``, computed once per schema."""
    answers: weakref.WeakKeyDictionary[V6Schema, T] = weakref.WeakKeyDictionary()

    @wraps(compute)
    def remembered(schema: V6Schema) -> T:
        try:
            return answers[schema]
        except KeyError:
            answer = answers[schema] = compute(schema)
            return answer

    return remembered
