#!/usr/bin/env python3
"""Write the synthetic province of the README's main example (docs/province-example.md).

Output: ``province.json`` (units, people, one record per subject and quarter of 2026, in the
province data format of docs/decree-design.md) and ``catalogue.yaml`` (the converted product
catalogue the records refer to), both in ``--out`` (default: beside this script). The bundle
beside it (``bundle.yaml``: the national rule sets with this catalogue) is written by hand.

Everything is drawn from ``random.Random(seed)``: the same seed writes the same bytes, so the
committed files are checked by regenerating them (tests/test_province_example.py). Standard
library only; it imports nothing from kpi_rules.

    python3 examples/province/generate.py                  # the committed example
    python3 examples/province/generate.py --seed 7 --people 500 --out /tmp/prov
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

DEFAULT_SEED = 335_2025
DEFAULT_PEOPLE = 300
YEAR = 2026
QUARTERS = ("Q1", "Q2", "Q3", "Q4")
QUARTER_END = {"Q1": "03-31", "Q2": "06-30", "Q3": "09-30", "Q4": "12-31"}
HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- the catalogue
# One converted catalogue for the province (Kế hoạch Gia Lai, mục IV.2): the standard unit is an
# ordinary administrative document (coefficient 1); complexity groups 1..5 per job position.


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    position: str  # the job position of the catalogue entry
    group: str  # its complexity group (the coefficient is the group's points / 100 unless written)
    coefficient: str | None  # exact decimal text, when it differs from the group's
    makers: tuple[str, ...]  # the job positions of the people who are assigned it
    #: (low, high) quantity assigned to one person in one quarter
    quarterly: tuple[int, int]


#: Job positions of the catalogue: id, label, complexity groups (id, label, points).
CATALOGUE_POSITIONS: tuple[tuple[str, str, tuple[tuple[str, str, int], ...]], ...] = (
    ("chuyen_vien", "Chuyên viên và tương đương (tham mưu, tổng hợp)", (
        ("N1", "Đơn giản", 100), ("N2", "Trung bình", 200), ("N3", "Khá phức tạp", 300),
        ("N4", "Phức tạp", 400), ("N5", "Rất phức tạp", 500))),
    ("mot_cua", "Công chức tiếp nhận, giải quyết thủ tục hành chính", (
        ("N1", "Hồ sơ đơn giản", 50), ("N2", "Hồ sơ phải thẩm định", 200))),
    ("van_thu", "Văn thư, lưu trữ, hành chính", (("N1", "Nghiệp vụ thường xuyên", 100),)),
)

PRODUCTS: tuple[Product, ...] = (
    Product("VB-HC", "Văn bản hành chính thông thường (công văn, thông báo, giấy mời)", "chuyen_vien", "N1", None,
            ("tham_muu", "tong_hop", "mot_cua", "ho_tro"), (12, 30)),
    Product("HS-TTHC", "Hồ sơ thủ tục hành chính được giải quyết", "mot_cua", "N1", None,
            ("mot_cua",), (30, 90)),
    Product("HS-TTHC-TD", "Hồ sơ thủ tục hành chính phải thẩm định, kiểm tra thực địa", "mot_cua", "N2", None,
            ("mot_cua",), (3, 10)),
    Product("VT-LT", "Lô 50 văn bản đến, đi được xử lý, vào sổ, lưu trữ", "van_thu", "N1", None,
            ("ho_tro",), (8, 20)),
    Product("TD-HS", "Văn bản thẩm định, cho ý kiến chuyên môn", "chuyen_vien", "N2", None,
            ("tham_muu",), (3, 10)),
    Product("KH-TT", "Kế hoạch, tờ trình, dự thảo quyết định cá biệt", "chuyen_vien", "N3", None,
            ("tham_muu", "tong_hop"), (2, 6)),
    Product("BC-DK", "Báo cáo định kỳ (tháng, quý)", "chuyen_vien", "N4", None,
            ("tham_muu", "tong_hop", "ho_tro"), (1, 4)),
    Product("KT-GS", "Cuộc kiểm tra, giám sát, khảo sát thực tế (có báo cáo kết quả)", "chuyen_vien", "N5", None,
            ("tham_muu",), (1, 3)),
    Product("BC-CD", "Báo cáo chuyên đề, sơ kết, tổng kết", "chuyen_vien", "N5", "6",
            ("tham_muu", "tong_hop"), (1, 2)),
    Product("DA", "Đề án, dự thảo văn bản quy phạm pháp luật", "chuyen_vien", "N5", "10",
            ("tham_muu",), (1, 1)),
)
#: The catalogue inlined in criteria/nd335/individual.kpi (used with --inline-catalogue).
INLINE_CODES = ("VB-HC", "BC-DK", "DA")

#: Job positions of staff (what they are assigned), by the catalogue position they mostly work in.
POSITIONS = {
    "tham_muu": "Chuyên viên tham mưu chuyên ngành",
    "tong_hop": "Chuyên viên tổng hợp",
    "mot_cua": "Công chức tiếp nhận, giải quyết thủ tục hành chính",
    "ho_tro": "Văn thư, kế toán, hành chính",
}

# --------------------------------------------------------------------------- the organisation
# (id, name, kind, fields of the unit, staff weight, positions of its staff (weights))

Division = tuple[str, str, str, tuple[str, ...], int, dict[str, int]]
TOP_UNITS: tuple[tuple[str, str, str, tuple[Division, ...]], ...] = (
    ("snv", "Sở Nội vụ", "department", (
        ("vp", "Văn phòng Sở", "division", ("tong_hop", "hanh_chinh"), 3, {"tong_hop": 3, "ho_tro": 2}),
        ("tcbc", "Phòng Tổ chức, biên chế và Tổ chức phi chính phủ", "division",
         ("to_chuc_bo_may", "bien_che", "hoi_phi_chinh_phu"), 4, {"tham_muu": 1}),
        ("ccvc", "Phòng Công chức, viên chức", "division", ("cong_chuc", "vien_chuc", "dao_tao"), 4, {"tham_muu": 1}),
        ("btdkt", "Ban Thi đua - Khen thưởng", "subdepartment", ("thi_dua", "khen_thuong"), 3,
         {"tham_muu": 3, "ho_tro": 1}),
    )),
    ("stc", "Sở Tài chính", "department", (
        ("vp", "Văn phòng Sở", "division", ("tong_hop", "hanh_chinh"), 3, {"tong_hop": 3, "ho_tro": 2}),
        ("ns", "Phòng Quản lý ngân sách", "division", ("du_toan", "quyet_toan"), 4, {"tham_muu": 1}),
        ("dt", "Phòng Quản lý đầu tư", "division", ("dau_tu_cong", "von_oda"), 4, {"tham_muu": 1}),
        ("dkkd", "Phòng Đăng ký kinh doanh", "division", ("dang_ky_kinh_doanh", "hop_tac_xa"), 3,
         {"mot_cua": 2, "tham_muu": 1}),
    )),
    ("syt", "Sở Y tế", "department", (
        ("vp", "Văn phòng Sở", "division", ("tong_hop", "hanh_chinh"), 2, {"tong_hop": 3, "ho_tro": 2}),
        ("nvy", "Phòng Nghiệp vụ Y - Dược", "division", ("kham_chua_benh", "duoc"), 4, {"tham_muu": 1}),
        ("ds", "Chi cục Dân số", "subdepartment", ("dan_so", "tre_em"), 3, {"tham_muu": 1}),
    )),
    ("snnmt", "Sở Nông nghiệp và Môi trường", "department", (
        ("vp", "Văn phòng Sở", "division", ("tong_hop", "hanh_chinh"), 2, {"tong_hop": 3, "ho_tro": 2}),
        ("kl", "Chi cục Kiểm lâm", "subdepartment", ("bao_ve_rung", "phong_chay_rung"), 4, {"tham_muu": 1}),
        ("dd", "Phòng Đất đai", "division", ("dat_dai", "do_dac"), 4, {"tham_muu": 3, "mot_cua": 1}),
    )),
    ("pleiku", "Ủy ban nhân dân phường Pleiku", "commune", (
        ("vp", "Văn phòng Hội đồng nhân dân và Ủy ban nhân dân", "commune_division",
         ("tong_hop", "mot_cua", "hanh_chinh"), 4, {"tong_hop": 2, "mot_cua": 3, "ho_tro": 1}),
        ("kthtdt", "Phòng Kinh tế, Hạ tầng và Đô thị", "commune_division",
         ("kinh_te", "xay_dung", "dat_dai"), 4, {"tham_muu": 3, "mot_cua": 1}),
        ("vhxh", "Phòng Văn hóa - Xã hội", "commune_division", ("van_hoa", "giao_duc", "y_te"), 3, {"tham_muu": 1}),
    )),
    ("quynhon", "Ủy ban nhân dân phường Quy Nhơn", "commune", (
        ("vp", "Văn phòng Hội đồng nhân dân và Ủy ban nhân dân", "commune_division",
         ("tong_hop", "mot_cua", "hanh_chinh"), 4, {"tong_hop": 2, "mot_cua": 3, "ho_tro": 1}),
        ("kthtdt", "Phòng Kinh tế, Hạ tầng và Đô thị", "commune_division",
         ("kinh_te", "xay_dung", "dat_dai"), 4, {"tham_muu": 3, "mot_cua": 1}),
        ("vhxh", "Phòng Văn hóa - Xã hội", "commune_division", ("van_hoa", "giao_duc", "y_te"), 3, {"tham_muu": 1}),
    )),
    ("iagrai", "Ủy ban nhân dân xã Ia Grai", "commune", (
        ("vp", "Văn phòng Hội đồng nhân dân và Ủy ban nhân dân", "commune_division",
         ("tong_hop", "mot_cua"), 3, {"tong_hop": 2, "mot_cua": 2, "ho_tro": 1}),
        ("kt", "Phòng Kinh tế", "commune_division", ("nong_nghiep", "dat_dai"), 3, {"tham_muu": 1}),
        ("vhxh", "Phòng Văn hóa - Xã hội", "commune_division", ("van_hoa", "dan_toc"), 2, {"tham_muu": 1}),
    )),
    ("kbang", "Ủy ban nhân dân xã Kbang", "commune", (
        ("vp", "Văn phòng Hội đồng nhân dân và Ủy ban nhân dân", "commune_division",
         ("tong_hop", "mot_cua"), 3, {"tong_hop": 2, "mot_cua": 2, "ho_tro": 1}),
        ("kt", "Phòng Kinh tế", "commune_division", ("nong_nghiep", "lam_nghiep"), 3, {"tham_muu": 1}),
    )),
)

#: Quota groups (Điều 20 khoản 5: "nhóm công chức có nhiệm vụ tương đồng"): professional posts
#: and support posts are separate groups; leaders form their own group.
TASK_GROUP = {"tham_muu": "chuyen_mon", "tong_hop": "chuyen_mon", "mot_cua": "chuyen_mon", "ho_tro": "ho_tro"}
LEADER_GROUP = "lanh_dao"

# --------------------------------------------------------------------------- names

HO = (("Nguyễn", 38), ("Trần", 11), ("Lê", 9), ("Phạm", 7), ("Huỳnh", 4), ("Hoàng", 3), ("Võ", 4),
      ("Phan", 4), ("Vũ", 2), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 2), ("Hồ", 2), ("Ngô", 2), ("Dương", 1),
      ("Lý", 1), ("Đinh", 2), ("Trương", 1), ("Lương", 1), ("Mai", 1))
DEM_NAM = ("Văn", "Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Thành", "Xuân", "Ngọc", "Anh", "Trọng", "Đình")
DEM_NU = ("Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Kim", "Minh", "Hồng", "Phương", "Mỹ", "Bích")
TEN_NAM = ("An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hòa", "Hùng", "Huy", "Khánh", "Khoa",
           "Lâm", "Long", "Lộc", "Minh", "Nam", "Nhân", "Phong", "Phúc", "Quân", "Quang", "Sơn", "Tài",
           "Tâm", "Thắng", "Thịnh", "Toàn", "Trung", "Tuấn", "Tùng", "Việt", "Vinh", "Vũ")
TEN_NU = ("Anh", "Chi", "Dung", "Duyên", "Giang", "Hà", "Hạnh", "Hằng", "Hiền", "Hoa", "Hương", "Lan",
          "Liên", "Linh", "Loan", "Mai", "Nga", "Ngân", "Nhung", "Oanh", "Phương", "Quỳnh", "Thảo",
          "Thủy", "Trang", "Tuyết", "Uyên", "Vân", "Xuân", "Yến")
# Jrai and Bahnar names of the Central Highlands (họ + tên; no tên đệm)
HO_TAY_NGUYEN = ("Ksor", "Siu", "Rơ Châm", "Rơ Mah", "Kpă", "Nay", "Rah Lan", "Puih", "Đinh")
TEN_TAY_NGUYEN_NAM = ("Blum", "Phun", "Thuăn", "Yuh", "Đoan", "Khiêm", "Nhứt", "Sang", "Djuang")
TEN_TAY_NGUYEN_NU = ("H'Bia", "Nhi", "H'Lan", "Thu", "Brếp", "H'Yim", "Hlơng", "Ngơn")


def person_name(rng: random.Random, female: bool, highlands: bool) -> str:
    if highlands:
        ho = rng.choice(HO_TAY_NGUYEN)
        return f"{ho} {rng.choice(TEN_TAY_NGUYEN_NU if female else TEN_TAY_NGUYEN_NAM)}"
    ho = rng.choices([h for h, _ in HO], weights=[w for _, w in HO])[0]
    dem = rng.choice(DEM_NU if female else DEM_NAM)
    ten = rng.choice(TEN_NU if female else TEN_NAM)
    return f"{ho} {dem} {ten}"


# --------------------------------------------------------------------------- the model


@dataclass
class Person:
    id: str
    name: str
    unit: str
    role: str  # staff | deputy | head
    female: bool
    task_group: str
    position: str  # what they are assigned (a key of POSITIONS); leaders: LEADER_GROUP
    field: str | None = None  # staff
    fields: tuple[str, ...] = ()  # deputies
    seniority: int = 0  # years of service
    tier: str = "solid"  # latent performance: star, solid, fair, weak
    #: special cases: quarter -> what happens
    events: dict[str, str] = dc_field(default_factory=dict)


@dataclass
class Unit:
    id: str
    name: str
    parent: str | None
    kind: str
    fields: tuple[str, ...]
    staff_weight: int = 0
    positions: dict[str, int] = dc_field(default_factory=dict)


def build_units() -> list[Unit]:
    units: list[Unit] = []
    for top_id, top_name, kind, divisions in TOP_UNITS:
        all_fields = tuple(f for d in divisions for f in d[3])
        units.append(Unit(top_id, top_name, None, kind, all_fields))
        for div_id, div_name, div_kind, fields, weight, positions in divisions:
            units.append(Unit(f"{top_id}.{div_id}", div_name, top_id, div_kind, fields, weight, positions))
    return units


def apportion(total: int, weights: Sequence[int], minimum: int) -> list[int]:
    """Split ``total`` by ``weights`` (largest remainder), each share at least ``minimum``."""
    base = [minimum] * len(weights)
    rest = total - minimum * len(weights)
    if rest < 0:
        raise SystemExit(f"--people is too small: the leaders and {minimum} staff in each of "
                         f"{len(weights)} divisions need {total - rest} more people")
    whole = sum(weights)
    shares = [rest * w / whole for w in weights]
    counts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in order[: rest - sum(counts)]:
        counts[i] += 1
    return [b + c for b, c in zip(base, counts)]


TIERS = (("star", 14), ("solid", 66), ("fair", 15), ("weak", 5))


def build_people(rng: random.Random, units: list[Unit], total: int) -> list[Person]:
    divisions = [u for u in units if u.parent is not None]
    deputies_of = {u.id: (2 if u.parent is None else rng.choice((1, 1, 2))) for u in units}
    leaders = len(units) + sum(deputies_of.values())
    staff_counts = dict(zip((d.id for d in divisions),
                            apportion(total - leaders, [d.staff_weight for d in divisions], 3)))
    people: list[Person] = []
    width = max(3, len(str(total)))

    def new(unit: Unit, role: str, position: str, task_group: str) -> Person:
        female = rng.random() < (0.45 if role == "staff" else 0.3)
        # Jrai and Bahnar names: many in the two Highland communes, a few elsewhere
        highlands = (unit.id.split(".")[0] in ("iagrai", "kbang") and rng.random() < 0.35) or rng.random() < 0.04
        tier = rng.choices([t for t, _ in TIERS], weights=[w for _, w in TIERS])[0]
        if role != "staff" and tier == "weak":
            tier = "fair"
        seniority = rng.randint(10, 30) if role != "staff" else rng.randint(1, 28)
        p = Person(f"p{len(people) + 1:0{width}d}", person_name(rng, female, highlands), unit.id, role, female,
                   task_group, position, seniority=seniority, tier=tier)
        people.append(p)
        return p

    for unit in units:
        new(unit, "head", LEADER_GROUP, LEADER_GROUP)
        # each deputy takes a share of the unit's fields; the head keeps the rest
        fields = list(unit.fields)
        rng.shuffle(fields)
        n = deputies_of[unit.id]
        per = max(1, len(fields) // (n + 1)) if n == 1 else max(1, len(fields) // n)
        for k in range(n):
            d = new(unit, "deputy", LEADER_GROUP, LEADER_GROUP)
            d.fields = tuple(sorted(fields[k * per:(k + 1) * per] or fields[-1:]))
        if unit.parent is None:
            continue
        positions = sorted(unit.positions)
        for _ in range(staff_counts[unit.id]):
            position = rng.choices(positions, weights=[unit.positions[p] for p in positions])[0]
            s = new(unit, "staff", position, TASK_GROUP[position])
            s.field = position if position in unit.fields else rng.choice(unit.fields)
    return people


# --------------------------------------------------------------------------- one quarter

#: per tier: general-criteria quality (mean, spread) as a fraction of each maximum,
#: share of assigned work completed, chance of a failed review / a delay per task line
PROFILE = {
    "star": (0.94, 0.04, (0.97, 1.0), 0.05, 0.05),
    "solid": (0.77, 0.06, (0.76, 0.94), 0.35, 0.45),
    "fair": (0.68, 0.07, (0.60, 0.85), 0.55, 0.70),
    "weak": (0.56, 0.07, (0.35, 0.65), 0.80, 1.00),
}
GENERAL = (("general_i1", 5), ("general_i2", 5), ("general_ii1", 2.5), ("general_ii2", 2.5),
           ("general_ii3", 2.5), ("general_ii4", 2.5), ("general_iii", 10))
TIER_ORDER = ("weak", "fair", "solid", "star")


def quarter_tier(rng: random.Random, tier: str) -> str:
    """A person's quarter usually follows their tier; one in six drifts one step."""
    i = TIER_ORDER.index(tier)
    roll = rng.random()
    if roll < 0.08 and i > 0:
        return TIER_ORDER[i - 1]
    if roll > 0.92 and i < len(TIER_ORDER) - 1:
        return TIER_ORDER[i + 1]
    return tier


def quarter_points(value: float) -> float | int:
    """Round to the 0.25 steps of the evaluation form; whole numbers are written as integers."""
    q = round(value * 4) / 4
    return int(q) if q == int(q) else q


def general_points(rng: random.Random, tier: str) -> dict[str, float | int]:
    mean, spread = PROFILE[tier][:2]
    out: dict[str, float | int] = {}
    for name, top in GENERAL:
        out[name] = quarter_points(min(top, max(0.0, rng.gauss(mean, spread) * top)))
    return out


def task_items(rng: random.Random, person: Person, tier: str, products: Sequence[Product]) -> list[dict[str, object]]:
    _, _, (done_lo, done_hi), p_fail, p_delay = PROFILE[tier]
    position = person.position if person.position in POSITIONS else "tham_muu"
    own = [p for p in products if position in p.makers] or list(products)
    lines = rng.sample(own, k=min(len(own), rng.randint(2, 4)))
    items: list[dict[str, object]] = []
    for product in sorted(lines, key=lambda p: p.code):
        low, high = product.quarterly
        assigned = rng.randint(low, high)
        share = rng.uniform(done_lo, done_hi)
        if product.group in ("N4", "N5"):  # the big items are planned for: rarely left undone
            share = (3 + share) / 4
        expected = assigned * share  # rounded up or down at random, by its fraction
        completed = min(assigned, int(expected) + (rng.random() < expected - int(expected)))
        item: dict[str, object] = {"product": product.code, "assigned": assigned, "completed": completed}
        fails = sum(rng.random() < p_fail for _ in range(1 + assigned // 10))
        delays = sum(rng.random() < p_delay for _ in range(1 + assigned // 10))
        if fails and completed:
            item["failed_reviews"] = min(fails, completed)
        if delays and completed:
            item["delays"] = min(delays, completed)
        items.append(item)
    return items


def person_record(rng: random.Random, person: Person, quarter: str, products: Sequence[Product]) -> dict[str, object] | None:
    event = person.events.get(quarter)
    if event == "leave":
        return None
    tier = quarter_tier(rng, person.tier)
    inputs: dict[str, object] = dict(general_points(rng, tier))
    inputs["tasks"] = [] if event == "nothing_assigned" else task_items(rng, person, tier, products)
    if "ideology" in _events_until(person, quarter):
        inputs["ideology_violation"] = True
    if "reprimand" in _events_until(person, quarter):
        inputs["discipline"] = "reprimand"
    inputs.update(leader_inputs(rng, person, tier))
    return {"subject": person.id, "period": f"{YEAR}-{quarter}", "on": f"{YEAR}-{QUARTER_END[quarter]}",
            "inputs": inputs}


def _events_until(person: Person, quarter: str) -> set[str]:
    """Disciplinary measures and conclusions hold from their quarter to the end of the year."""
    upto = QUARTERS[: QUARTERS.index(quarter) + 1]
    return {person.events[q] for q in upto if q in person.events}


def leader_inputs(rng: random.Random, person: Person, tier: str) -> dict[str, object]:
    """Components đ and e of a head or deputy (Điều 15 khoản 3): achieved/united unless the quarter
    showed shortcomings or prolonged delays (đ) or complaints of disunity (e)."""
    if person.role == "staff":
        return {}
    shortcomings = {"star": 0.0, "solid": 0.06, "fair": 0.25, "weak": 0.5}[tier]
    disunity = {"star": 0.0, "solid": 0.02, "fair": 0.08, "weak": 0.2}[tier]
    return {
        "org_ability_level": "shortcomings" if rng.random() < shortcomings else "achieved",
        "unity_level": "disunity" if rng.random() < disunity else "united",
    }


#: Units: general quality (mean share of each maximum), share of the plan's tasks exceeded,
#: chance of a late task / a task below quality / an unfinished task, per task.
UNIT_PROFILE = {
    "star": (0.95, (0.30, 0.45), 0.0, 0.0, 0.0),
    "solid": (0.86, (0.05, 0.28), 0.006, 0.003, 0.0),
    "fair": (0.76, (0.0, 0.15), 0.06, 0.02, 0.01),
}
UNIT_TIERS = (("star", 20), ("solid", 65), ("fair", 15))
UNIT_GENERAL = ("general_compliance", "general_discipline", "general_head", "general_culture")


def unit_record(rng: random.Random, unit: Unit, tier: str, quarter: str) -> dict[str, object]:
    """The organisation's quarter (criteria/nd335/organisation.kpi): general criteria and the
    tasks of its work programme."""
    mean, (ex_lo, ex_hi), p_late, p_poor, p_undone = UNIT_PROFILE[tier]
    inputs: dict[str, object] = {
        name: quarter_points(min(7.5, max(0.0, rng.gauss(mean, 0.04) * 7.5))) for name in UNIT_GENERAL
    }
    assigned = rng.randint(18, 36) if unit.parent is None else rng.randint(8, 20)
    undone = sum(rng.random() < p_undone for _ in range(assigned))
    done = assigned - undone
    late = sum(rng.random() < p_late for _ in range(done))
    poor = sum(rng.random() < p_poor for _ in range(done))
    exceeded = round(done * rng.uniform(ex_lo, ex_hi))
    inputs.update({"tasks_assigned": assigned, "tasks_done": done})
    if late:
        inputs["tasks_late"] = late
    if poor:
        inputs["tasks_below_quality"] = poor
    inputs["tasks_exceeded"] = exceeded
    return {"subject": unit.id, "period": f"{YEAR}-{quarter}", "on": f"{YEAR}-{QUARTER_END[quarter]}",
            "inputs": inputs}


# --------------------------------------------------------------------------- special cases


def assign_events(rng: random.Random, people: list[Person]) -> dict[str, str]:
    """Pick the people of the special cases; returns a short description per person id."""
    staff = [p for p in people if p.role == "staff"]
    picked: set[str] = set()

    def pick(candidates: Sequence[Person]) -> Person:
        pool = [p for p in candidates if p.id not in picked]
        chosen = rng.choice(pool)
        picked.add(chosen.id)
        return chosen

    notes: dict[str, str] = {}
    mother = pick([p for p in staff if p.female and p.tier in ("solid", "star")])
    mother.events.update({"Q3": "leave", "Q4": "leave"})
    notes[mother.id] = "maternity leave from July: no records for Q3 and Q4; the year is rated on Q1-Q2"
    newcomer = pick(staff)
    newcomer.events["Q1"] = "nothing_assigned"
    newcomer.seniority = 0
    notes[newcomer.id] = "recruited in March: nothing assigned in Q1 (insufficient data)"
    for quarter in ("Q2", "Q4"):
        p = pick([s for s in staff if s.tier in ("solid", "fair")])
        p.events[quarter] = "reprimand"
        notes[p.id] = f"disciplined (reprimand) in {quarter}"
    p = pick([d for d in people if d.role == "deputy"])
    p.events["Q3"] = "ideology"
    notes[p.id] = "concluded to show moral degradation in Q3"
    return notes


#: The force-majeure case (Kế hoạch tỉnh Gia Lai, mục III.3.d): the November floods kept a commune
#: from most of its Q4 programme; the Provincial Chairman, who recognises commune ratings (mục III.1.a),
#: decides the quarter's level.
FLOOD_UNIT, FLOOD_QUARTER = "kbang", "Q4"
FORCE_MAJEURE = {
    "level": "complete",
    "decided_by": "Chủ tịch Ủy ban nhân dân tỉnh Gia Lai",
    "decided_on": f"{YEAR}-12-22",
    "clause": "Kế hoạch tỉnh Gia Lai, mục III.3.d (Nghị định 335/2025/NĐ-CP): không hoàn thành nhiệm vụ do nguyên nhân bất khả kháng",
    "reason": "Lũ lụt tháng 11/2026 gây thiệt hại nặng trên địa bàn xã; toàn bộ lực lượng được huy động ứng phó, "
              "khắc phục hậu quả nên nhiều nhiệm vụ theo kế hoạch quý IV không thể hoàn thành",
}
#: A unit whose earlier inspection findings are not yet remedied in Q1-Q2 (no excellent then).
UNREMEDIED_UNIT, UNREMEDIED_QUARTERS = "stc.dt", ("Q1", "Q2")


def flood_quarter(rng: random.Random, record: dict[str, object]) -> None:
    inputs = record["inputs"]
    assert isinstance(inputs, dict)
    assigned = inputs["tasks_assigned"]
    assert isinstance(assigned, int)
    done = round(assigned * rng.uniform(0.55, 0.65))
    inputs.update({"tasks_done": done, "tasks_late": done // 2, "tasks_exceeded": 0})
    record["override"] = FORCE_MAJEURE


# --------------------------------------------------------------------------- output


def generate(seed: int = DEFAULT_SEED, people_count: int = DEFAULT_PEOPLE,
             inline_catalogue: bool = False) -> tuple[dict[str, object], dict[str, str]]:
    """The province data, and a note per person of a special case (printed, not written)."""
    rng = random.Random(seed)
    products = [p for p in PRODUCTS if p.code in INLINE_CODES] if inline_catalogue else list(PRODUCTS)
    if inline_catalogue:
        products = [Product(p.code, p.name, p.position, p.group, p.coefficient,
                            tuple(POSITIONS), p.quarterly) for p in products]
    units = build_units()
    people = build_people(rng, units, people_count)
    notes = assign_events(rng, people)
    unit_tier = {u.id: rng.choices([t for t, _ in UNIT_TIERS], weights=[w for _, w in UNIT_TIERS])[0] for u in units}
    notes[FLOOD_UNIT] = f"{FLOOD_QUARTER}: floods, under 70% of the plan done; force-majeure override to complete"
    notes[UNREMEDIED_UNIT] = f"{', '.join(UNREMEDIED_QUARTERS)}: inspection findings not yet remedied"
    records: list[dict[str, object]] = []
    for quarter in QUARTERS:
        for person in people:
            record = person_record(rng, person, quarter, products)
            if record is None:
                continue
            records.append(record)
        for unit in units:
            record = unit_record(rng, unit, unit_tier[unit.id], quarter)
            if (unit.id, quarter) == (FLOOD_UNIT, FLOOD_QUARTER):
                flood_quarter(rng, record)
            if unit.id == UNREMEDIED_UNIT and quarter in UNREMEDIED_QUARTERS:
                record["inputs"]["shortcomings_remedied"] = False  # type: ignore[index]
            records.append(record)
    data: dict[str, object] = {
        "province": {"id": "gl-synth", "name": "Tỉnh Gia Lai (dữ liệu mô phỏng)"},
        "units": [{"id": u.id, "name": u.name, "parent": u.parent, "kind": u.kind} for u in units],
        "people": [person_json(p) for p in people],
        "records": records,
    }
    return data, notes


def person_json(p: Person) -> dict[str, object]:
    out: dict[str, object] = {"id": p.id, "name": p.name, "unit": p.unit, "role": p.role}
    if p.role == "staff":
        out["field"] = p.field
    elif p.role == "deputy":
        out["fields"] = list(p.fields)
    out["task_group"] = p.task_group
    out["seniority"] = p.seniority
    return out


def dump_json(data: dict[str, object]) -> str:
    """JSON with one unit, person or record per line: small, diffable, byte-stable."""

    def one(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))

    parts = []
    for key, value in data.items():
        if isinstance(value, list):
            body = ",\n".join("    " + one(v) for v in value)
            parts.append(f'  "{key}": [\n{body}\n  ]' if value else f'  "{key}": []')
        else:
            parts.append(f'  "{key}": {one(value)}')
    return "{\n" + ",\n".join(parts) + "\n}\n"


def dump_catalogue(products: Sequence[Product]) -> str:
    """The catalogue file (docs/catalogue.md): positions with their complexity groups, products."""

    def q(text: str) -> str:  # a JSON string is a YAML string
        return json.dumps(text, ensure_ascii=False)

    lines = [
        "# Danh mục sản phẩm/công việc quy đổi (dữ liệu mô phỏng): the converted catalogue of the",
        "# synthetic province. Written by examples/province/generate.py; do not edit by hand.",
        "catalogue: gl-synth",
        'title: {vi: "Danh mục sản phẩm/công việc quy đổi (dữ liệu mô phỏng)", en: "Converted product catalogue (synthetic)"}',
        'basis: "Nghị định 335/2025/NĐ-CP, Điều 13; Kế hoạch của UBND tỉnh Gia Lai, mục IV.2"',
        'standard_unit: {label: "Văn bản hành chính thông thường", points: 100}',
        f"valid: {{from: {YEAR}-01-01}}",
        "positions:",
    ]
    for ident, label, groups in CATALOGUE_POSITIONS:
        lines.append(f"  - id: {ident}")
        lines.append(f"    label: {q(label)}")
        lines.append("    groups:")
        for gid, glabel, points in groups:
            lines.append(f"      - {{id: {gid}, label: {q(glabel)}, points: {points}}}")
    lines.append("products:")
    for p in products:
        extra = f", coefficient: {p.coefficient}" if p.coefficient else ""
        lines.append(f"  - {{code: {p.code}, label: {q(p.name)}, position: {p.position}, group: {p.group}{extra}}}")
    return "\n".join(lines) + "\n"


def write(out: Path, seed: int, people: int, inline_catalogue: bool = False) -> tuple[list[Path], dict[str, str]]:
    out.mkdir(parents=True, exist_ok=True)
    data, notes = generate(seed, people, inline_catalogue)
    written = [out / "province.json"]
    written[0].write_text(dump_json(data), encoding="utf-8", newline="\n")
    if not inline_catalogue:
        written.append(out / "catalogue.yaml")
        written[1].write_text(dump_catalogue(PRODUCTS), encoding="utf-8", newline="\n")
    return written, notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--people", type=int, default=DEFAULT_PEOPLE, help=f"about how many people (default {DEFAULT_PEOPLE})")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: beside this script)")
    parser.add_argument("--inline-catalogue", action="store_true",
                        help="use only the catalogue inlined in individual.kpi (VB-HC, BC-DK, DA); no catalogue.yaml")
    args = parser.parse_args(argv)
    written, notes = write(args.out, args.seed, args.people, args.inline_catalogue)
    for path in written:
        print(f"wrote {path}")
    for subject, note in sorted(notes.items()):
        print(f"  {subject}: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
