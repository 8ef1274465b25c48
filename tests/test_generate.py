"""`plan generate` writes a valid workbook of the contract, the same for the same seed."""

from click.testing import CliRunner

from planner.cli import cli
from planner.dataset.data import content_hash, load_data
from planner.io.reader import read_workbook


def test_generated_workbook_is_valid_deterministic_and_solvable(tmp_path):
    a, b, c = tmp_path / "a.xlsx", tmp_path / "b.xlsx", tmp_path / "c.xlsx"
    args = ["--sites", "12", "--minerals", "2", "--periods", "2", "--scenarios", "3"]
    assert CliRunner().invoke(cli, ["generate", str(a), *args, "--seed", "4"]).exit_code == 0
    assert CliRunner().invoke(cli, ["generate", str(b), *args, "--seed", "4"]).exit_code == 0
    assert CliRunner().invoke(cli, ["generate", str(c), *args, "--seed", "5"]).exit_code == 0
    assert content_hash(read_workbook(a)) == content_hash(read_workbook(b))
    assert content_hash(read_workbook(a)) != content_hash(read_workbook(c))
    d = load_data(a)
    assert len(d.CANDIDATES) == 12 and len(d.MINERALS) == 2 and len(d.SCENARIOS) == 3
    res = CliRunner().invoke(cli, ["validate", str(a)])
    assert res.exit_code == 0 and "no problems found" in res.output
    res = CliRunner().invoke(cli, ["solve", str(a), "-o", str(tmp_path / "o.xlsx"), "--quiet"])
    assert res.exit_code == 0 and "[optimal" in res.output


def test_generate_can_ask_for_sparse_arcs(tmp_path):
    # 40 sites of one mineral: dense arcs pair every mine with every refinery; --supply-arcs 2 keeps
    # at most 2 x (mines + refineries) supply arcs and writes the setting into the workbook.
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    args = ["--sites", "40", "--minerals", "1", "--periods", "1", "--scenarios", "1", "--seed", "1"]
    assert CliRunner().invoke(cli, ["generate", str(a), *args]).exit_code == 0
    assert CliRunner().invoke(cli, ["generate", str(b), *args, "--supply-arcs", "2"]).exit_code == 0
    dense, sparse = load_data(a), load_data(b)
    assert sparse.settings["supply_arcs_per_site"] == 2
    stages = dense.sites["stage"].value_counts()
    n_sup = (dense.arcs["kind"] == "supply").sum()
    assert n_sup == stages["mine"] * stages["refinery"]
    assert (sparse.arcs["kind"] == "supply").sum() <= 2 * (stages["mine"] + stages["refinery"]) < n_sup


def test_thousands_of_scenarios_make_a_valid_workbook(tmp_path):
    # 5,000 scenarios: probabilities rounded to 6 decimals would put some at 0 and the last one
    # below 0 (seed 96); each is at least 1e-6 and they sum to 1
    from planner.dataset.data import load_data
    from planner.io.generate import generate
    path = generate(tmp_path / "g.xlsx", sites=5, minerals=1, periods=1, scenarios=5000, seed=96)
    data = load_data(path)
    p = data.scenarios["probability"].astype(float)
    assert len(p) == 5000 and p.min() >= 1e-6 and abs(p.sum() - 1) < 1e-6
