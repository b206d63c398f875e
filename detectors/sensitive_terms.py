"""Agency-editable vocabularies for sensitive conditions, one YAML file per category.

Vocabulary is policy, not code: an agency adds its local program names or drops
a term that keeps misfiring without touching Python. Because a silently ignored
list would mean silently passed mail, every file is validated strictly and a bad
one stops start-up with an error that names the file and the key.

The shipped lists are package data in ``detectors/terms/``, read through
:mod:`importlib.resources` so an installed wheel finds them; an agency points
the ``terms_dir`` option at its own copy to change them.

File format (``<terms_dir>/<category>.yaml``)::

    description: what the category covers (for people editing the list)
    terms: [overdose, bipolar disorder]    # any case; base forms also match
                                           # inflections ("overdose" -> "overdosed")
    acronyms: [PTSD, PrEP]                 # exact capitalisation ("prep" is not PrEP)
    exclude: [great depression, addicted to * phone]
                                           # any case; overlapping matches are dropped;
                                           # "*" stands for at most one word
    in_context:                            # words that count only near others
      - description: injuries, when abuse is being described
        terms: [bruises, black eye]        # any case, base forms as for terms
        context: [hit, slapped, CPS]       # any case, base forms as for terms

An ``in_context`` term counts when one of its group's context words is in the
same sentence or the sentence next to it, in the same paragraph: "bruises"
in a report of a slap, not on a peach.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from proxy.core.findings import Category

_SUFFIX = ".yaml"


class TermListError(ValueError):
    """A term list file is missing, unreadable or invalid; the text names file and key."""


def default_terms_dir() -> Traversable:
    """The shipped lists, wherever the ``detectors`` package is installed.

    A :class:`~importlib.resources.abc.Traversable` rather than a path, so
    callers read the files the way importlib finds them (a wheel, a zip, a
    checkout); an agency's own ``terms_dir`` is an ordinary
    :class:`~pathlib.Path`, which is a Traversable too.
    """
    return resources.files("detectors") / "terms"


def _clean(values: tuple[str, ...], *, lower: bool) -> tuple[str, ...]:
    cleaned: list[str] = []
    for index, value in enumerate(values):
        text = " ".join(value.split())
        if not text:
            raise ValueError(f"entry {index} is empty")
        cleaned.append(text.lower() if lower else text)
    return tuple(dict.fromkeys(cleaned))


class ContextGroup(BaseModel):
    """Terms that imply the category only beside one of their context words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    terms: tuple[str, ...]
    context: tuple[str, ...]

    @field_validator("terms", "context")
    @classmethod
    def _any_case(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must list at least one entry")
        return _clean(value, lower=True)


class TermList(BaseModel):
    """One category's vocabulary, as an agency wrote it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    terms: tuple[str, ...] = ()
    acronyms: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    in_context: tuple[ContextGroup, ...] = ()

    @field_validator("terms", "acronyms", "exclude", "in_context", mode="before")
    @classmethod
    def _empty_key(cls, value: object) -> object:
        """A key whose entries were all deleted reads as null in YAML."""
        return () if value is None else value

    @field_validator("terms", "exclude")
    @classmethod
    def _any_case(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _clean(value, lower=True)

    @field_validator("acronyms")
    @classmethod
    def _exact_case(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _clean(value, lower=False)


@dataclass(frozen=True, slots=True)
class CategoryTerms:
    category: Category
    terms: TermList
    path: Traversable


def _describe(exc: ValidationError, path: Traversable) -> str:
    lines = [f"invalid term list {path}:"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden" and err["loc"][0] == "in_context":
            msg = "unknown key (allowed in an in_context group: description, terms, context)"
        elif err["type"] == "extra_forbidden":
            msg = f"unknown key (allowed: {', '.join(TermList.model_fields)})"
        elif err["type"] == "string_type":
            msg += " (put quotes around numbers and words like yes/no)"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def load_term_list(path: Traversable) -> TermList:
    """Read and validate one category file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TermListError(f"cannot read term list {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TermListError(f"term list {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TermListError(
            f"term list {path} must be a mapping with the keys {', '.join(TermList.model_fields)}"
        )
    try:
        return TermList.model_validate(data)
    except ValidationError as exc:
        raise TermListError(_describe(exc, path)) from exc


def load_term_lists(
    directory: Traversable, categories: Iterable[Category]
) -> tuple[CategoryTerms, ...]:
    """Load the lists for ``categories`` from ``directory``.

    Every ``*.yaml`` file must be named after a category, so that a misspelt
    file name (``mental-health.yaml``) is an error rather than a list that is
    quietly never read.
    """
    if not directory.is_dir():
        raise TermListError(f"sensitive term directory {directory} does not exist")
    known = {c.value for c in Category}
    lists = sorted(
        (p for p in directory.iterdir() if p.name.endswith(_SUFFIX)), key=lambda p: p.name
    )
    for path in lists:
        if path.name.removesuffix(_SUFFIX) not in known:
            raise TermListError(
                f"term list {path} is not named after a category; "
                f"use one of: {', '.join(sorted(known))}"
            )
    loaded: list[CategoryTerms] = []
    for category in categories:
        path = directory / f"{category.value}{_SUFFIX}"
        if not path.is_file():
            raise TermListError(
                f"no term list for category {category.value!r}: expected {path} "
                "(or leave the category out of the 'categories' option)"
            )
        loaded.append(CategoryTerms(category, load_term_list(path), path))
    return tuple(loaded)
