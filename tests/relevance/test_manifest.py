"""Checkpoint manifests: round trip, and refusal naming the field."""

import json

import pytest

from relevance.manifest import CheckpointManifest, ManifestError, read_manifest, validate_manifest, write_manifest


def _raw(**over):
    raw = json.loads(CheckpointManifest(name="m", version="3", base_model="smollm2-135m-instruct").to_json())
    raw.update(over)
    return raw


def test_round_trip(tmp_path):
    m = CheckpointManifest(name="m", version="3", base_model="b", kind="adapter", stage="sft", parent="2", metrics={"macro_f1": 0.5})
    write_manifest(tmp_path, m)
    assert read_manifest(tmp_path) == m


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"surprise": 1}, "surprise"),
        ({"label_scheme": "five-level"}, "label_scheme"),
        ({"prompt_version": "v0"}, "prompt_version"),
        ({"kind": "gguf"}, "kind"),
        ({"stage": "rlhf"}, "stage"),
        ({"version": ""}, "version"),
        ({"format_version": 2}, "format_version"),
        ({"metrics": []}, "metrics"),
    ],
)
def test_refuses_what_it_does_not_understand(over, field):
    with pytest.raises(ManifestError) as err:
        validate_manifest(_raw(**over))
    assert err.value.field == field
    assert repr(field) in str(err.value)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ManifestError, match="missing"):
        read_manifest(tmp_path)
    (tmp_path / "taosr1.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(tmp_path)
