"""The run report with RBE-weighted DVHs beside the physical ones (``braggdesk demo --rbe``)."""

from __future__ import annotations


def test_report_has_rbe_weighted_dvhs_and_metrics_when_asked(tmp_path):
    import braggdesk as bd
    from braggdesk.report.pdf import write_report_pdf
    from braggdesk.report.run_report import run_report_data
    from braggdesk.workflow.rbe_dose import RbeSettings, rbe_weighted_result

    case = bd.demo_case(spacing_mm=8.0)
    job = bd.make_job(case.ct, case.plan, primaries=3000, batches=2, device="cpu", calibration=case.calibration,
                      beam_model=case.beam_model)
    result = bd.calculate(job).run()
    masks = bd.structure_masks(case.structures, case.ct)
    plain = run_report_data(case.plan, case.ct, result, seed=1, elapsed_s=1.0, structures=masks)
    assert {c.dose_label for c in plain.dvh_curves} == {"MC"}
    settings = RbeSettings("mcnamara", 2.0)
    rbe_gy = rbe_weighted_result(result, settings)
    data = run_report_data(case.plan, case.ct, result, seed=1, elapsed_s=1.0, structures=masks,
                           rbe=(rbe_gy, settings.describe()))
    rbe_curves = [c for c in data.dvh_curves if c.dose_label == "RBE"]
    assert len(rbe_curves) == len(masks) and all(c.dashed for c in rbe_curves)
    rbe_metrics = [m for label, m in data.metrics if label == "RBE"]
    external = next(i for i, m in enumerate(masks) if m.name == "External")
    assert abs(rbe_metrics[external].dmax_gy - float(rbe_gy.max())) < 0.02 * float(rbe_gy.max())
    assert any(label == "RBE-weighted dose" and "McNamara" in text for label, text in data.summary_rows)
    assert write_report_pdf(data, tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
