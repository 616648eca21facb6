{#- The staging contract needs exact schema names (`van_staging`, `van_input`) on every engine, not dbt's
    default `<target schema>_<custom schema>`. dbt uses a package's own generate_schema_name for the package's
    nodes, so a project that installs vanbulk needs no override of its own (docs/dbt.md). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
