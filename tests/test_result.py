"""summary.json as typed objects (``gru_learn.analysis.result``): summaries written before the
typed result existed read back and write the same JSON, key order included; the typed fields
give the numbers the readers use; ``number`` is the one None/NaN/inf converter; the words
(``one_line``, ``text_summary``) and the HPARAMS numbers are those the dict readers gave."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from gru_learn.analysis.core import Analysis
from gru_learn.analysis.result import (
    AnalysisResult,
    ClosedLoop,
    Comparison,
    Coverage,
    Side,
    Signature,
    number,
)
from gru_learn.analysis.text import one_line, target_period, text_summary
from gru_learn.training.hparams import PREFIX, final_metrics

# Written by `analyze` (a 2-unit GRU with a stable cycle against the "ring" system) and by
# `analyze_gru` (an nn.GRU(1, 2) alone) before this module existed; lists cut to two entries
# and floats to 4 digits to keep them small. Key order is the writers'.
LEARNED_VS_TARGET = (
    '{"learned":{"hidden_size":2,"reset":"before","time_unit":"target","rollout":{"mode":"discr'
    'ete","read_as":"the GRU map h <- h + f(h) (as trained)"},"input":null,"fixed_points":[{"h"'
    ':[0.0,0.0],"kind":"unstable_focus","eigenvalues":[[0.07363,0.4832],[0.07363,-0.4832]],"res'
    'idual":0.0,"n_unstable":2,"bifurcation_candidate":null,"map_stable":false,"map_disagrees":'
    'false,"map_spectral_radius":1.177,"obs":[0.0,0.0]}],"slow_points":[],"index_sum":1,"notes"'
    ':[],"limit_cycles":[{"period":1.498,"frequency":0.6677,"stable":true,"floquet_multipliers"'
    ':[[1.0,0.0],[0.1603,0.0]],"amplitude":0.5172,"center":[8.167e-09,-3.745e-09],"residual":2.'
    '355e-16,"converged":true,"orbit":[[0.4517,-0.2662],[0.4657,-0.2359]],"orbit_obs":[[0.4517,'
    '-0.2662],[0.4657,-0.2359]],"period_steps":14.98}],"limit_cycle_candidates":[],"continuous_'
    'attractors":[],"box":[[-1.0,1.0],[-1.0,1.0]],"signature":{"stable_points":0,"unstable_poin'
    'ts":1,"saddles":0,"non_hyperbolic":0,"stable_cycles":1,"unstable_cycles":0,"continuous_att'
    'ractors":0,"ring_attractors":0,"line_attractors":0,"plane_attractors":0,"points_unstable_d'
    'ims_2":1},"search":{"method":"grid (exhaustive in the box)","n_starts":null,"recall_estima'
    'te":1.0},"closed_loop":{"behaviour":"oscillates","fractions":{"oscillates":1.0},"period_st'
    'eps":17.04,"period":1.704,"rollout":"discrete"},"lyapunov_max":3.226e-05,"lyapunov":{"meth'
    'od":"QR (Benettin) on the GRU map h -> h + f(h)","steps":2000,"transient":200,"orbits":8,"'
    'per_gru_step":3.226e-06,"unit":"1 / target time (per GRU step / dt)"},"signature_map":{"st'
    'able_points":0,"unstable_points":1,"saddles":0,"non_hyperbolic":0,"stable_cycles":1,"unsta'
    'ble_cycles":0,"continuous_attractors":0,"ring_attractors":0,"line_attractors":0,"plane_att'
    'ractors":0,"points_unstable_dims_2":1}},"target":{"system":"ring","description":"ring attr'
    'actor of radius 1 around an unstable point","params":{},"dt":0.1,"box":[[-1.429,1.668],[-1'
    '.272,1.493]],"fixed_points":[{"h":[-0.9998,-0.02121],"kind":"non_hyperbolic","eigenvalues"'
    ':[[-1.11e-15,0.0],[-2.0,0.0]],"residual":1.11e-15,"n_unstable":0,"bifurcation_candidate":"'
    'saddle_node","map_stable":null,"map_disagrees":false},{"h":[-0.9998,0.02219],"kind":"non_h'
    'yperbolic","eigenvalues":[[-8.884e-16,0.0],[-2.0,0.0]],"residual":8.882e-16,"n_unstable":0'
    ',"bifurcation_candidate":"saddle_node","map_stable":null,"map_disagrees":false}],"slow_poi'
    'nts":[],"index_sum":1,"notes":["non-hyperbolic fixed point present: its index is not +-1, '
    'index sum not checked"],"limit_cycles":[],"limit_cycle_candidates":[],"continuous_attracto'
    'rs":[{"kind":"ring","dimension":1,"closed":true,"extent":6.279,"covered_fraction":1.0,"max'
    '_speed":2.961e-17,"mean_speed":5.461e-18,"drift_time":2.12e+17,"attracting":true,"transver'
    'se_max_real":-1.999,"relaxation_time":0.5002,"fixed_points":[0,1],"n_points":120,"center":'
    '[-0.003192,0.0002386],"points":[[-0.9998,0.02219],[-0.9979,0.06546]],"link_radius":0.1466,'
    '"speed_tol":0.003816,"extent_observed":null,"max_speed_observed":null,"drift_time_observed'
    '":null,"notes":[]}],"time_unit":"target","declared_attractor":{"kind":"ring","found":["rin'
    'g"],"max_distance_to_declared":0.0007782,"declared_covered":1.0,"radius":0.1147},"signatur'
    'e":{"stable_points":0,"unstable_points":1,"saddles":0,"non_hyperbolic":0,"stable_cycles":0'
    ',"unstable_cycles":0,"continuous_attractors":1,"ring_attractors":1,"line_attractors":0,"pl'
    'ane_attractors":0,"points_unstable_dims_2":1},"lyapunov_max":-7.979e-10,"lyapunov":{"compu'
    'ted":true,"method":"QR (Benettin) on the RK4 map of the vector field","rk4_step":0.01,"ste'
    'ps":20000,"transient":1000,"orbits":8,"time":200.0,"unit":"1 / target time"}},"comparison"'
    ':{"rollout":"discrete","topology_read_as":"fixed points by the map\'s multipliers |1 + lamb'
    "da| (the model's rollout: one step = dt of the target's flow), cycles and continuous attra"
    'ctors of the ODE","topology_match":false,"topology_verdict":"mismatch","topology_reason":"'
    'stable cycles: learned 1, target 0; ring attractors: learned 0, target 1; no learned ring '
    'attractor","continuous_attractors":[],"period_rel_error":null,"ode_period_rel_error":null,'
    '"period_note":"period_rel_error: the model\'s own rollout (discrete); ode_period_rel_error:'
    ' the limit cycle of the ODE dh/dt = f(h) (the map is its step-1 Euler scheme, so the two d'
    'iffer for a discrete-trained model)","lyapunov_rel_error":40430.0,"continuous_attractor":{'
    '"kind":"ring","coverage":0.0,"coverage_task":0.0,"task_speed":0.001441,"radius":0.1671,"sl'
    'ow_speed":0.0008357,"slow_speed_note":"slow set: |C f(h)| below slow_speed (observation un'
    'its per GRU step): it would take over long_steps steps to move one radius; coverage_task u'
    'ses task_speed: over four training horizons","n_slow_states":1,"n_discrete_attractors_on_i'
    't":0},"d_stsp":16.81,"d_h":0.1226,"test_mse":{"per_step":[0.3959,0.5603],"mean":0.8625,"ag'
    'ainst":"noisy test observations, steps k = 1..29","long_horizon":{"steps":116,"mse_at_end"'
    ':0.3755,"mean":0.791,"against":"clean simulated truth"}}},"time_unit":"target time units; '
    'one GRU step = dt = 0.1","read_as":"predictions (closed_loop, period_rel_error, test_mse, '
    "d_stsp, d_h): the model's rollout (discrete); fixed points, cycles, attractors: the ODE dh"
    '/dt = f(h), with the map\'s stability beside","errors":{},"seconds":{"fixed_points":0.058,"'
    'limit_cycles":4.741,"continuous_attractors":0.339,"closed_loop":0.001,"lyapunov":0.697,"sl'
    'ow_set":0.017,"target_dynamics":0.815,"target_continuous_attractors":2.078,"declared_cross'
    'check":0.106,"target_lyapunov":14.56,"target_long":0.448,"topology":0.0,"coverage":0.001,"'
    'd_stsp":0.0,"d_h":0.001}}')

NETWORK = (
    '{"network":{"hidden_size":2,"input_size":1,"reset":"after","source":"nn.GRU (2 units, 1 in'
    'puts, after)","readout":null,"states":null,"box":"the cube [-1, 1]^d (it holds every fixed'
    ' point: h = n(h, x))"},"inputs":[{"input":[0.0],"fixed_points":[{"h":[-0.284,0.4621],"kind'
    '":"stable_node","eigenvalues":[[-0.3272,0.0],[-0.4382,0.0]],"residual":0.0,"n_unstable":0,'
    '"bifurcation_candidate":null,"map_stable":true,"map_disagrees":false,"map_spectral_radius"'
    ':0.6728}],"slow_points":[],"index_sum":1,"notes":[],"limit_cycles":[],"limit_cycle_candida'
    'tes":[],"continuous_attractors":[],"box":[[-1.0,1.0],[-1.0,1.0]],"time_unit":"the vector f'
    'ield\'s time unit (one GRU step = 1)","signature":{"stable_points":1,"unstable_points":0,"s'
    'addles":0,"non_hyperbolic":0,"stable_cycles":0,"unstable_cycles":0,"continuous_attractors"'
    ':0,"ring_attractors":0,"line_attractors":0,"plane_attractors":0,"points_unstable_dims_0":1'
    '},"search":{"method":"grid (exhaustive in the box)","n_starts":null,"recall_estimate":1.0}'
    '}],"time_unit":"GRU steps (one discrete step = one unit of time of the ODE)","read_as":"fi'
    'xed points, cycles and attractors: the ODE dh/dt = f(h, x); map_stable / map_spectral_radi'
    'us: the discrete map h -> h + f(h, x)","errors":{},"seconds":{"fixed_points":0.109,"contin'
    'uous_attractors":0.803}}')


def written(summary: dict) -> str:
    """summary.json's text as the writers before the typed result wrote it."""
    return json.dumps(summary, indent=2, allow_nan=True) + "\n"


def old_summaries() -> list[dict]:
    learned = json.loads(LEARNED_VS_TARGET)
    undefined = json.loads(LEARNED_VS_TARGET)  # NaN and inf in the file, a timeline at the end
    undefined["comparison"].update(d_h=math.nan, d_stsp=math.inf)
    undefined["timeline"] = {"snapshots": [], "events": []}
    failed = {"learned": None, "target": None, "comparison": None, "timeline": None,
              "errors": {"analysis": "skipped: loss is nan at epoch 3"}}
    return [learned, json.loads(NETWORK), undefined, failed]


@pytest.mark.parametrize("case", range(4))
def test_an_old_summary_reads_back_and_writes_the_same_json(case: int, tmp_path: Path) -> None:
    summary = old_summaries()[case]
    (tmp_path / "old.json").write_text(written(summary))
    result = AnalysisResult.read(tmp_path / "old.json")
    assert written(result.to_json()) == written(summary)  # same keys, order and values
    (tmp_path / "new").mkdir()
    path = result.write(tmp_path / "new")
    assert path.name == "summary.json" and path.read_text() == written(summary)
    # the analysis' own writer goes through the result and writes the same text
    path = Analysis(summary).save(tmp_path / "saved")
    assert path.read_text() == written(summary)


def test_typed_fields_hold_the_numbers_readers_use() -> None:
    r = AnalysisResult.from_json(json.loads(LEARNED_VS_TARGET))
    assert isinstance(r.learned, Side) and isinstance(r.comparison, Comparison)
    assert isinstance(r.learned.signature, Signature) and r.learned.signature.stable_cycles == 1
    assert r.learned.signature.other == {"points_unstable_dims_2": 1}
    assert r.target.signature.attractor_kinds() == {"ring": 1}
    assert [p.kind for p in r.learned.fixed_points] == ["unstable_focus"]
    assert [c.period_steps for c in r.learned.stable_cycles()] == [14.98]
    assert isinstance(r.learned.closed_loop, ClosedLoop)
    assert (r.learned.closed_loop.behaviour, r.learned.closed_loop.period) == ("oscillates", 1.704)
    comp = r.comparison
    assert (comp.topology_match, comp.topology_verdict) == (False, "mismatch")
    assert comp.topology_reason.startswith("stable cycles: learned 1, target 0")
    assert comp.period_rel_error is None and comp.d_stsp == 16.81
    assert isinstance(comp.continuous_attractor, Coverage)
    assert comp.continuous_attractor.coverage == 0.0 and comp.best_match() is None
    assert comp.test_mse.long_horizon["mean"] == 0.791
    assert r.target_period() is None and r.errors == {} and not r.has_failures
    net = AnalysisResult.from_json(json.loads(NETWORK))
    assert net.learned is None and len(net.inputs) == 1
    assert net.inputs[0].signature.stable_points == 1 and net.network["hidden_size"] == 2
    failed = AnalysisResult.failed("skipped: loss is nan at epoch 3")
    assert written(failed.to_json()) == written(old_summaries()[3])
    assert failed.has_failures and math.isnan(failed.scalars()["d_stsp"])


def test_a_result_built_in_code_round_trips() -> None:
    r = AnalysisResult(comparison=Comparison(topology_match=True, d_stsp=1.5),
                       learned=Side(signature=Signature(stable_points=2)),
                       errors={"cycles": "RuntimeError: x"})
    j = r.to_json()
    assert j == {"learned": {"signature": {"stable_points": 2}},
                 "comparison": {"topology_match": True, "d_stsp": 1.5},
                 "errors": {"cycles": "RuntimeError: x"}}
    assert AnalysisResult.from_json(j).to_json() == j
    assert AnalysisResult.of(r) is r and AnalysisResult.of(None).to_json() == {}


def test_a_file_that_is_no_summary_is_a_value_error(tmp_path: Path) -> None:
    for text in ("[1, 2]", "{not json"):
        (tmp_path / "summary.json").write_text(text)
        with pytest.raises(ValueError):
            AnalysisResult.read(tmp_path)


@pytest.mark.parametrize(("x", "as_json", "as_metric"), [
    (None, None, math.nan), (math.nan, None, math.nan), (math.inf, None, math.nan),
    (-math.inf, None, math.nan), (True, 1.0, 1.0), (False, 0.0, 0.0), (3, 3.0, 3.0),
    (-0.25, -0.25, -0.25), ("0.5", None, math.nan), ([1.0], None, math.nan),
])
def test_number_converts_undefined_values(x: object, as_json: float | None,
                                          as_metric: float) -> None:
    assert number(x) == as_json and (number(x) is None) == (as_json is None)
    m = number(x, math.nan)
    assert m == as_metric or (math.isnan(m) and math.isnan(as_metric))
    assert type(m) is float


def test_words_and_hparams_numbers_are_those_of_the_dict_readers() -> None:
    """The strings and numbers the dict-reading code gave for these summaries."""
    summary = json.loads(LEARNED_VS_TARGET)
    for s in (summary, AnalysisResult.from_json(summary)):
        assert one_line(s) == ("0 stable / 1 unstable points, 0 saddles, 1 stable cycles; "
                               "topology_match=False (mismatch); closed loop oscillates")
        assert text_summary(s) == (
            "**0 stable / 1 unstable points, 0 saddles, 1 stable cycles; topology_match=False"
            " (mismatch); closed loop oscillates**\n\n- learned: 1 unstable point, 1 stable "
            "cycle\n- target: 1 unstable point, 1 ring attractor\n- topology: mismatch (stable"
            " cycles: learned 1, target 0; ring attractors: learned 0, target 1; no learned "
            "ring attractor)\n- learned ODE cycle: period 1.498 (14.98 GRU steps)\n- closed "
            "loop (discrete): period 1.704 (17.04 GRU steps)\n- d_stsp: 16.81\n- d_h: 0.1226"
            "\n\n(target time units; one GRU step = dt = 0.1)")
        assert target_period(s) is None
    # a network read alone is described by its (first) input's signature (main_side)
    assert one_line(json.loads(NETWORK)) == ("1 stable / 0 unstable points, 0 saddles, "
                                             "0 stable cycles")
    m = final_metrics({"train": 0.1, "val": math.nan}, summary)
    expected = {"topology_match": 0.0, "d_stsp": 16.81, "d_h": 0.1226, "long_horizon_mse": 0.791,
                "lyapunov_max": 3.226e-05, "lyapunov_rel_error": 40430.0, "stable_points": 0.0,
                "stable_cycles": 1.0, "continuous_attractors": 0.0, "loss_train": 0.1}
    assert {k.removeprefix(PREFIX): v for k, v in m.items() if math.isfinite(v)} == {
        **expected, "analysis_seconds": pytest.approx(sum(summary["seconds"].values()))}
