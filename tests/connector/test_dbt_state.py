"""connector/dbt_state.py: the build's fingerprint moves with everything dbt reads and nothing else; only a build
of views, seeds and the tests vanbulk excludes (or tests of seeds alone) may be left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector import dbt_state
from connector.dbt_state import fingerprint, standing_views

CMD = ["dbt", "build", "--exclude", "tag:vanbulk_ledger", "tag:vanbulk_preflight", "--target", "duckdb"]


@pytest.fixture
def project(tmp_path) -> Path:
    p = tmp_path / "proj"
    (p / "models").mkdir(parents=True)
    (p / "seeds").mkdir()
    (p / "macros").mkdir()
    (p / "dbt_project.yml").write_text("name: p\nprofile: p\nmodel-paths: [models]\n")
    (p / "models" / "v.sql").write_text("select * from {{ ref('s') }} where x = '{{ env_var('SHOP_REGION') }}'\n")
    (p / "seeds" / "s.csv").write_text("x\n1\n")
    (p / "macros" / "m.sql").write_text("{% macro m() %}1{% endmacro %}\n")
    (p / "profiles.yml").write_text("p:\n  outputs:\n    duckdb:\n      password: \"{{ env_var('DBT_ENV_SECRET_PW') }}\"\n")
    return p


def fp(project: Path, cmd=CMD, env=None) -> str:
    return fingerprint(cmd, project, project, env if env is not None else {"SHOP_REGION": "ne", "DBT_ENV_SECRET_PW": "s3"})


@pytest.mark.parametrize("change", [
    lambda p: (p / "models" / "v.sql").write_text("select 2\n"),
    lambda p: (p / "seeds" / "s.csv").write_text("x\n2\n"),
    lambda p: (p / "macros" / "m.sql").write_text("{% macro m() %}2{% endmacro %}\n"),
    lambda p: (p / "models" / "new.sql").write_text("select 1\n"),
    lambda p: (p / "models" / "v.sql").rename(p / "models" / "w.sql"),
    lambda p: (p / "profiles.yml").write_text("p: {}\n"),
    lambda p: (p / "packages.yml").write_text("packages: []\n"),
    lambda p: (p / "dbt_packages" / "vanbulk" / "macros").mkdir(parents=True) or
    (p / "dbt_packages" / "vanbulk" / "macros" / "x.sql").write_text("x"),
], ids=["model", "seed", "macro", "new model", "renamed", "profile", "packages", "installed package"])
def test_a_change_dbt_would_read_moves_the_fingerprint(project, change):
    before = fp(project)
    assert fp(project) == before  # stable
    change(project)
    assert fp(project) != before


def test_what_dbt_does_not_read_leaves_it(project):
    before = fp(project)
    for d in ("target", "logs", "dbt_packages/vanbulk/target", "models/.git"):
        (project / d).mkdir(parents=True, exist_ok=True)
        (project / d / "manifest.json").write_text("{}")
    (project / "warehouse.duckdb").write_bytes(b"\0" * 10)  # the analyst's DuckDB file beside the project
    assert fp(project, env={"SHOP_REGION": "ne", "DBT_ENV_SECRET_PW": "s3", "UNRELATED": "x"}) == before


def test_the_command_and_the_named_environment_move_it(project):
    before = fp(project)
    assert fp(project, cmd=CMD + ["--vars", "{a: 1}"]) != before
    assert fp(project, cmd=CMD[:-1] + ["postgres"]) != before
    assert fp(project, env={"SHOP_REGION": "sw", "DBT_ENV_SECRET_PW": "s3"}) != before
    assert fp(project, env={"SHOP_REGION": "", "DBT_ENV_SECRET_PW": "s3"}) != before
    assert fp(project, env={"DBT_ENV_SECRET_PW": "s3"}) not in (before, fp(project, env={"SHOP_REGION": ""}))


def test_dbt_secrets_never_enter_it(project):
    """A credential changes where dbt logs in, not the SQL; and the fingerprint is stored in a table, where a hash
    of known files plus a password could be guessed back."""
    before = fp(project)
    assert fp(project, env={"SHOP_REGION": "ne", "DBT_ENV_SECRET_PW": "other"}) == before
    assert fp(project, env={"SHOP_REGION": "ne"}) == before


def test_an_unreadable_project_is_never_left_out(tmp_path):
    (tmp_path / "dbt_project.yml").write_text("name: [unclosed\n")
    assert fingerprint(CMD, tmp_path, tmp_path, {}) is None


def _node(kind, name, **extra):
    node = {"resource_type": kind, "name": name, "database": "db", "schema": "van_staging", "config": {}, "tags": []}
    for key, value in extra.items():
        (node["config"] if key in ("materialized", "pre-hook", "post-hook") else node).__setitem__(key, value)
    return node


def _manifest(*nodes) -> dict:
    return {"macros": {}, "nodes": {f"{n['resource_type']}.p.{n['name']}": n for n in nodes}}


VIEWS = [_node("model", "stg_a", materialized="view"), _node("model", "eph", materialized="ephemeral"),
         _node("seed", "demo_a"), _node("test", "unique_stg_a", tags=["vanbulk_preflight"]),
         _node("test", "unique_demo_a", depends_on={"nodes": ["seed.p.demo_a"]}),
         _node("test", "ledger_rate", tags=["vanbulk_ledger"]),
         _node("test", "unique_disabled_seed", depends_on={"nodes": []}, config={"enabled": False})]


def test_views_seeds_and_excluded_tests_stand():
    views, why = standing_views(_manifest(*VIEWS, _node("model", "stg_b", materialized="view", alias="b_alias")))
    assert why == "" and views == [["db", "van_staging", "stg_a"], ["db", "van_staging", "b_alias"]]


@pytest.mark.parametrize("node, reason", [
    (_node("model", "t", materialized="table"), "materialized as table"),
    (_node("model", "i", materialized="incremental"), "materialized as incremental"),
    (_node("model", "h", materialized="view", **{"post-hook": ["grant select"]}), "has hooks"),
    (_node("test", "not_null_stg_a", depends_on={"nodes": ["model.p.stg_a"]}), "data test"),
    (_node("test", "mixed", depends_on={"nodes": ["seed.p.demo_a", "model.p.stg_a"]}), "data test"),
    (_node("snapshot", "snap"), "snapshot"),
    (_node("operation", "p-on-run-end-0"), "operation"),
])
def test_anything_that_depends_on_the_data_builds_every_run(node, reason):
    views, why = standing_views(_manifest(*VIEWS, node))
    assert views is None and reason in why and node["name"] in why


def test_only_what_the_build_ran_counts_but_on_run_hooks_always_do():
    table, hook = _node("model", "t", materialized="table"), _node("operation", "p-on-run-end-0")
    manifest = _manifest(*VIEWS, table, _node("model", "monitoring", materialized="view"))
    ran = ["model.p.stg_a", "seed.p.demo_a", "test.p.unique_stg_a"]
    assert standing_views(manifest, ran) == ([["db", "van_staging", "stg_a"]], "")  # the table was not selected
    assert standing_views(_manifest(*VIEWS, hook), ran)[0] is None


def test_no_manifest_builds():
    assert standing_views({})[0] is None


def test_the_installed_dbt_versions_are_in_it():
    """Upgrading dbt or an adapter rebuilds: their versions are read from the installed packages' directories."""
    from importlib import metadata

    from connector.dbt_state import _dbt_versions

    found = _dbt_versions()
    for dist in ("dbt-core", "dbt-duckdb", "dbt-postgres"):
        assert f"{dist.replace('-', '_')}-{metadata.version(dist)}" in found, found
    assert all(n.startswith("dbt") for n in found)


def _rec(base, fp, views=(("db", "s", "v"),)):
    return {"base": base, "fingerprint": fp, "views": None if views is None else [list(v) for v in views]}


def test_a_build_stands_across_builds_of_other_selections_from_the_same_project():
    base = "b" * 64
    full, email = dbt_state.with_selection(base, None), dbt_state.with_selection(base, ["+stg_van__email"])
    assert full != email and dbt_state.with_selection(base, ["x", "y"]) == dbt_state.with_selection(base, ["y", "x"])
    newest_first = [_rec(base, email), _rec(base, full, [("db", "s", "a"), ("db", "s", "b")])]
    assert dbt_state.standing_build(newest_first, base, full)["views"] == [["db", "s", "a"], ["db", "s", "b"]]
    assert dbt_state.standing_build(newest_first, base, email)["views"] == [["db", "s", "v"]]


@pytest.mark.parametrize("between", [
    _rec("c" * 64, "other"),          # a build from other SQL, vars or target: the views may have changed
    {"fingerprint": "other", "views": []},  # a record from before `base`: unknown, so build
    {},                                # a record that did not read
])
def test_anything_else_between_ends_the_search(between):
    base = "b" * 64
    full = dbt_state.with_selection(base, None)
    assert dbt_state.standing_build([between, _rec(base, full)], base, full) is None


def test_the_newest_build_of_the_selection_decides():
    base = "b" * 64
    full = dbt_state.with_selection(base, None)
    # the newest full build could not be left out next time (a data test, unfinished): an older one does not count
    assert dbt_state.standing_build([_rec(base, full, None), _rec(base, full)], base, full) is None
    assert dbt_state.standing_build([], base, full) is None
