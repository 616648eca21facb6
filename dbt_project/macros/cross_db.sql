{#- Engine-specific SQL, behind adapter.dispatch. Everything else in this project is plain SQL that DuckDB,
    PostgreSQL, BigQuery (GoogleSQL) and Snowflake all run. To support another engine, add `<adapter>__<macro>`
    implementations. BigQuery is tested against an emulator that also accepts DuckDB-only functions: every
    compiled model is linted for GoogleSQL as well (tests/helpers/bigquery_lint.py). -#}

{% macro van_string_type() -%}
    {{ return(adapter.dispatch('van_string_type', 'vanbulk')()) }}
{%- endmacro %}

{% macro default__van_string_type() -%}varchar{%- endmacro %}

{% macro postgres__van_string_type() -%}text{%- endmacro %}

{% macro bigquery__van_string_type() -%}string{%- endmacro %}


{#- trim of spaces only (DuckDB's and PostgreSQL's one-argument trim; BigQuery's removes all Unicode whitespace,
    tabs and line breaks included, so it gets the characters to remove spelled out) -#}
{% macro van_trim(expr) -%}
    {{ return(adapter.dispatch('van_trim', 'vanbulk')(expr)) }}
{%- endmacro %}

{% macro default__van_trim(expr) -%}
    trim({{ expr }})
{%- endmacro %}

{% macro bigquery__van_trim(expr) -%}
    trim({{ expr }}, ' ')
{%- endmacro %}


{#- true when the whole text matches the (anchored) regular expression -#}
{% macro van_regexp_like(expr, pattern) -%}
    {{ return(adapter.dispatch('van_regexp_like', 'vanbulk')(expr, pattern)) }}
{%- endmacro %}

{% macro default__van_regexp_like(expr, pattern) -%}
    regexp_matches({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__van_regexp_like(expr, pattern) -%}
    ({{ expr }} ~ '{{ pattern }}')
{%- endmacro %}

{#- RE2, unanchored like regexp_matches: the patterns carry their own ^ and $ -#}
{% macro bigquery__van_regexp_like(expr, pattern) -%}
    regexp_contains({{ expr }}, r'{{ pattern }}')
{%- endmacro %}


{#- Snowflake: REGEXP_LIKE matches the whole text, REGEXP_INSTR anywhere (as regexp_matches); the pattern's
    backslashes doubled (a backslash is an escape character in Snowflake's quoted strings) -#}
{% macro snowflake__van_regexp_like(expr, pattern) -%}
    (regexp_instr({{ expr }}, '{{ pattern | replace("\\", "\\\\") }}') > 0)
{%- endmacro %}


{#- every match replaced (not only the first) -#}
{% macro van_regexp_replace_all(expr, pattern, replacement) -%}
    {{ return(adapter.dispatch('van_regexp_replace_all', 'vanbulk')(expr, pattern, replacement)) }}
{%- endmacro %}

{% macro default__van_regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{#- BigQuery's regexp_replace replaces every match and takes no flags -#}
{% macro bigquery__van_regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, r'{{ pattern }}', '{{ replacement }}')
{%- endmacro %}


{#- Snowflake's regexp_replace replaces every match; its fourth argument is a position, not flags -#}
{% macro snowflake__van_regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern | replace("\\", "\\\\") }}', '{{ replacement }}')
{%- endmacro %}


{#- the n-th (1-based) part of text split at a literal delimiter -#}
{% macro van_split_part(expr, delimiter, n) -%}
    {{ return(adapter.dispatch('van_split_part', 'vanbulk')(expr, delimiter, n)) }}
{%- endmacro %}

{% macro default__van_split_part(expr, delimiter, n) -%}
    split_part({{ expr }}, '{{ delimiter }}', {{ n }})
{%- endmacro %}

{#- BigQuery has no split_part (null, not '', past the last part) -#}
{% macro bigquery__van_split_part(expr, delimiter, n) -%}
    split({{ expr }}, '{{ delimiter }}')[safe_ordinal({{ n }})]
{%- endmacro %}


{#- byte-wise ordering of text, so duplicate resolution picks the same row on every engine -#}
{% macro van_binary_order(expr) -%}
    {{ return(adapter.dispatch('van_binary_order', 'vanbulk')(expr)) }}
{%- endmacro %}

{% macro default__van_binary_order(expr) -%}
    {{ expr }}
{%- endmacro %}

{% macro postgres__van_binary_order(expr) -%}
    {{ expr }} collate "C"
{%- endmacro %}

{#- BigQuery compares STRING byte by byte (no collation unless one is set): the bytes make that explicit -#}
{% macro bigquery__van_binary_order(expr) -%}
    cast({{ expr }} as bytes)
{%- endmacro %}


{#- The current time in UTC as a timestamp without time zone: the ledger stores naive UTC timestamps. -#}
{% macro van_utc_now() -%}
    {{ return(adapter.dispatch('van_utc_now', 'vanbulk')()) }}
{%- endmacro %}

{% macro default__van_utc_now() -%}
    cast(now() at time zone 'UTC' as timestamp)
{%- endmacro %}

{#- BigQuery: the ledger's UTC timestamps are TIMESTAMP columns (an instant, UTC), compared with the current
    instant; BigQuery has no now() and no `at time zone` -#}
{% macro bigquery__van_utc_now() -%}
    current_timestamp()
{%- endmacro %}


{#- Snowflake: SYSDATE() is the current UTC time as TIMESTAMP_NTZ (no `at time zone`) -#}
{% macro snowflake__van_utc_now() -%}
    sysdate()
{%- endmacro %}


{#- van_utc_now() minus a number of hours (may be fractional) -#}
{% macro van_hours_before_now(hours) -%}
    {{ return(adapter.dispatch('van_hours_before_now', 'vanbulk')(hours)) }}
{%- endmacro %}

{% macro default__van_hours_before_now(hours) -%}
    {{ vanbulk.van_utc_now() }} - interval '1 hour' * {{ hours | float }}
{%- endmacro %}

{#- BigQuery intervals take integers: whole seconds -#}
{% macro bigquery__van_hours_before_now(hours) -%}
    timestamp_sub({{ vanbulk.van_utc_now() }}, interval {{ (hours | float * 3600) | round | int }} second)
{%- endmacro %}


{#- Snowflake intervals do not multiply: whole seconds -#}
{% macro snowflake__van_hours_before_now(hours) -%}
    dateadd(second, -{{ (hours | float * 3600) | round | int }}, {{ vanbulk.van_utc_now() }})
{%- endmacro %}


{#- UNION that removes duplicate rows (BigQuery requires UNION DISTINCT spelled out) -#}
{% macro van_union_distinct() -%}
    {{ return(adapter.dispatch('van_union_distinct', 'vanbulk')()) }}
{%- endmacro %}

{% macro default__van_union_distinct() -%}union{%- endmacro %}

{% macro bigquery__van_union_distinct() -%}union distinct{%- endmacro %}


{#- ends a FROM-less select of typed nulls so that it returns no rows (BigQuery: "Query without FROM clause
    cannot have a WHERE clause") -#}
{% macro van_no_rows() -%}
    {{ return(adapter.dispatch('van_no_rows', 'vanbulk')()) }}
{%- endmacro %}

{% macro default__van_no_rows() -%}where 1 = 0{%- endmacro %}

{% macro bigquery__van_no_rows() -%}limit 0{%- endmacro %}
