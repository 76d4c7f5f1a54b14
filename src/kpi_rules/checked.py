"""What the checker hands the compiler: the rule set plus its resolved names and types.

The syntax nodes are never mutated; everything learned about them lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from kpi_rules import nodes
from kpi_rules.valuetypes import ValueType

SymbolKind = Literal["input", "relation", "param", "table", "let", "criterion", "group", "total"]


@dataclass(frozen=True, slots=True)
class Symbol:
    """A global name of the rule set and what it refers to."""

    name: str
    kind: SymbolKind
    type: ValueType
    #: The declaring node (InputDecl, RelationDecl, ParamDecl/TableDecl (first version),
    #: LetDecl, Criterion, CriteriaGroup or CriteriaTree).
    decl: object


@dataclass(frozen=True, slots=True)
class CheckedRuleset:
    """A rule set that passed every load-time check."""

    ruleset: nodes.Ruleset
    #: The rated subject's declaration (``ruleset.rates``).
    subject: nodes.SubjectDecl
    #: Global names: inputs and relations of the rated subject, params, tables, lets, criteria.
    symbols: Mapping[str, Symbol]
    #: Declared record types by name.
    records: Mapping[str, nodes.RecordDecl]
    #: Declared subject kinds by name.
    subjects: Mapping[str, nodes.SubjectDecl]
    #: The inferred type of every expression node, keyed by ``id(node)``. The nodes are owned by
    #: ``ruleset``, which this object keeps alive, so the ids stay valid.
    expr_types: Mapping[int, ValueType] = field(default_factory=dict, repr=False)
    #: Diagnostics of severity warning found while checking (errors are raised instead).
    warnings: tuple[object, ...] = ()
