{#- Where a staging view reads its rows from.

    Order: the var `vanbulk_input__<mapping type>` (name of one of your models or seeds, e.g. "my_activist_codes";
    "package.model" for another package's), then, when `vanbulk_demo` is true, the demo seed
    `demo_<mapping type>`, else the source table `van_input.<mapping type>`. A bare name refers to the root
    project (the two-argument ref, so dbt does not warn about a package node depending on the root project). -#}
{% macro van_input(name) -%}
    {%- set override = var('vanbulk_input__' ~ name, none) -%}
    {%- if override -%}
        {%- set parts = override.split('.', 1) if '.' in override else [project_name, override] -%}
        {{ return(ref(parts[0], parts[1])) }}
    {%- elif vanbulk.van_demo() -%}
        {{ return(ref('demo_' ~ name)) }}
    {%- else -%}
        {{ return(source('van_input', name)) }}
    {%- endif -%}
{%- endmacro %}


{#- Demo inputs: on by default only when vanbulk itself is the root project (`make demo`); a project that
    installs vanbulk as a package never reads or loads the demo seeds unless it sets vanbulk_demo: true. -#}
{% macro van_demo() -%}
    {{ return(var('vanbulk_demo', project_name == 'vanbulk')) }}
{%- endmacro %}


{#- The input relation's columns as {lower-case name: actual name}; none while dbt parses. -#}
{% macro van_input_columns(relation) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = {} -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do found.update({column.name | lower: column.name}) -%}
    {%- endfor -%}
    {%- if not found -%}
        {{ exceptions.raise_compiler_error("vanbulk: input relation " ~ relation ~ " has no columns; does it exist?") }}
    {%- endif -%}
    {%- if 'source_row_key' not in found -%}
        {{ exceptions.raise_compiler_error("vanbulk: input relation " ~ relation ~ " needs a source_row_key column") }}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}


{#- The input column for a VAN field: the snake_case name (`activist_code_id`) or VAN's own name in any case
    (`ActivistCodeID`, `activistcodeid`). A column the input does not have is blank (null) for every row. -#}
{% macro van_col(columns, names) -%}
    {%- if columns is none -%}
        {{ return('null') }}
    {%- endif -%}
    {%- for name in names -%}
        {%- if name | lower in columns -%}
            {{ return(adapter.quote(columns[name | lower])) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return('null') }}
{%- endmacro %}


{#- updated_at orders duplicate source_row_keys; inputs without it resolve duplicates by content alone. -#}
{% macro van_updated_at(columns) -%}
    {%- if columns is not none and 'updated_at' in columns -%}
        {{ return(adapter.quote(columns['updated_at'])) }}
    {%- endif -%}
    {{ return('cast(null as timestamp)') }}
{%- endmacro %}
