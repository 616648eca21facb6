{#- vanbulk's views must land in exactly `van_staging` (the connector reads them there); our own models keep
    dbt's default naming. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if node.package_name == 'vanbulk' -%}
        {{ vanbulk.generate_schema_name(custom_schema_name, node) }}
    {%- else -%}
        {{ default__generate_schema_name(custom_schema_name, node) }}
    {%- endif -%}
{%- endmacro %}
