"""Griffe extensions for the API reference: docstrings written for ``help()`` read as Markdown.

``LectureIndices``: the lecture writes a^[l](i) (layer l, example i); in Markdown ``[l](i)`` is
a link to a page "i". Outside code spans and doctest lines, ``](`` after such an index is
escaped so the text shows as written.

``RuntimeDocstrings``: a class whose docstring is computed (``__doc__ = TEMPLATE.format(...)``,
as the pooling and recurrent layers share theirs) has none that static analysis can read, so
it would be left out of the reference; its ``__doc__`` is taken from the imported class.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import griffe

_INDEX_LINK = re.compile(r"(\^\[[^\]`]*\])\(")


def _escape_indices(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        if not line.lstrip().startswith((">>>", "...")):
            parts = line.split("`")
            parts[::2] = [_INDEX_LINK.sub(r"\1\\(", part) for part in parts[::2]]
            line = "`".join(parts)
        lines.append(line)
    return "\n".join(lines)


class LectureIndices(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _escape_indices(obj.docstring.value)


class RuntimeDocstrings(griffe.Extension):
    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        if cls.docstring is not None or "__doc__" not in cls.members:
            return
        doc = griffe.dynamic_import(cls.path).__doc__
        if doc:
            cls.docstring = griffe.Docstring(
                _escape_indices(inspect.cleandoc(doc)), parent=cls, parser="numpy"
            )
