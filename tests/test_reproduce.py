"""`reproduce --quick` as a user runs it: figures and a filled report, and resumption."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_reproduce_quick_writes_figures_and_a_filled_report(in_tmp: Path) -> None:
    r = run_cli("reproduce", "--out", "rep", "--quick", cwd=in_tmp)
    assert r.returncode == 0, r.stderr[-2000:]
    out = in_tmp / "rep"
    for name in ("fig1_fig1a", "fig1_fig1b", "fig1_fig1c", "fig2a", "fig5a", "fig5b", "fig5c",
                 "fig6", "fig8a", "fig8b", "fig8c", "fig8d", "fig10a", "fig10b", "fig11",
                 "fig12/fig12_ring", "fig12/fig12_fhn"):
        assert (out / f"{name}.png").stat().st_size > 5_000, name
    report = (out / "report.md").read_text()
    claims = report.split("## Choices the paper leaves open")[0]
    rows = [ln for ln in claims.splitlines() if ln.startswith("| Fig") or ln.startswith("| Eq")]
    assert len(rows) >= 12
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 6 and all(cells[:4]), row  # figure, claim, paper, ours filled
        assert cells[4] in ("agrees", "**differs**", "n/a"), row
    assert "## Choices the paper leaves open" in report
    # the closed-form Hopf point and the bistable pair are exact claims: they must agree
    hopf = next(r for r in rows if r.startswith("| Eq 8"))
    assert "arccos(2/3) = 0.84106867" in hopf and "| agrees |" in hopf
    assert "| agrees |" in next(r for r in rows if r.startswith("| Fig 2A"))
    # a rerun resumes: every step is skipped
    again = run_cli("reproduce", "--out", "rep", "--quick", cwd=in_tmp)
    assert again.returncode == 0 and again.stdout.count("done earlier, skipped") == 8
