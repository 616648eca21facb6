"""The committed suites under expectations/ are exactly what the catalogue generates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from connector.catalog import PACKAGED_DIR, load_catalog
from connector.preflight.suites import drifted_suites, suite_name, suites_dir, write_suites

REPO_GX = Path(__file__).resolve().parents[2] / "expectations"


def test_committed_suites_match_the_catalogue():
    problems = drifted_suites(load_catalog(), REPO_GX)
    assert not problems, (f"suites drifted from the catalogue: {problems}; "
                          "run `vanbulk validate --regenerate-suites` and commit expectations/")


def test_catalogue_change_is_detected_and_regenerated(tmp_path):
    shutil.copytree(suites_dir(REPO_GX), suites_dir(tmp_path))
    overlay = tmp_path / "overlay"
    (overlay / "meta").mkdir(parents=True)
    meta = json.loads((PACKAGED_DIR / "meta" / "ActivistCode.json").read_text())
    meta["maxLengths"] = {**meta.get("maxLengths", {}), "CanvassedBy": 9}
    (overlay / "meta" / "ActivistCode.json").write_text(json.dumps(meta))
    (overlay / "mapping_types").mkdir()
    shutil.copy(PACKAGED_DIR / "mapping_types" / "ActivistCode.json", overlay / "mapping_types")
    changed = load_catalog(extra_dirs=[overlay])
    assert drifted_suites(changed, tmp_path) == {f"{suite_name('ActivistCode')}.json": "differs from the catalogue"}
    written = write_suites(changed, tmp_path)
    assert [p.name for p in written] == [f"{suite_name('ActivistCode')}.json"]
    assert drifted_suites(changed, tmp_path) == {}
    assert write_suites(changed, tmp_path) == []  # stable ids: regenerating again rewrites nothing
