{#- Engine-specific SQL, behind adapter.dispatch. Everything else in this project is plain SQL that DuckDB
    and PostgreSQL both run. To support another engine, add `<adapter>__<macro>` implementations. -#}

{% macro van_string_type() -%}
    {{ return(adapter.dispatch('van_string_type', 'vanbulk')()) }}
{%- endmacro %}

{% macro default__van_string_type() -%}varchar{%- endmacro %}

{% macro postgres__van_string_type() -%}text{%- endmacro %}


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


{#- every match replaced (not only the first) -#}
{% macro van_regexp_replace_all(expr, pattern, replacement) -%}
    {{ return(adapter.dispatch('van_regexp_replace_all', 'vanbulk')(expr, pattern, replacement)) }}
{%- endmacro %}

{% macro default__van_regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}', 'g')
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


{#- The current time in UTC as a timestamp without time zone: the ledger stores naive UTC timestamps. -#}
{% macro van_utc_now() -%}
    {{ return(adapter.dispatch('van_utc_now', 'vanbulk')()) }}
{%- endmacro %}

{% macro default__van_utc_now() -%}
    cast(now() at time zone 'UTC' as timestamp)
{%- endmacro %}
