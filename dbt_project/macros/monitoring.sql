{#- Monitoring the connector from its ledger (docs/dbt.md, "Monitoring"): two tests for the ledger sources and
    the body of the vanbulk_sync_status model. The state and category names come from the generated callers
    (connector/ledger/states.py via `vanbulk catalog render-dbt`), never written here. The thresholds are vars:

      vanbulk_max_in_flight_hours   a job older than this and still not final is stuck (default 24)
      vanbulk_max_failure_rate      share of rows VAN failed, dropped or refused in the latest run of a
                                    mapping type above which the test fails (default 0.05)
-#}

{#- Jobs in a non-final state (exported ... ambiguous) for longer than max_hours since they were created. -#}
{% test vanbulk_no_stuck_jobs(model, in_flight_states, max_hours=none) %}
{%- set max_hours = max_hours if max_hours is not none else var('vanbulk_max_in_flight_hours', 24) %}
select job_key, run_id, van_job_id, mapping_types, local_state, van_status, created_at, submitted_at, last_polled_at
from {{ model }}
where local_state in ({% for s in in_flight_states %}'{{ s }}'{{ ', ' if not loop.last }}{% endfor %})
    and created_at < {{ vanbulk.van_hours_before_now(max_hours) }}
{% endtest %}


{#- Per mapping type, in its latest run with results: failed / (all rows with a result) above max_rate. -#}
{% test vanbulk_failure_rate_below(model, failed_statuses, max_rate=none, min_rows=1) %}
{%- set max_rate = max_rate if max_rate is not none else var('vanbulk_max_failure_rate', 0.05) %}
with

per_run as (

    select
        mapping_type,
        run_id,
        max(loaded_at) as last_loaded_at,
        count(*) as rows_with_result,
        sum(case when row_status in ({% for s in failed_statuses %}'{{ s }}'{{ ', ' if not loop.last }}{% endfor %})
                 then 1 else 0 end) as rows_failed

    from {{ model }}
    group by mapping_type, run_id

),

latest as (

    select
        *,
        row_number() over (partition by mapping_type order by last_loaded_at desc, run_id desc) as recency

    from per_run

)

select mapping_type, run_id, rows_with_result, rows_failed,
       cast(rows_failed as {{ dbt.type_float() }}) / rows_with_result as failure_rate
from latest
where recency = 1
    and rows_with_result >= {{ min_rows }}
    and cast(rows_failed as {{ dbt.type_float() }}) / rows_with_result > {{ max_rate | float }}
{% endtest %}


{#- The vanbulk_sync_status model: one row per mapping type, its latest (not dry) run that planned or rejected
    rows of it and went to the end (or has results for it), with what happened to them; runs that stopped
    before (interrupted, error, still running) and touched it since are counted apart, so a Ctrl-C during
    pre-flight does not hide the failures of the run before. Before the first `vanbulk run` the ledger tables
    do not exist: the view is then empty (same columns) until the next `dbt build`. -#}
{% macro van_sync_status(sent_categories, failed_statuses, in_flight_states, unfinished_run_statuses=[]) -%}
    {%- set runs = source('vanbulk_ledger', 'van_bulk_runs') -%}
    {%- set jobs = source('vanbulk_ledger', 'van_bulk_jobs') -%}
    {%- set results = source('vanbulk_ledger', 'van_bulk_row_results') -%}
    {%- set plan_counts = source('vanbulk_ledger', 'van_bulk_plan_counts') -%}
    {%- set rejects = source('vanbulk_ledger', 'van_preflight_rejects') -%}
    {%- set exists = {} -%}
    {%- for rel in [runs, jobs, results, plan_counts, rejects] -%}
        {%- do exists.update({rel.identifier: (not execute) or load_relation(rel) is not none}) -%}
    {%- endfor -%}
    {%- set text = vanbulk.van_string_type() -%}
    {%- set ready = exists[runs.identifier] and exists[jobs.identifier] and exists[results.identifier]
                    and exists[plan_counts.identifier] -%}
{%- if not ready %}
select
    cast(null as {{ text }}) as mapping_type, cast(null as {{ text }}) as run_id,
    cast(null as timestamp) as invoked_at, cast(null as timestamp) as finished_at,
    cast(null as {{ text }}) as run_status, cast(null as bigint) as rows_planned, cast(null as bigint) as rows_sent,
    cast(null as bigint) as rows_unchanged, cast(null as bigint) as rows_rejected,
    cast(null as bigint) as rows_processed, cast(null as bigint) as rows_failed,
    cast(null as bigint) as rows_awaiting_result, cast(null as {{ dbt.type_float() }}) as failure_rate,
    cast(null as bigint) as jobs_in_flight, cast(null as bigint) as runs_unfinished_since
{{ vanbulk.van_no_rows() }}
{%- else %}
with

runs as (

    select run_id, invoked_at, finished_at, status
    from {{ runs }}
    where not coalesce(dry_run, false)

),

planned as (

    select
        run_id,
        mapping_type,
        sum(row_count) as rows_planned,
        sum(case when category in ({{ vanbulk.van_sql_list(sent_categories) }}) then row_count else 0 end) as rows_sent,
        sum(case when category = 'unchanged' then row_count else 0 end) as rows_unchanged

    from {{ plan_counts }}
    group by run_id, mapping_type

),

rejected as (

    {%- if exists[rejects.identifier] %}
    select run_id, mapping_type, count(distinct source_row_key) as rows_rejected
    from {{ rejects }}
    group by run_id, mapping_type
    {%- else %}
    select cast(null as {{ text }}) as run_id, cast(null as {{ text }}) as mapping_type,
           cast(null as bigint) as rows_rejected
    {{ vanbulk.van_no_rows() }}
    {%- endif %}

),

touched as (

    select run_id, mapping_type from planned
    {{ vanbulk.van_union_distinct() }}
    select run_id, mapping_type from rejected

),

outcomes as (

    select
        run_id,
        mapping_type,
        sum(case when row_status = 'processed' then 1 else 0 end) as rows_processed,
        sum(case when row_status in ({{ vanbulk.van_sql_list(failed_statuses) }}) then 1 else 0 end) as rows_failed

    from {{ results }}
    group by run_id, mapping_type

),

touched_runs as (

    select
        touched.mapping_type,
        runs.*,
        case when runs.status in ({{ vanbulk.van_sql_list(unfinished_run_statuses or ['-']) }})
             and not exists (select 1 from outcomes o where o.run_id = touched.run_id
                             and o.mapping_type = touched.mapping_type)
             then 1 else 0 end as unfinished

    from touched
    inner join runs on runs.run_id = touched.run_id

),

latest as (

    select
        touched_runs.*,
        row_number() over (partition by mapping_type order by invoked_at desc, run_id desc) as recency,
        (select count(*) from touched_runs later where later.mapping_type = touched_runs.mapping_type
         and later.unfinished = 1 and later.invoked_at > touched_runs.invoked_at) as runs_unfinished_since

    from touched_runs
    where unfinished = 0

),

open_jobs as (

    select mapping_types, count(*) as jobs
    from {{ jobs }}
    where local_state in ({{ vanbulk.van_sql_list(in_flight_states) }})
    group by mapping_types

),

final as (

    select
        latest.mapping_type,
        latest.run_id,
        latest.invoked_at,
        latest.finished_at,
        latest.status as run_status,
        cast(coalesce(planned.rows_planned, 0) as bigint) as rows_planned,
        cast(coalesce(planned.rows_sent, 0) as bigint) as rows_sent,
        cast(coalesce(planned.rows_unchanged, 0) as bigint) as rows_unchanged,
        cast(coalesce(rejected.rows_rejected, 0) as bigint) as rows_rejected,
        cast(coalesce(outcomes.rows_processed, 0) as bigint) as rows_processed,
        cast(coalesce(outcomes.rows_failed, 0) as bigint) as rows_failed,
        cast(coalesce(planned.rows_sent, 0) - coalesce(outcomes.rows_processed, 0) - coalesce(outcomes.rows_failed, 0)
             as bigint) as rows_awaiting_result,
        cast(outcomes.rows_failed as {{ dbt.type_float() }})
            / nullif(outcomes.rows_processed + outcomes.rows_failed, 0) as failure_rate,
        cast(coalesce((select sum(open_jobs.jobs) from open_jobs
                       where '+' || open_jobs.mapping_types || '+' like '%+' || latest.mapping_type || '+%'), 0)
             as bigint) as jobs_in_flight,
        cast(latest.runs_unfinished_since as bigint) as runs_unfinished_since

    from latest
    left join planned on planned.run_id = latest.run_id and planned.mapping_type = latest.mapping_type
    left join rejected on rejected.run_id = latest.run_id and rejected.mapping_type = latest.mapping_type
    left join outcomes on outcomes.run_id = latest.run_id and outcomes.mapping_type = latest.mapping_type
    where latest.recency = 1

)

select * from final
{%- endif %}
{%- endmacro %}


{% macro van_sql_list(values) -%}
    {%- for v in values %}'{{ v }}'{{ ', ' if not loop.last }}{% endfor -%}
{%- endmacro %}
