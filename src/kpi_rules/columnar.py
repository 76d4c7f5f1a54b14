"""Columnar evaluation: :class:`~kpi_rules.plan.Plan` + columns → per-row results, exactly.

:func:`compile_columnar` checks once that a plan uses only what the columnar program
supports and prepares its tables; :meth:`ColumnarProgram.run` evaluates every step of the
plan over whole columns with numpy and returns a :class:`ColumnarRun`, from which
:meth:`~kpi_rules.colresults.ColumnarRun.result` builds the very
:class:`~kpi_rules.results.Result` that :func:`kpi_rules.evaluator.evaluate_record` gives for
that row (:mod:`kpi_rules.colresults`).

Exact numbers in columns
    A number column is a :class:`~kpi_rules.exactcols.Num`: int64 numerators over a
    denominator, usually one Python ``int`` shared by the column (``n / 100`` for amounts with
    two decimals). :mod:`kpi_rules.exactcols` holds the arithmetic: every stored magnitude stays
    at most ``2**62``, and before a product or a sum it proves from exact intervals (the
    declared ``min``/``max`` of inputs, constants) that the result stays there; only when the
    proof fails are the rows at risk found (float *estimates*) and marked *bad*. Comparisons
    with constants are one integer comparison (``n >= ceil(c * d)``), none when the intervals
    decide them; the bands of the rating are integer cut points on the total's numerators.
    No float ever decides a value.

Rows the program does not decide
    A row is *bad* when evaluating it would overflow, reach ``insufficient_data``, divide by
    zero, miss a table key, or anything else the tree-walker turns into an error or a stop.
    Only the rows where the node is actually evaluated count (``if``/``and``/``or``,
    ``if_zero``, tiers and ``any``/``all`` are followed with masks, like the short-circuits
    of the tree-walker). Bad rows are handed back to the caller, which evaluates them with
    :func:`~kpi_rules.evaluator.evaluate_record`: always correct, never approximate.

Task items
    A list input is a flat item table (the row of each item, then its fields as columns). An
    aggregate ``sum(t in tasks where W: B)`` evaluates ``W`` and ``B`` over all items at once
    and reduces per row; aggregates that read only item fields, inputs, params and tables are
    *pre-reduced*, possibly chunk by chunk (:meth:`ColumnarProgram.reduce_items`), so the item
    table never needs to be in memory whole.

The modules
    This one holds the static check and the driver (items chunk by chunk, then the run);
    :mod:`kpi_rules.colexpr` evaluates expressions over columns, :mod:`kpi_rules.colrun` the
    plan's steps and the rating, :mod:`kpi_rules.colitems` the aggregates' partial folds and
    :mod:`kpi_rules.colresults` each row's ``Result``.

Unsupported (the whole plan then runs record by record): dates, optional inputs
(``present``/``coalesce``), relations, ``round`` to negative places, nested aggregates,
tables keyed by numbers, and aggregates that read lets or criteria when items are chunked.
"""

from __future__ import annotations

from kpi_rules import nodes
from kpi_rules.colexpr import _Eval, round_args
from kpi_rules.colitems import AggPartial, fold
from kpi_rules.colresults import ColumnarRun, cell_value
from kpi_rules.colrun import band_table as _band_table  # noqa: F401 (tests import it from here)
from kpi_rules.colrun import run_plan
from kpi_rules.exactcols import Arith  # noqa: F401 (tests import it from here)
from kpi_rules.exactcols import LIMIT, Cat, Columns, CValue, ItemTable, Num, Unsupported
from kpi_rules.plan import Plan

__all__ = [
    "LIMIT",
    "CValue",
    "Cat",
    "ColumnarProgram",
    "ColumnarRun",
    "Columns",
    "ItemTable",
    "Num",
    "Unsupported",
    "cell_value",
    "compile_columnar",
    "readable",
]

# --------------------------------------------------------------------------- the program


class ColumnarProgram:
    """A plan prepared for columnar evaluation (compile once, run on many batches)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        ruleset = plan.ruleset
        if ruleset.criteria is None:
            raise Unsupported("a rule set without criteria")
        self.lists: dict[str, str] = {}
        #: Inputs and item fields that may be declared but not read (dates, optional values).
        self.unreadable: set[str] = set()
        for decl in plan.checked.subject.inputs:
            t = decl.type
            if isinstance(t, nodes.ListType):
                self.lists[decl.name] = t.item
                for field_decl in plan.checked.records[t.item].inputs:
                    if not readable(field_decl):
                        self.unreadable.add(f"{decl.name}.{field_decl.name}")
            elif not readable(decl):
                self.unreadable.add(decl.name)
        if plan.checked.subject.relations:
            raise Unsupported("relations")
        for versions in list(plan.params.values()) + list(plan.tables.values()):
            if len(versions) != 1 or versions[0].decl.valid is not None:
                raise Unsupported("params or tables with versions")
        self.lets = [s for s in plan.steps if s.kind == "let"]
        self._source = ""
        #: Aggregates at the top level of a step that read only items, inputs, params, tables.
        self.pre: dict[int, nodes.Aggregate] = {}
        self.in_place: list[nodes.Aggregate] = []
        for step in plan.steps:
            if step.expr is not None:
                self._check(step.expr, None)
        rating = ruleset.rating
        self.levels: tuple[nodes.Level, ...] = rating.levels if rating is not None else ()
        #: The integer cut points of the bands for each denominator of the total (:func:`_band_table`).
        self.band_tables: dict[int, tuple[list[int], list[int]]] = {}

    # ------------------------------------------------------------------ static check

    def _check(self, expr: nodes.Expr, var: str | None) -> None:
        if isinstance(expr, (nodes.NumberLit, nodes.PercentLit, nodes.StringLit, nodes.BoolLit,
                             nodes.InsufficientData)):
            return
        if isinstance(expr, nodes.DateLit):
            raise Unsupported("dates")
        if isinstance(expr, nodes.Var):
            if expr.name in self.lists and var is None:
                raise Unsupported("a list outside an aggregate")
            if expr.name in self.unreadable and expr.name != var:
                raise Unsupported("dates or optional inputs")
            return
        if isinstance(expr, nodes.Member):
            if var is None or not isinstance(expr.obj, nodes.Var) or expr.obj.name != var:
                raise Unsupported("fields outside an aggregate")
            if f"{self._source}.{expr.name}" in self.unreadable:
                raise Unsupported("dates or optional fields")
            return
        if isinstance(expr, nodes.Index):
            if not isinstance(expr.obj, nodes.Var) or expr.obj.name not in self.plan.tables:
                raise Unsupported("indexing something other than a table")
            version = self.plan.table_version(expr.obj.name)
            if version is None or any(not isinstance(k, str) for k in version.rows):
                raise Unsupported("tables keyed by numbers")
            self._check(expr.key, var)
            return
        if isinstance(expr, nodes.Unary):
            self._check(expr.operand, var)
            return
        if isinstance(expr, nodes.Binary):
            self._check(expr.left, var)
            self._check(expr.right, var)
            return
        if isinstance(expr, nodes.IfElse):
            for sub in (expr.cond, expr.then, expr.otherwise):
                self._check(sub, var)
            return
        if isinstance(expr, nodes.Tiers):
            self._check(expr.subject, var)
            for tier in expr.tiers:
                self._check(tier.threshold, var)
                self._check(tier.value, var)
            self._check(expr.otherwise, var)
            return
        if isinstance(expr, nodes.Call):
            if expr.func not in ("min", "max", "abs", "clamp", "percent", "ratio", "round"):
                raise Unsupported(f"function {expr.func}")
            if expr.func == "round":
                round_args(expr)
            for arg in expr.args:
                self._check(arg, var)
            for kw in expr.kwargs:
                self._check(kw.value, var)
            return
        if isinstance(expr, nodes.Aggregate):
            if var is not None:
                raise Unsupported("nested aggregates")
            if not isinstance(expr.source, nodes.Var) or expr.source.name not in self.lists:
                raise Unsupported("aggregates over something other than a list input")
            if expr.func not in ("sum", "mean", "min", "max", "count", "share", "any", "all"):
                raise Unsupported(f"aggregate {expr.func}")
            self._source = expr.source.name
            for part in (expr.where, expr.body):
                if part is not None:
                    self._check(part, expr.var)
            if self._pre_reducible(expr):
                self.pre[id(expr)] = expr
            else:
                self.in_place.append(expr)
            return
        raise Unsupported(type(expr).__name__)

    def _pre_reducible(self, agg: nodes.Aggregate) -> bool:
        plan = self.plan
        ok = True

        def walk(e: nodes.Expr) -> None:
            nonlocal ok
            if isinstance(e, nodes.Var):
                if e.name != agg.var and e.name not in plan.inputs and e.name not in plan.params \
                        and e.name not in plan.tables:
                    ok = False
            for child in nodes.sub_exprs(e):
                walk(child)

        for sub in (agg.where, agg.body):
            if sub is not None:
                walk(sub)
        return ok

    # ------------------------------------------------------------------ items, chunk by chunk

    def new_partials(self, size: int) -> dict[int, AggPartial]:
        return {key: AggPartial() for key in self.pre}

    def reduce_items(self, columns: Columns, list_name: str, items: ItemTable,
                     partials: dict[int, AggPartial]) -> None:
        """Fold one chunk of items of ``list_name`` into the pre-reduced aggregates."""
        for key, agg in self.pre.items():
            assert isinstance(agg.source, nodes.Var)
            if agg.source.name == list_name:
                ev = _Eval(self, columns, {}, trace=False)
                fold(ev, agg, items, partials[key])

    # ------------------------------------------------------------------ run

    def run(self, columns: Columns, partials: dict[int, AggPartial] | None = None,
            trace: bool = False) -> ColumnarRun:
        """Evaluate every step over ``columns``; aggregates use ``partials`` when given."""
        if partials is None:
            partials = self.new_partials(columns.size)
            for name, items in columns.lists.items():
                self.reduce_items(columns, name, items, partials)
        elif self.in_place and any(
                isinstance(a.source, nodes.Var) and a.source.name not in columns.lists for a in self.in_place):
            raise Unsupported("aggregates that read lets need the whole item table")
        return run_plan(_Eval(self, columns, partials, trace))


def readable(decl: nodes.InputDecl) -> bool:
    """Whether the columns hold this input: not a date, not optional."""
    if decl.missing == "optional":
        return False
    return not (isinstance(decl.type, nodes.ScalarType) and decl.type.name == "date")


def compile_columnar(plan: Plan) -> ColumnarProgram | None:
    """The columnar program of ``plan``, or None when the plan needs record-by-record evaluation."""
    try:
        return ColumnarProgram(plan)
    except Unsupported:
        return None
