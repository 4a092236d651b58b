"""The job wire format: exact round trips, identity left behind, clear refusals."""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path

import numpy as np
import pytest

from braggdesk.errors import WireError
from braggdesk.io import wire, wire_jobs
from braggdesk.model import Snapshot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from cases import pencil_job  # noqa: E402


def read_all(data: bytes) -> list[wire.Message]:
    read = wire.stream_reader(io.BytesIO(data))
    out = []
    while (msg := wire.read_message(read)) is not None:
        out.append(msg)
    return out


def sample_snapshot(n: int = 5000) -> Snapshot:
    rng = np.random.default_rng(3)
    e = np.where(rng.random(n) < 0.3, rng.integers(0, 10**9, n), 0).astype(np.int64)
    return Snapshot(123, e, e * 7, np.where(e > 0, rng.random(n), 0.0), e // 3, np.where(e > 0, e - 5, 0), batches=(4, 9), compute_seconds=1.5,
                    device="cpu", job_id="abc", notes=("a note",), counters={"nonelastic": 12})


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("codec", ["raw", "zlib", "shuffle-zlib"])
def test_snapshot_round_trip_is_exact(codec, sparse):
    snap = sample_snapshot()
    (msg,) = read_all(wire.encode_snapshot(snap, codec, sparse=sparse))
    back = wire.decode_snapshot(msg)
    assert back.is_sparse == sparse and back.n_voxels == snap.n_voxels
    back = back.dense()
    for name in ("energy", "energy_sq", "batch_sq_sum", "let_numerator", "let_energy"):
        assert np.array_equal(getattr(back, name), getattr(snap, name)) and getattr(back, name).dtype == getattr(snap, name).dtype
    assert (back.primaries, back.batches, back.job_id, back.notes, back.counters) == \
        (123, (4, 9), "abc", ("a note",), {"nonelastic": 12})


def test_sparse_frames_carry_only_voxels_with_dose():
    snap = sample_snapshot(50_000)  # 30 % of voxels hit
    dense, sparse = (len(wire.encode_snapshot(snap, "raw", sparse=s)) for s in (False, True))
    assert sparse < 0.5 * dense


def test_job_round_trip_keeps_the_physics_and_drops_identity():
    job = pencil_job(150.0, 1000, batches=2)
    ct = dataclasses.replace(job.ct, series_instance_uid="1.2.840.99.SERIES", study_instance_uid="1.2.840.99.STUDY",
                             description="DOE^JANE head")
    plan = dataclasses.replace(job.plan, label="DOE^JANE plan", sop_instance_uid="1.2.840.99.PLAN",
                               source_path="/home/clinic/DOE_JANE/RN.dcm")
    job = dataclasses.replace(job, ct=ct, plan=plan)
    frame = wire_jobs.encode_job(job)
    for secret in (b"DOE", b"1.2.840.99", b"/home/clinic", b"1.2.3.4"):
        assert secret not in frame
    back = wire_jobs.decode_job(read_all(frame)[0])
    assert back.job_id == job.job_id and back.settings == job.settings
    assert np.array_equal(back.ct.hu, job.ct.hu) and back.ct.hu.dtype == job.ct.hu.dtype
    assert back.ct.spacing_mm == job.ct.spacing_mm and back.ct.origin_mm == job.ct.origin_mm
    assert back.plan.label == "" and back.ct.series_instance_uid == "" and back.ct.description == ""
    assert back.plan.frame_of_reference_uid == back.ct.frame_of_reference_uid != ""  # "same" survives
    layer, layer0 = back.plan.beams[0].layers[0], job.plan.beams[0].layers[0]
    assert np.array_equal(layer.spot_weights, layer0.spot_weights) and back.plan.beams[0].isocenter_mm == \
        job.plan.beams[0].isocenter_mm
    assert back.calibration.materials == job.calibration.materials
    assert np.array_equal(back.beam_model.protons_per_mu, job.beam_model.protons_per_mu)


def test_digest_identifies_inputs_not_the_job_id():
    a = pencil_job(150.0, 1000, batches=2)
    b = dataclasses.replace(a, job_id="other")
    c = pencil_job(150.0, 1000, batches=2, seed=8)
    digest = lambda job: read_all(wire_jobs.encode_job(job))[0].header["digest"]  # noqa: E731
    assert digest(a) == digest(b) != digest(c)


def test_incompatible_protocol_is_refused_with_versions():
    with pytest.raises(WireError, match=r"protocol 7-9.*cannot talk.*same braggdesk version"):
        wire.check_compatible({"protocol": 9, "min_protocol": 7, "braggdesk": "3.0"}, "the node x")
    wire.check_compatible(wire.hello_header("worker"), "self")


def test_text_on_the_stream_is_named_not_misread():
    with pytest.raises(WireError, match="not braggdesk frames.*Welcome to"):
        read_all(b"Welcome to node 7! Last login: yesterday\n" + wire.encode("log", {"text": "x"}))


def test_a_cut_frame_is_an_error_not_a_short_read():
    frame = wire.encode_snapshot(sample_snapshot())
    with pytest.raises(WireError, match="ended inside a snapshot frame"):
        read_all(frame[:-10])


def test_a_dose_influence_request_names_its_pass_and_the_first_pass_is_written_as_protocol_3_wrote_it():
    job = pencil_job(150.0, 100)
    voxels = np.array([3, 5, 8], np.int64)
    first, = read_all(wire_jobs.encode_job(job, dij=wire_jobs.DijRequest(voxels, 40)))
    assert first.header["content"]["dij"] == {"per_spot": 40}  # a protocol-3 node reads it
    later, = read_all(wire_jobs.encode_job(job, dij=wire_jobs.DijRequest(voxels, 40, 2)))
    request = wire_jobs.dij_request(later)
    assert request.per_spot == 40 and request.pass_index == 2 and np.array_equal(request.voxels, voxels)
    assert later.header["digest"] != first.header["digest"]
    later.header["content"]["dij"]["pass"] = -1
    with pytest.raises(WireError, match="damaged dose-influence request"):
        wire_jobs.dij_request(later)
