{#- One staging view per VAN mapping type, all built by this macro (see docs/dbt.md, "The staging view contract").
    The models in models/van/ are generated (`vanbulk catalog render-dbt`) and only call it:

        {{ vanbulk.van_staging_view('activist_code', columns=[
            {'column': 'VanID', 'inputs': ['van_id', 'VanID'], 'normalize': 'integer', 'key': true},
            {'column': 'ActivistCodeID', 'inputs': ['activist_code_id', 'ActivistCodeID'], 'normalize': 'integer',
             'values': {'yard sign requested': '4150002'}},
            ...
        ]) }}

    name     the mapping type's short name: input var, demo seed and source table (macros/inputs.sql)
    output   'rows' (the staging view) or 'dropped' (the input rows it leaves out: source_row_key,
             drop_reason superseded | nothing_to_apply, duplicate_rank; models/van_dropped/)
    row_key_position  how many of `columns` come before source_row_key in the view (0: it comes first;
             1: after the resource key column, e.g. VanID - the catalogue's staging_columns order)
    columns  the view's columns other than source_row_key, in order; each a dict:
      column     VAN's column name, quoted as is in the view
      inputs     input column names, first found wins (van_col); none found: blank for every row
      normalize  text, date, email, phone, zip, state, country, integer, decimal (macros/normalize.sql), or
                 boolean with `ids`: [true id, false id]
      values     optional {lower-case value name: id}: unique value names that stand in for their ids
      key        true for a resource key column that is not a field: it is not a value to apply

    CTEs: source (the input relation) -> normalized (every column normalised text; updated_at)
    -> ranked (row_number per source_row_key: latest updated_at, nulls last, then the staging columns in
    order, ascending, byte order, nulls last) -> final (the first of each key, and only rows with at least one
    non-key value). -#}
{% macro van_staging_view(name, columns, output='rows', row_key_position=0) -%}
    {%- set input_relation = vanbulk.van_input(name) -%}
    {%- set input_columns = vanbulk.van_input_columns(input_relation) -%}
    {%- set value_columns = [] -%}
    {%- for c in columns if not c.get('key') -%}
        {%- do value_columns.append(adapter.quote(c['column'])) -%}
    {%- endfor -%}
    {%- if not value_columns -%}
        {{ exceptions.raise_compiler_error("vanbulk: staging view " ~ name ~ " has no value columns") }}
    {%- endif -%}
with

source as (

    select * from {{ input_relation }}

),

normalized as (

    select
        {{ vanbulk.van_key(vanbulk.van_col(input_columns, ['source_row_key'])) }} as source_row_key,
        {%- for c in columns %}
        {{ vanbulk.van_staging_column(input_columns, c) }} as {{ adapter.quote(c['column']) }},
        {%- endfor %}
        {{ vanbulk.van_updated_at(input_columns) }} as _vanbulk_updated_at

    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by source_row_key
            order by
                _vanbulk_updated_at desc nulls last,
                {%- for c in columns %}
                {{ vanbulk.van_binary_order(adapter.quote(c['column'])) }} asc nulls last{{ ',' if not loop.last }}
                {%- endfor %}
        ) as _vanbulk_rank

    from normalized

),

final as (

    {%- if output == 'dropped' %}
    {#- the input rows the view above leaves out, each with the reason (pre-flight records them) #}
    select
        source_row_key,
        case when _vanbulk_rank > 1 then 'superseded' else 'nothing_to_apply' end as drop_reason,
        _vanbulk_rank as duplicate_rank

    from ranked
    where not (_vanbulk_rank = 1 and coalesce({{ value_columns | join(', ') }}) is not null)
    {%- else %}
    select
        {%- for c in columns[:row_key_position] %}
        {{ adapter.quote(c['column']) }},
        {%- endfor %}
        source_row_key,
        {%- for c in columns[row_key_position:] %}
        {{ adapter.quote(c['column']) }}{{ ',' if not loop.last }}
        {%- endfor %}

    from ranked
    where _vanbulk_rank = 1
        and coalesce({{ value_columns | join(', ') }}) is not null
    {%- endif %}

)

select * from final
{%- endmacro %}


{#- One column of the normalized CTE: the input column (van_col), its normaliser, then value names -> ids. -#}
{% macro van_staging_column(input_columns, column) -%}
    {%- set normalizers = {
        'text': vanbulk.van_text, 'date': vanbulk.van_date, 'email': vanbulk.van_email,
        'phone': vanbulk.van_phone, 'zip': vanbulk.van_zip, 'state': vanbulk.van_state,
        'country': vanbulk.van_country, 'integer': vanbulk.van_integer, 'decimal': vanbulk.van_decimal,
    } -%}
    {%- set kind = column.get('normalize', 'text') -%}
    {%- set expr = vanbulk.van_col(input_columns, column['inputs']) -%}
    {%- if kind == 'boolean' -%}
        {%- set expr = vanbulk.van_boolean(expr, column['ids'][0], column['ids'][1]) -%}
    {%- elif kind in normalizers -%}
        {%- set expr = normalizers[kind](expr) -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("vanbulk: column " ~ column['column'] ~ " has unknown normalize '" ~ kind ~ "'") }}
    {%- endif -%}
    {%- if column.get('values') -%}
        {%- set expr = vanbulk.van_value_id(expr, column['values']) -%}
    {%- endif -%}
    {{ return(expr) }}
{%- endmacro %}
