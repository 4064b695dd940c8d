"""Issue 16's goals table, built from the ``RESULT {json}`` lines of bench_plan, bench_apply and bench_manifest.

    python tests/bench/issue16.py OUTPUT [OUTPUT ...]    # saved bench outputs; ``-`` reads standard input

``nox -s bench`` prints this table after the benches it ran (their output is saved in the
session's tmp folder, so the table can be printed again, or from several sessions at once: a
quick one and a ``--large`` one). Each bench ends with one line ``RESULT {"bench": NAME, ...}``;
every other line is ignored, and so is a RESULT line of another bench. When one bench appears
more than once, a later line wins for the sizes it measured.

Rows are the goals of issue 16 ("Performance at fleet scale"), columns the fleet sizes N = 100,
300 and 1,000 ("—" where that size was not measured); the apply goals, measured by bench_apply at
fixed sizes, follow in a table of their own. A goal is judged where it is stated: "met" or
"MISSED" at the size it names (N=1,000 for CPU, validate, RSS and the creating apply's time;
N=100 for wall / floor), at every measured N for per-repository counts and limit answers; "not
run" when that size was not measured (N=1,000 needs ``--large``, the 120 ms phase needs a run
without ``--quick``). It never fails on a MISSED goal: the benches print figures, the exit code
is 1 only when no RESULT line of these benches was found.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIZES = (100, 300, 1000)
BENCHES = ("plan", "apply", "manifest")
#: a larger fleet's calls per repository to create it may exceed N=100's by this share and still be "flat"
FLAT = 0.05
MET, MISSED, NOT_RUN = "met", "MISSED", "not run"


@dataclass
class Results:
    """What the RESULT lines say: per bench and size, the last figures seen."""

    plan: dict[int, dict[str, Any]] = field(default_factory=dict)
    manifest: dict[int, dict[str, Any]] = field(default_factory=dict)
    apply: dict[str, Any] | None = None
    cores: set[int] = field(default_factory=set)
    #: bench_manifest's machine reference (CPU seconds of a fixed workload), the last one seen
    reference_cpu: float | None = None
    problems: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.plan or self.manifest or self.apply)


@dataclass
class Row:
    metric: str
    values: dict[int, float]  # N -> figure (the fixed-size apply rows: key 0)
    goal: str
    verdict: str
    digits: int = 2
    note: str = ""  # where a goal was missed, or what a run needs to measure it


def _runs(data: dict[str, Any], where: str, problems: list[str]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    runs = data.get("runs")
    if not isinstance(runs, list):
        problems.append(f"{where}: a {data.get('bench')} RESULT without a list of runs")
        return out
    for run in runs:
        if isinstance(run, dict) and isinstance(run.get("repos"), int):
            out[run["repos"]] = run
        else:
            problems.append(f"{where}: a run without its number of repositories ('repos')")
    return out


def collect(texts: Iterable[tuple[str, str]]) -> Results:
    """The RESULT lines of ``texts`` (pairs of a name for messages and the output)."""
    res = Results()
    for name, text in texts:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.startswith("RESULT "):
                continue
            where = f"{name}, line {number}"
            try:
                data = json.loads(line[len("RESULT "):])
            except ValueError as exc:
                res.problems.append(f"{where}: a RESULT line that is not JSON ({exc})")
                continue
            if isinstance(data, list) and data and all(isinstance(r, dict) and "create" in r and "cold" in r for r in data):
                data = {"bench": "plan", "runs": data}  # bench_plan's RESULT before it named itself
            if not isinstance(data, dict) or data.get("bench") not in BENCHES:
                continue  # another bench's RESULT (bench_serve's)
            if isinstance(data.get("cores"), int):
                res.cores.add(data["cores"])
            if data["bench"] == "plan":
                res.plan.update(_runs(data, where, res.problems))
            elif data["bench"] == "manifest":
                res.manifest.update(_runs(data, where, res.problems))
                ref = data.get("reference_cpu")
                if isinstance(ref, (int, float)) and not isinstance(ref, bool) and ref > 0:
                    res.reference_cpu = float(ref)
            else:
                res.apply = data
    return res


# -- judging: a judge takes {N: figure} and says (verdict, a note: where it was missed, or what was not run) --
Judge = Callable[[dict[int, float]], tuple[str, str]]


def at(n: int, ok: Callable[[float], bool], missing: str) -> Judge:
    """A goal stated for one size: judged there only."""

    def judge(values: dict[int, float]) -> tuple[str, str]:
        if n not in values:
            return NOT_RUN, missing
        return (MET, "") if ok(values[n]) else (MISSED, f"at N={n:,}")

    return judge


def every(ok: Callable[[float], bool]) -> Judge:
    """A goal for every size: met when every measured size meets it."""

    def judge(values: dict[int, float]) -> tuple[str, str]:
        if not values:
            return NOT_RUN, ""
        bad = [n for n in sorted(values) if not ok(values[n])]
        return (MISSED, "at " + ", ".join(f"N={n:,}" for n in bad)) if bad else (MET, "")

    return judge


def flat_under(limit: float, share: float = FLAT) -> Judge:
    """At most ``limit`` at every size, and no larger size more than ``share`` above the smallest's."""

    def judge(values: dict[int, float]) -> tuple[str, str]:
        if not values:
            return NOT_RUN, ""
        first = min(values)
        over = [f"over {limit:g} at N={n:,}" for n in sorted(values) if values[n] > limit]
        over += [f"N={n:,} {values[n] / values[first] - 1:.0%} above N={first:,}"
                 for n in sorted(values) if values[n] > values[first] * (1 + share)]
        return (MISSED, "; ".join(over)) if over else (MET, "")

    return judge


def _pick(runs: dict[int, dict[str, Any]], get: Callable[[dict[str, Any]], float | None]) -> dict[int, float]:
    out = {}
    for n, run in runs.items():
        try:
            value = get(run)
        except (KeyError, TypeError, ZeroDivisionError):
            value = None
        if value is not None:
            out[n] = float(value)
    return out


def _most(run: dict[str, Any], phases: tuple[str, ...], key: str) -> float | None:
    got = [run[p][key] for p in phases if key in run.get(p, {})]
    return max(got) if got else None


def _total(run: dict[str, Any], phases: tuple[str, ...], key: str) -> float | None:
    got = [run[p][key] for p in phases if key in run.get(p, {})]
    return sum(got) if got else None


def _per_repo(run: dict[str, Any], phase: str) -> float:
    """REST calls per repository, unrounded when the run has its count of calls."""
    got = run[phase]
    return float(got["calls"]) / run["repos"] if "calls" in got else float(got["calls_per_repo"])


PLANS = ("cold", "warm", "cold_120ms", "warm_120ms")


def sized_rows(res: Results) -> list[Row]:
    """The goals measured at N = 100, 300 and 1,000."""
    plan, manifest = res.plan, res.manifest
    base = plan.get(100, {}).get("cold", {}).get("cpu")
    large, slow = "needs --large", "needs bench_plan without --quick"
    specs: list[tuple[str, dict[int, float], str, Judge, int]] = [
        ("gridctl CPU, cold no-change plan, latency 0 (s)", _pick(plan, lambda r: r["cold"]["cpu"]),
         "≤ 3 at N=1,000", at(1000, lambda v: v <= 3.0, large), 2),
        ("CPU(N) / CPU(100), cold no-change plan",
         _pick({n: r for n, r in plan.items() if n != 100 and base}, lambda r: r["cold"]["cpu"] / base),
         "≤ 10.5 at N=1,000", at(1000, lambda v: v <= 10.5, large), 2),
        ("gridctl validate, CPU (s)", _pick(manifest, lambda r: r["validate_cpu"]),
         "≤ 1 at N=1,000", at(1000, lambda v: v <= 1.0, large), 2),
        ("peak RSS of a no-change plan (MB)", _pick(plan, lambda r: _most(r, PLANS, "rss_mb")),
         "≤ 150 at N=1,000", at(1000, lambda v: v <= 150.0, large), 0),
        ("REST calls per repository, cold no-change plan", _pick(plan, lambda r: _per_repo(r, "cold")),
         "≤ 7.1 at every N", every(lambda v: v <= 7.1), 2),
        ("rate points of a warm no-change plan", _pick(plan, lambda r: _most(r, ("warm", "warm_120ms"), "points")),
         "0 at every N", every(lambda v: v == 0), 0),
        ("wall / floor, cold plan, 120 ms latency, P=32", _pick(plan, lambda r: r["cold_120ms"]["wall_over_floor"]),
         "≤ 1.2 at N=100", at(100, lambda v: v <= 1.2, slow), 2),
        ("secondary-limit answers, plans under GitHub's limits", _pick(plan, lambda r: _total(r, PLANS, "secondary_limited")),
         "0 at every N", every(lambda v: v == 0), 0),
        ("REST calls per repository, creating apply", _pick(plan, lambda r: _per_repo(r, "create")),
         f"≤ 55, flat in N (≤ {FLAT:.0%} over N=100's)", flat_under(55.0), 2),
        ("creating apply, wall time, latency 0 (s)", _pick(plan, lambda r: r["create"]["wall"]),
         "< 600 at N=1,000", at(1000, lambda v: v < 600.0, large), 0),
    ]
    rows = []
    for metric, values, goal, judge, digits in specs:
        verdict, note = judge(values)
        source = "manifest" if "validate" in metric else "plan"
        if verdict == NOT_RUN and not getattr(res, source):
            note = f"bench_{source} not run"
        rows.append(Row(metric, values, goal, verdict, digits, note))
    return rows


def apply_rows(res: Results) -> list[Row]:
    """The goals bench_apply measures at its own sizes (independent of N)."""
    a = res.apply
    if a is None:
        return []
    rows = []
    for t in a.get("throughput") or []:
        try:
            k, rate, n = int(t["k"]), float(t["rate"]), int(t["secrets"])
        except (KeyError, TypeError, ValueError):
            res.problems.append("bench_apply: a throughput figure without k, rate or secrets")
            continue
        goal = 0.95 * k
        rows.append(Row(f"apply throughput, k={k} owner token(s), default pacing ({n} secrets; writes/s)", {0: rate},
                        f"≥ {goal:.2f} (0.95 × k)", MET if rate >= goal else MISSED))
    lim = a.get("under_limits")
    if isinstance(lim, dict):
        size = f"{lim.get('secrets', '?')} secrets over {lim.get('tokens', '?')} token(s)"
        for key, metric in (("secondary_limited", "secondary-limit answers"),
                            ("primary_limited", "requests sent after x-ratelimit-remaining: 0")):
            if isinstance(lim.get(key), int):
                rows.append(Row(f"{metric}, apply of {size}", {0: lim[key]}, "0", MET if lim[key] == 0 else MISSED, 0))
        wall, floor = lim.get("wall"), lim.get("floor")
        if isinstance(wall, (int, float)) and isinstance(floor, (int, float)) and floor > 0:
            ratio = wall / floor
            rows.append(Row(f"wall / per-endpoint floor ({floor:.0f} s), same apply", {0: ratio},
                            "≤ 1.10", MET if ratio <= 1.10 else MISSED))
    return rows


# -- printing ------------------------------------------------------------------------------------------
def _cell(values: dict[int, float], n: int, digits: int) -> str:
    return "—" if n not in values else f"{values[n]:,.{digits}f}"


def render(res: Results) -> str:
    cores = ", ".join(str(c) for c in sorted(res.cores)) or "?"
    out = [f"issue 16 goals: {cores} CPU core(s); the sandbox as its own process; plans under GitHub's documented secondary "
           "limits (900 points a minute per endpoint, 100 in flight), the creating apply with the content limits lifted"]
    if res.reference_cpu is not None:
        out.append(f"machine reference (bench_manifest): a fixed pure-Python workload took {res.reference_cpu:.2f} s of CPU; "
                   "CPU figures of two machines or days compare in proportion to it")
    rows = sized_rows(res)
    width = max(len(r.metric) for r in rows)
    gw = max(len(r.goal) for r in rows)
    out.append(f"{'metric':<{width}}  " + "".join(f"{f'N={n:,}':>9}" for n in SIZES) + f"  {'goal':<{gw}}  verdict")
    for r in rows:
        out.append(f"{r.metric:<{width}}  " + "".join(f"{_cell(r.values, n, r.digits):>9}" for n in SIZES)
                   + f"  {r.goal:<{gw}}  {r.verdict}" + (f" ({r.note})" if r.note else ""))
    fixed = apply_rows(res)
    if fixed:
        width = max(len(r.metric) for r in fixed)
        gw = max(len(r.goal) for r in fixed)
        quick = " (--quick)" if res.apply and res.apply.get("quick") else ""
        out.append("")
        out.append(f"{'apply, bench_apply' + quick:<{width}}  {'measured':>9}  {'goal':<{gw}}  verdict")
        for r in fixed:
            out.append(f"{r.metric:<{width}}  {_cell(r.values, 0, r.digits):>9}  {r.goal:<{gw}}  {r.verdict}")
    else:
        out.append("apply goals (throughput, limits under a spent primary window): bench_apply not run")
    judged = [r.verdict for r in rows + fixed]
    if NOT_RUN in judged:
        out.append("not run: N=1,000 needs --large; the 120 ms phase needs bench_plan without --quick.")
    out.append("bench_plan never spends the primary limit, so requests after remaining 0 are counted on the apply only.")
    out.append(f"{judged.count(MET)} met, {judged.count(MISSED)} MISSED, {judged.count(NOT_RUN)} not run")
    out += [f"warning: {p}" for p in res.problems]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    texts = []
    for name in argv:
        if name == "-":
            texts.append(("standard input", sys.stdin.read()))
            continue
        try:
            texts.append((name, Path(name).read_text(encoding="utf-8", errors="replace")))
        except OSError as exc:
            print(f"issue16: cannot read {name}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    res = collect(texts)
    if res.empty():
        print("issue16: no RESULT line of bench_plan, bench_apply or bench_manifest in " + ", ".join(argv), file=sys.stderr)
        for p in res.problems:
            print(f"issue16: {p}", file=sys.stderr)
        return 1
    print(render(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
