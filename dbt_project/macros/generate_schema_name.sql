{#- The staging contract needs exact schema names (`van_staging`, `van_input`) on every engine, not dbt's
    default `<target schema>_<custom schema>`. A project that installs vanbulk as a package must call this
    from its own generate_schema_name for vanbulk's nodes (see docs/dbt.md). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
