"""Nothing identifying leaves: the bytes both runners would send for a job made from a real plan.

The job is the RayStation plan of dcpt-let-2022 (plan03) on the DCPT phantom, with the CT
carrying the real study and series UIDs its structure set refers to, and a beam named like
the plan (as plan06's is).  Its patient name, ID and birth date come from the plan file.
"""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from braggdesk.compute.outbound import Confidential, IdentityLeak, dask_frames, outbound_job, wire_payload
from braggdesk.compute.remote import PipeRunner
from braggdesk.errors import RemoteError
from braggdesk.io import wire, wire_jobs
from braggdesk.io.deidentify import read_patient_identity
from braggdesk.model import Job, SimulationSettings

PLAN03 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dcpt-let-2022" / "plans" / \
    "plan03_sobp_raystation"
MODEL = PLAN03.parents[1] / "beam_model" / "DCPT_beam_model__v2.csv"
CAPTURE = Path(__file__).resolve().parent / "capture_worker.py"

pytestmark = pytest.mark.skipif(not PLAN03.is_dir(), reason="shared DCPT data not present")


@pytest.fixture(scope="module")
def real():
    """(job, identity, the strings that must not leave) for plan03 on a 6 mm DCPT phantom."""
    from braggdesk.io.beam_model_reader import read_beam_model
    from braggdesk.io.phantoms import make_phantom
    from braggdesk.io.rtplan import read_rt_ion_plan

    rp = next(PLAN03.glob("RP*.dcm"))
    rs = pydicom.dcmread(next(PLAN03.glob("RS*.dcm")), stop_before_pixels=True)
    ds = pydicom.dcmread(rp, stop_before_pixels=True)
    series = rs.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0] \
        .RTReferencedSeriesSequence[0].SeriesInstanceUID
    plan = read_rt_ion_plan(rp)
    plan.beams[0] = dataclasses.replace(plan.beams[0], name=plan.label)  # a beam named like its plan
    phantom = make_phantom("dcpt", geometry="D", isocenter_mm=tuple(plan.beams[0].isocenter_mm), spacing_mm=6.0)
    ct = dataclasses.replace(phantom.volume, series_instance_uid=str(series), study_instance_uid=str(ds.StudyInstanceUID),
                             frame_of_reference_uid=str(ds.FrameOfReferenceUID))
    job = Job.create(ct, plan, read_beam_model(MODEL), phantom.calibration,
                     SimulationSettings(primaries=300, batches=2, seed=3, device="cpu"), ignore_frame_of_reference=True)
    identity = read_patient_identity(rp)
    secret = {"patient name": str(ds.PatientName), "patient ID": str(ds.PatientID),
              "birth date": str(ds.PatientBirthDate), "study UID": str(ds.StudyInstanceUID), "series UID": str(series),
              "plan UID": str(ds.SOPInstanceUID), "structure set UID": str(rs.SOPInstanceUID),
              "frame of reference UID": str(ds.FrameOfReferenceUID), "plan label": str(ds.RTPlanLabel)}
    assert all(len(v) >= 8 for v in secret.values()), secret  # long enough that a chance match in bytes is nil
    return job, identity, secret


def leaks(data: bytes, secret: dict) -> list[str]:
    """Which of the secret values occur anywhere in ``data`` (UTF-8, any case)."""
    low = data.lower()
    return [what for what, value in secret.items() if value.lower().encode() in low]


def test_the_bytes_sent_to_an_ssh_node_carry_no_identity(real, tmp_path):
    job, identity, secret = real
    assert leaks(wire_jobs.encode_job(job), secret)  # the control: this job, sent as it is, would carry its beam's name
    out = tmp_path / "sent.bin"
    runner = PipeRunner(job, command=[sys.executable, str(CAPTURE), str(out)], reconnects=0, identity=identity)
    with pytest.raises(RemoteError):  # the stand-in worker exits after taking the job
        for _ in runner.run():
            pass
    sent = out.read_bytes()
    assert sent[:4] == wire.MAGIC and len(sent) > 10_000
    assert leaks(sent, secret) == []
    received = wire_jobs.decode_job(wire.read_message(wire.stream_reader(io.BytesIO(sent))))
    assert received.plan.beams[0].name == "beam 1" and received.plan.label == "" and received.ct.series_instance_uid == ""
    assert received.ct.frame_of_reference_uid == "frame-1" and received.plan.frame_of_reference_uid == "frame-1"
    assert np.array_equal(received.ct.hu, job.ct.hu) and received.plan.n_spots == job.plan.n_spots == 9218


def test_the_bytes_sent_to_dask_workers_carry_no_identity(real, monkeypatch):
    distributed = pytest.importorskip("distributed")
    from braggdesk.compute.dask_runner import DaskRunner

    job, identity, secret = real
    raw = b"".join(bytes(f) for f in dask_frames(job)[1])
    assert set(leaks(raw, secret)) >= {"series UID", "plan label", "plan UID", "structure set UID"}  # the control
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        scattered = []
        real_scatter = client.scatter
        monkeypatch.setattr(client, "scatter", lambda data, **kw: scattered.append(data) or real_scatter(data, **kw))
        runner = DaskRunner(job, client=client, identity=identity)
        for _ in runner.run():
            pass
    assert runner.finished and runner.total.primaries == 300
    (data,) = scattered
    (sent,) = data.values()
    header, frames = dask_frames(sent)  # the frames a worker process gets for it
    assert header["serializer"] == "pickle" and len(frames) > 1  # arrays out of band, as Dask sends them
    assert leaks(b"".join(bytes(f) for f in frames), secret) == []
    assert sent.plan.beams[0].name == "beam 1" and sent.ct.study_instance_uid == "" and sent.plan.label == ""


def test_identity_in_a_field_the_engine_reads_stops_both_runners_before_sending(real, tmp_path):
    from braggdesk.compute.dask_cluster import ClusterSpec
    from braggdesk.compute.dask_runner import DaskRunner

    job, identity, _ = real
    beams = [dataclasses.replace(b, treatment_machine=f"TR3 {identity.patient_id}") for b in job.plan.beams]
    bad = dataclasses.replace(job, plan=dataclasses.replace(job.plan, beams=beams))
    out = tmp_path / "sent.bin"
    ssh = PipeRunner(bad, command=[sys.executable, str(CAPTURE), str(out)], identity=identity)
    with pytest.raises(IdentityLeak, match=r"job\.plan\.beams\[0\]\.treatment_machine holds the patient ID"):
        next(ssh.run())
    assert not out.exists()  # no worker was even started
    dask = DaskRunner(bad, ClusterSpec(address="tcp://127.0.0.1:1", start_timeout_s=2), identity=identity)
    with pytest.raises(IdentityLeak, match="treatment_machine holds the patient ID"):  # not "cannot reach"
        next(dask.run())
    # a UID nobody told the check about is refused by its shape
    materials = [dataclasses.replace(m, name=f"{m.name} 1.2.826.0.1.3680043.2.1125.1") for m in
                 job.calibration.materials]
    uid = dataclasses.replace(job, calibration=dataclasses.replace(job.calibration, materials=materials))
    with pytest.raises(IdentityLeak, match=r"calibration\.materials\[0\]\.name holds a DICOM UID"):
        wire_payload(uid, Confidential.of(uid))


def test_free_text_that_repeats_identity_is_neutralised_and_values_stay_hidden(real):
    job, identity, secret = real
    conf = Confidential.of(job, identity)
    assert secret["patient ID"] not in repr(conf) and "hidden" in repr(conf)
    noted = dataclasses.replace(job, calibration=dataclasses.replace(
        job.calibration, name=f"{identity.patient_name} calibration",
        notes=["kept", f"from series {job.ct.series_instance_uid}"]))
    out = outbound_job(noted, conf)
    assert out.calibration.name == "calibration" and out.calibration.notes == ["kept"]
    assert out.beam_model.name == job.beam_model.name  # nothing confidential in it: unchanged
    # a short value (ID "7") is not searched for: it cannot be told from ordinary text
    short = Confidential.of(job, dataclasses.replace(identity, patient_id="7"))
    assert all(v != "7" for _, v in short.identity)
