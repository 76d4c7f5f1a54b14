"""The hypothesis strategy for generated provinces (JSON form), shared by the province tests.

:func:`provinces` draws agencies with divisions, heads, deputies and staff, up to four quarters,
leave (no record), insufficient data (no task), disqualifiers and leaders' ability levels. Two mixes:

- the default, for period results (tests/test_province_batch.py and the tests that import it
  from there): scores spread over 0..5 in quarters, some out of range (rejected), task delays;
- ``quota=True``, for years and quota (tests/test_year_columns.py, tests/test_year_lines.py):
  few distinct scores and tie-breakers (ties at the quota's cut), the 25% exception flag on
  every member of a unit or on some only, overrides; ``customs=True`` adds the Customs
  variant's flag, tie-breaker and ``key_task_late``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

#: Product codes of the sample catalogue.
PRODUCTS = ("VB-HC", "BC-DK", "DA")
#: A valid override of a period's level.
OVERRIDE = {"level": "complete", "decided_by": "Giám đốc Sở", "decided_on": "2026-07-10",
            "clause": "Điều 20", "reason": "bất khả kháng"}


@st.composite
def provinces(draw: st.DrawFn, *, quota: bool = False, customs: bool = False) -> dict[str, Any]:
    """A small generated province (see the module docstring for the two mixes)."""
    units: list[dict[str, Any]] = []
    people: list[dict[str, Any]] = []
    for a in range(draw(st.integers(1, 2))):
        units.append({"id": f"a{a}", "name": f"Agency {a}", "parent": None, "kind": "department"})
        for d in range(draw(st.integers(0, 2))):
            units.append({"id": f"a{a}.d{d}", "name": f"Division {a}.{d}", "parent": f"a{a}", "kind": "division"})
    flag = "special_unit" if customs else "outstanding_unit"
    tie_breaker = "late_reports" if customs else "seniority"
    for unit in units:
        # every member flagged (the exception applies), some (a note), or none
        flagging = draw(st.sampled_from(["all", "some", "none", "none"])) if quota else "none"
        roles = ["head"] * draw(st.integers(0, 1)) + ["deputy"] * draw(st.integers(0, 1)) \
            + ["staff"] * draw(st.integers(1, 12 if quota else 6))
        for role in roles:
            person: dict[str, Any] = {"id": f"p{len(people):03d}", "name": f"Person {len(people)}",
                                      "unit": unit["id"], "role": role,
                                      "task_group": "lanh_dao" if role != "staff" else draw(st.sampled_from(["a", "b"]))}
            if role == "staff":
                person["field"] = draw(st.sampled_from(["x", "y"]))
            if role == "deputy":
                person["fields"] = ["x"]
            if flagging == "all" or (flagging == "some" and draw(st.booleans())):
                person[flag] = True
            if draw(st.booleans()):
                person[tie_breaker] = draw(st.integers(1, 2 if quota else 30))  # quota: ties too
            people.append(person)
    quarters = [f"2026-Q{q}" for q in range(1, draw(st.integers(1, 4)) + 1)]
    # quota: few distinct scores, so equal totals and ties at the quota's cut
    points = st.sampled_from([Decimal(5), Decimal("4.5"), Decimal(4), Decimal("2.5")] if quota
                             else [Decimal(x) / 4 for x in range(0, 21)])
    records: list[dict[str, Any]] = []
    for quarter in quarters:
        for person in people:
            if draw(st.integers(0, 9)) == 0:
                continue  # on leave
            inputs: dict[str, Any] = {
                "general_i1": draw(points), "general_i2": draw(points),
                "general_ii1": draw(points) / 2, "general_ii2": draw(points) / 2,
                "general_ii3": draw(points) / 2, "general_ii4": draw(points) / 2,
                "general_iii": draw(points) * 2,
            }
            if not quota and draw(st.integers(0, 14)) == 0:
                inputs["general_i1"] = Decimal(6)  # out of range: rejected
            if draw(st.integers(0, 14 if quota else 19)) == 0:
                inputs["discipline"] = "reprimand"  # a disqualifier fired in this quarter
            if customs and person["role"] == "staff" and draw(st.integers(0, 5)) == 0:
                inputs["key_task_late"] = True
            inputs["tasks"] = [_task(draw, quota) for _ in range(draw(st.integers(0, 3 if quota else 4)))]
            if person["role"] != "staff" and draw(st.booleans()):
                inputs["org_ability_level"] = draw(st.sampled_from(["shortcomings", "achieved"]))
            record: dict[str, Any] = {"subject": person["id"], "period": quarter, "inputs": inputs}
            if quota and draw(st.integers(0, 19)) == 0:
                record["override"] = dict(OVERRIDE)
            records.append(record)
        for unit in units:
            if draw(st.integers(0, 4)) == 0:
                continue
            assigned = draw(st.integers(0, 20))
            record = {"subject": unit["id"], "period": quarter, "inputs": {
                "general_compliance": draw(points) * 3 / 2, "general_discipline": Decimal(7),
                "general_head": Decimal(6), "general_culture": Decimal("7.5"),
                "tasks_assigned": assigned,
                "tasks_done": draw(st.sampled_from([assigned, max(0, assigned - 1)]) if quota
                                   else st.integers(0, assigned)),
                "tasks_exceeded": draw(st.integers(0, 5)), "tasks_late": draw(st.integers(0, 2)),
                "shortcomings_remedied": draw(st.integers(0, 5)) > 0}}
            if quota and draw(st.integers(0, 9)) == 0:
                record["override"] = dict(OVERRIDE)
            records.append(record)
    return {"province": {"id": "gen", "name": "Generated"}, "units": units, "people": people, "records": records}


def _task(draw: st.DrawFn, quota: bool) -> dict[str, Any]:
    """One task item; quota: mostly completed (close scores); else any completion, sometimes delays."""
    if quota:
        assigned = draw(st.integers(1, 4))
        return {"product": draw(st.sampled_from(PRODUCTS)), "assigned": assigned,
                "completed": draw(st.sampled_from([assigned, assigned, max(0, assigned - 1)]))}
    assigned = draw(st.integers(0, 6))
    task = {"product": draw(st.sampled_from(PRODUCTS)), "assigned": assigned,
            "completed": draw(st.integers(0, assigned + 1))}
    if draw(st.booleans()):
        task["delays"] = draw(st.integers(0, 2))
    return task
