"""Messages for people: one catalogue per language, Vietnamese first.

Input: a message key (``"reason.band"``), a language and named parameters. Output: the text.
The catalogues are ``messages/vi.yaml`` and ``messages/en.yaml`` (package data); nested keys are
joined with dots. Placeholders are ``str.format`` named fields (``{total}``). An unknown key,
an unknown language, a missing parameter or an unexpected one is a programming error and raises
:class:`MessageError`; nothing is silently left unfilled.

>>> message("band.from_below", lower="70", upper="90")
'từ 70 điểm đến dưới 90 điểm'
>>> message("band.from_below", "en", lower="70", upper="90")
'from 70 up to below 90 points'
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import cache
from importlib import resources

import yaml

#: Supported languages; the first is the default.
LANGUAGES: tuple[str, ...] = ("vi", "en")
DEFAULT_LANG = "vi"


class MessageError(LookupError):
    """A message was asked for with an unknown key or language, or with the wrong parameters."""


def _flatten(prefix: str, data: object, out: dict[str, str], origin: str) -> None:
    if isinstance(data, Mapping):
        for key, value in data.items():
            if not isinstance(key, str):
                raise MessageError(f"{origin}: key {key!r} under `{prefix}` is not text")
            _flatten(f"{prefix}.{key}" if prefix else key, value, out, origin)
    elif isinstance(data, str):
        out[prefix] = data
    else:
        raise MessageError(f"{origin}: `{prefix}` is {type(data).__name__}, expected text")


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    """All messages of one language, keyed by dotted key."""
    if lang not in LANGUAGES:
        raise MessageError(f"unknown language `{lang}`; supported: {', '.join(LANGUAGES)}")
    origin = f"messages/{lang}.yaml"
    text = resources.files("kpi_rules").joinpath("messages", f"{lang}.yaml").read_text("utf-8")
    flat: dict[str, str] = {}
    _flatten("", yaml.safe_load(text), flat, origin)
    return flat


def keys(lang: str = DEFAULT_LANG) -> tuple[str, ...]:
    """Every message key of a language, sorted."""
    return tuple(sorted(catalogue(lang)))


def placeholders(template: str) -> frozenset[str]:
    """The named fields of a template: ``"{a} and {b:>3}"`` gives ``{"a", "b"}``."""
    names: set[str] = set()
    for _literal, field_name, _spec, _conversion in string.Formatter().parse(template):
        if field_name is not None:
            if not field_name.isidentifier():
                raise MessageError(f"template {template!r} has a non-named field {{{field_name}}}")
            names.add(field_name)
    return frozenset(names)


def message(key: str, lang: str = DEFAULT_LANG, **params: object) -> str:
    """The message ``key`` in ``lang``, with its ``{name}`` placeholders filled from ``params``.

    Raises:
        MessageError: unknown language or key, a placeholder without a parameter, or a parameter
            the message does not use.

    >>> message("summary.rated_rejected", rated=3, rejected=1)
    'Đã xếp loại: 3; bị từ chối: 1'
    """
    messages = catalogue(lang)
    try:
        template = messages[key]
    except KeyError:
        raise MessageError(f"unknown message key `{key}` (language `{lang}`)") from None
    wanted = placeholders(template)
    missing = sorted(wanted - params.keys())
    extra = sorted(params.keys() - wanted)
    if missing or extra:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if extra:
            problems.append("unexpected " + ", ".join(extra))
        raise MessageError(f"message `{key}` ({lang}): {'; '.join(problems)}")
    return template.format(**params)
