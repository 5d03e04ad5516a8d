"""Step fingerprints: what a resumed backfill compares before skipping a (day, step)."""

from __future__ import annotations

from flows import progress


def test_a_new_feature_set_version_changes_the_fingerprints_of_features_and_later(monkeypatch):
    before = {s: progress.step_fingerprint("landing-fp", s, "v3") for s in progress.STEPS}
    monkeypatch.setattr(progress, "FEATURE_SET_VERSION", "fs-next")
    after = {s: progress.step_fingerprint("landing-fp", s, "v3") for s in progress.STEPS}
    # ingest reads only the landing files; everything from features on reads the features
    assert before["ingest"] == after["ingest"] == "landing-fp"
    assert {s for s in progress.STEPS if before[s] != after[s]} == {"features", "score", "publish"}
    assert after["score"].endswith("|fs=fs-next|model=v3")


def test_a_new_champion_changes_only_the_model_steps():
    one = {s: progress.step_fingerprint("fp", s, "v1") for s in progress.STEPS}
    two = {s: progress.step_fingerprint("fp", s, "v2") for s in progress.STEPS}
    assert {s for s in progress.STEPS if one[s] != two[s]} == {"score", "publish"}
