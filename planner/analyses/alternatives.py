"""`plan alternatives`: portfolios nearly as cheap as the best, as different from each other as the
slack allows, and every candidate classed must-have, never or swing.

The slack is an amount of money (`--within 500`: MUSD) or a share of the base plan's public money
(`--within 5%public`), never a share of the whole objective (2% of the default workbook's
objective is about 87,000 MUSD, five times all capex). The cost ceiling is the base solve's dual
bound plus the slack: the bound is at most the true optimum, so every plan under the ceiling is
within the slack of the proven optimum.

Alternatives are found one after another (modelling to generate alternatives on the build
decisions): each minimises, under the ceiling, a weighted count of the sites it builds, a site
weighing +2 for each earlier portfolio that builds it and -2 for each that does not, and +1 / -1
likewise for its host country (so new sites in new countries are preferred), with a cut that
forbids every earlier portfolio's set of sites. Each is then solved again for its cost with its
sites forced in and the other candidates excluded, and verified as `plan solve` verifies a plan.

Every eligible candidate is classed: **must-have** when minimising its builds under the ceiling
proves it in every plan, **never** when maximising them proves it in none, **swing** when plans
under the ceiling exist with and without it (found among the portfolios, or by those solves); a
swing site's earliest and latest build periods are found by minimising and maximising its build
year with it forced in.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from planner.analyses.batch import Analysis
from planner.analyses.cases import Case, builds_changed
from planner.analyses.why import screened
from planner.dataset.data import PlanData

WITHIN_HELP = "MUSD (e.g. 500) or a share of the base plan's public money (e.g. 5%public)"


def parse_within(text: str) -> tuple[float, str]:
    """'500' -> (500.0, 'MUSD'); '5%public' -> (0.05, 'public'). A share of the whole objective is
    refused: it is not a figure anyone negotiates."""
    t = str(text).strip().lower().replace(" ", "")
    bad = ValueError(f"--within {text!r}: give an amount in {WITHIN_HELP}")
    if t.endswith("%public"):
        share = _number(t[:-len("%public")])
        if share is None or not 0 < share <= 100:
            raise bad
        return share / 100, "public"
    if "%" in t:
        raise ValueError(f"--within {text}: a share of the whole objective is not offered (2% of the default "
                         "workbook's is about 87,000 MUSD); give MUSD (500) or a share of the public money (5%public)")
    amount = _number(t.removesuffix("musd"))
    if amount is None or not amount > 0:
        raise bad
    return amount, "MUSD"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def alternative_path(target: Path, k: int) -> Path:
    return target.with_name(f"{target.stem}_alt{k}{target.suffix or '.xlsx'}")


class Alternatives(Analysis):
    """`plan alternatives` on the sweep engine (planner/analyses/sweep.py `run_analysis`)."""

    command = "alternatives"

    def __init__(self, data: PlanData, within: str, count: int = 3):
        super().__init__(data)
        self.count = int(count)
        self.within, self.within_unit = parse_within(within)
        self.candidates = [f for f in data.CANDIDATES if not screened(data, f)]
        self.slack = self.ceiling = None
        self.stopped = ""

    def extra_files(self, target: Path) -> list[Path]:
        return [p for k in range(1, self.count + 1) for p in
                (alternative_path(target, k), alternative_path(target, k).with_suffix(".json"),
                 alternative_path(target, k).with_suffix(".png"))]

    # -- the solves -------------------------------------------------------------------------------

    def _weights(self, plans: list[set[str]]) -> tuple:
        country = self.data.sites["country"].to_dict()
        used = [{country[f] for f in p} for p in plans]
        out = []
        for f in self.candidates:
            w = sum(2 if f in p else -2 for p in plans) + sum(1 if country[f] in u else -1 for u in used)
            out.append((f, None, w))
        return tuple(out)

    def run(self, engine, journal, definition, progress=None) -> None:
        self.solve_base(engine, journal, definition, progress)
        public = self.base.get("public_money_musd") or 0.0
        self.slack = self.within if self.within_unit == "MUSD" else self.within * public
        self.ceiling = self.base["bound_musd"] + self.slack
        ceiling = ("ceiling", round(self.ceiling, 9))
        plans = [set(self.base["builds"])]
        for k in range(1, self.count + 1):
            nogoods = tuple(("nogood", tuple(sorted(p)), tuple(self.candidates)) for p in plans)
            case = Case(f"alt{k}", f"alternative {k}", (), model=(ceiling, ("objective", self._weights(plans)), *nogoods))
            got = engine.run([case], definition, None, journal, progress)[case.key]
            self.take({case.key: got})
            if got.get("objective_value") is None:
                self.stopped = (f"no portfolio {k} under the ceiling differs from the ones found ({got['status']})"
                                if got["status"] == "infeasible" else f"alternative {k}: {got['status']}")
                break
            sites = set(got["builds"])
            plans.append(sites)
            costed = self._costed(k, sites)
            self.take(engine.run([costed], definition, None, journal, progress))
        self.take(engine.run(self._class_cases(ceiling), definition, None, journal, progress))
        self.take(engine.run(self._period_cases(ceiling), definition, None, journal, progress))

    def _costed(self, k: int, sites: set[str]) -> Case:
        """Alternative k solved for its cost: its sites forced in, the other candidates excluded."""
        edits = tuple(("cell", "sites", "site", f, "decision", "force_build" if f in sites else "exclude")
                      for f in self.candidates)
        return Case(f"alt{k}:plan", f"alternative {k} costed", edits, {"sites": sorted(sites)})

    def decisions(self, k: int) -> tuple:
        """The edits that make alternative k's portfolio (for `plan solve`)."""
        return self._costed(k, set(self.plans()[k])).edits

    def plans(self) -> list[dict]:
        """The base plan's and each alternative's builds {site: period}, costed."""
        out = [self.base["builds"]]
        for k in range(1, self.count + 1):
            r = self.results.get(f"alt{k}:plan")
            if r is None or r.get("objective_musd") is None:
                break
            out.append(r["builds"])
        return out

    def _within(self, r: dict | None) -> bool:
        return bool(r) and r.get("objective_musd") is not None and r["objective_musd"] <= self.ceiling + 1e-6

    def _evidence(self) -> list[set[str]]:
        """The site sets of plans known to be under the ceiling."""
        sets = [set(self.base["builds"])] if self._within(self.base) else []
        sets += [set(r["builds"]) for k, r in self.results.items() if k.endswith(":plan") and self._within(r)]
        return sets

    def _class_cases(self, ceiling) -> list[Case]:
        known = self._evidence()
        out = []
        for f in self.candidates:
            if not any(f not in p for p in known):
                out.append(Case(f"min:{f}", f"{f}: fewest builds", (), model=(ceiling, ("objective", ((f, None, 1),)))))
            if not any(f in p for p in known):
                out.append(Case(f"max:{f}", f"{f}: most builds", (), model=(ceiling, ("objective", ((f, None, -1),)))))
        return out

    def _period_cases(self, ceiling) -> list[Case]:
        out = []
        for f in self.classes():
            if f["class"] != "swing":
                continue
            site = f["site"]
            options = [t for g, t in self.data.BUILD_OPTIONS if g == site]
            if len(options) < 2:
                continue
            forced = (("cell", "sites", "site", site, "decision", "force_build"),)
            weights = tuple((site, t, t) for t in options)
            out.append(Case(f"earliest:{site}", f"{site}: earliest build", forced,
                            model=(ceiling, ("objective", weights))))
            out.append(Case(f"latest:{site}", f"{site}: latest build", forced,
                            model=(ceiling, ("objective", tuple((g, t, -w) for g, t, w in weights)))))
        return out

    # -- the tables -------------------------------------------------------------------------------

    def classes(self) -> list[dict]:
        known = self._evidence()
        rows = []
        periods = {}
        for p in [self.base["builds"]] + [r["builds"] for k, r in self.results.items() if k.endswith(":plan")]:
            for f, t in p.items():
                periods.setdefault(f, set()).add(t)
        for f in self.data.CANDIDATES:
            row = {"site": f, "name": self.data.sites.loc[f, "name"], "country": self.data.sites.loc[f, "country"],
                   "in_base": "yes" if f in self.base["builds"] else "no",
                   "in_alternatives": sum(1 for k in range(1, self.count + 1)
                                          if f in (self.results.get(f"alt{k}:plan") or {}).get("builds", {}))}
            reason = screened(self.data, f)
            if reason:
                rows.append({**row, "class": "never", "how": f"screened out: {reason}"})
                continue
            can_in = any(f in p for p in known)
            can_out = any(f not in p for p in known)
            proven_in = proven_out = False
            lo, hi = self.results.get(f"min:{f}"), self.results.get(f"max:{f}")
            how = []
            if lo is not None:  # its builds minimised under the ceiling
                if lo.get("objective_value") is not None and lo["objective_value"] < 0.5:
                    can_out = True
                    how.append("a plan without it is under the ceiling")
                elif lo.get("objective_bound") is not None and lo["objective_bound"] > 0.5:
                    proven_in = True
                    how.append("proved in every plan under the ceiling")
                else:
                    how.append(f"fewest builds: {lo['status']}")
            if hi is not None:  # its builds maximised under the ceiling
                if hi.get("objective_value") is not None and hi["objective_value"] < -0.5:
                    can_in = True
                    how.append("a plan with it is under the ceiling")
                elif hi.get("status") == "infeasible" or (hi.get("objective_bound") is not None
                                                          and hi["objective_bound"] > -0.5):
                    proven_out = True
                    how.append("proved in no plan under the ceiling")
                else:
                    how.append(f"most builds: {hi['status']}")
            cls = ("swing" if can_in and can_out else "must-have" if proven_in else "never" if proven_out
                   else "unresolved")
            if not how:
                how.append("portfolios found under the ceiling")
            e, l_ = self.results.get(f"earliest:{f}"), self.results.get(f"latest:{f}")
            seen = sorted(periods.get(f, ()))
            earliest = int(round(e["objective_value"])) if e and e.get("objective_value") is not None else \
                (seen[0] if seen else "")
            latest = int(round(-l_["objective_value"])) if l_ and l_.get("objective_value") is not None else \
                (seen[-1] if seen else "")
            for what, r in (("earliest", e), ("latest", l_)):
                if r and r.get("objective_value") is not None and r.get("status") != "optimal":
                    how.append(f"{what} build period not proven ({r['status']}: the bound allows "
                               f"{abs(r['objective_bound']):.0f})")
            rows.append({**row, "class": cls, "how": "; ".join(how),
                         "earliest_build_period": earliest if cls != "never" else "",
                         "latest_build_period": latest if cls != "never" else ""})
        return rows

    def tables(self) -> dict[str, pd.DataFrame]:
        if self.base is None or self.ceiling is None:
            return {}
        rows = []
        country = self.data.sites["country"].to_dict()
        for k, builds in enumerate(self.plans()):
            r = self.base if k == 0 else self.results[f"alt{k}:plan"]
            added, dropped, moved = builds_changed(r, self.base)
            rows.append({"portfolio": "base" if k == 0 else f"alternative {k}",
                         "total_cost_musd": r["objective_musd"], "above_ceiling_musd": r["objective_musd"] - self.ceiling,
                         "cash_cost_musd": r["cash_cost_musd"], "public_money_musd": r["public_money_musd"],
                         "sites_built": len(builds), "host_countries": len({country[f] for f in builds}),
                         "sites_differing_from_base": len(added) + len(dropped),
                         "builds_added": ", ".join(added), "builds_dropped": ", ".join(dropped),
                         "builds_moved": ", ".join(moved), "status": r["status"]})
        cols = ["site", "name", "country", "class", "in_base", "in_alternatives", "earliest_build_period",
                "latest_build_period", "how"]
        classes = pd.DataFrame(self.classes(), columns=cols)
        summary = [("within", self.within if self.within_unit == "MUSD" else f"{self.within:.2%} of public money",
                    "as given"),
                   ("slack_musd", self.slack, "MUSD"), ("ceiling_musd", self.ceiling, "MUSD: bound + slack"),
                   ("alternatives_found", len(rows) - 1, f"of {self.count} asked"),
                   ("stopped", self.stopped, ""),
                   *[(f"candidates_{c}", int((classes["class"] == c).sum()), "count")
                     for c in ("must-have", "never", "swing", "unresolved")]]
        return {"alternatives": pd.DataFrame(rows), "classes": classes, "summary": self.summary(summary)}
