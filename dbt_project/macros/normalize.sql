{#- Value normalisers shared by every staging view. Each returns text: the canonical string VAN expects.

    The rule every macro here keeps: a value it cannot normalise comes out unchanged (only trimmed), never
    null, so the pre-flight checks see it and report it with its row, column and rule. Empty text is null
    (blank: VAN leaves the stored value unchanged). -#}

{#- The row key exactly as the source has it (text, never trimmed): keys that differ only by surrounding spaces
    stay two rows, and pre-flight rejects such a key with its reason instead of one row silently vanishing. -#}
{% macro van_key(expr) -%}
    cast({{ expr }} as {{ vanbulk.van_string_type() }})
{%- endmacro %}


{% macro van_text(expr) -%}
    nullif({{ vanbulk.van_trim('cast(' ~ expr ~ ' as ' ~ vanbulk.van_string_type() ~ ')') }}, '')
{%- endmacro %}


{#- ISO 8601 date, YYYY-MM-DD. Accepts YYYY-MM-DD (with an optional time part), YYYY/MM/DD,
    US M/D/YYYY and YYYYMMDD; calendar validity is the pre-flight's job. -#}
{% macro van_date(expr) -%}
    {%- set t = vanbulk.van_text(expr) -%}
    case
        when {{ vanbulk.van_regexp_like(t, '^[0-9]{4}-[0-9]{2}-[0-9]{2}$') }}
            then {{ t }}
        when {{ vanbulk.van_regexp_like(t, '^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?([+-][0-9:]+|Z)?$') }}
            then substr({{ t }}, 1, 10)
        when {{ vanbulk.van_regexp_like(t, '^[0-9]{4}/[0-9]{2}/[0-9]{2}$') }}
            then replace({{ t }}, '/', '-')
        when {{ vanbulk.van_regexp_like(t, '^(0?[1-9]|1[0-2])/(0?[1-9]|[12][0-9]|3[01])/[0-9]{4}$') }}
            then {{ vanbulk.van_split_part(t, '/', 3) }}
                || '-' || lpad({{ vanbulk.van_split_part(t, '/', 1) }}, 2, '0')
                || '-' || lpad({{ vanbulk.van_split_part(t, '/', 2) }}, 2, '0')
        when {{ vanbulk.van_regexp_like(t, '^[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])$') }}
            then substr({{ t }}, 1, 4) || '-' || substr({{ t }}, 5, 2) || '-' || substr({{ t }}, 7, 2)
        else {{ t }}
    end
{%- endmacro %}


{% macro van_email(expr) -%}
    lower({{ vanbulk.van_text(expr) }})
{%- endmacro %}


{#- Digits only. A US number written with a leading 1 loses it (10 digits); anything that is not phone-like
    punctuation around 7 to 15 digits (letters, extensions, too short) passes through. -#}
{% macro van_phone(expr) -%}
    {%- set t = vanbulk.van_text(expr) -%}
    {%- set digits = vanbulk.van_regexp_replace_all(t, '[^0-9]', '') -%}
    case
        when not {{ vanbulk.van_regexp_like(t, '^[+]?[0-9() .-]+$') }}
            then {{ t }}
        when length({{ digits }}) = 11 and substr({{ digits }}, 1, 1) = '1' and substr({{ t }}, 1, 1) != '+'
            then substr({{ digits }}, 2)
        when substr({{ t }}, 1, 2) = '+1' and length({{ digits }}) = 11
            then substr({{ digits }}, 2)
        when length({{ digits }}) between 7 and 15
            then {{ digits }}
        else {{ t }}
    end
{%- endmacro %}


{#- ZIP: 5 digits, or 9 digits for ZIP+4 (12345-6789 -> 123456789). -#}
{% macro van_zip(expr) -%}
    {%- set t = vanbulk.van_text(expr) -%}
    case
        when {{ vanbulk.van_regexp_like(t, '^[0-9]{5}([- ]?[0-9]{4})?$') }}
            then {{ vanbulk.van_regexp_replace_all(t, '[^0-9]', '') }}
        else {{ t }}
    end
{%- endmacro %}




{#- Two-letter upper-case state or province code; US state names become their code. -#}
{% macro van_state(expr) -%}
    {%- set _van_states = {
    'alabama': 'AL', 'alaska': 'AK', 'arizona': 'AZ', 'arkansas': 'AR', 'california': 'CA', 'colorado': 'CO',
    'connecticut': 'CT', 'delaware': 'DE', 'district of columbia': 'DC', 'florida': 'FL', 'georgia': 'GA',
    'hawaii': 'HI', 'idaho': 'ID', 'illinois': 'IL', 'indiana': 'IN', 'iowa': 'IA', 'kansas': 'KS',
    'kentucky': 'KY', 'louisiana': 'LA', 'maine': 'ME', 'maryland': 'MD', 'massachusetts': 'MA',
    'michigan': 'MI', 'minnesota': 'MN', 'mississippi': 'MS', 'missouri': 'MO', 'montana': 'MT',
    'nebraska': 'NE', 'nevada': 'NV', 'new hampshire': 'NH', 'new jersey': 'NJ', 'new mexico': 'NM',
    'new york': 'NY', 'north carolina': 'NC', 'north dakota': 'ND', 'ohio': 'OH', 'oklahoma': 'OK',
    'oregon': 'OR', 'pennsylvania': 'PA', 'rhode island': 'RI', 'south carolina': 'SC', 'south dakota': 'SD',
    'tennessee': 'TN', 'texas': 'TX', 'utah': 'UT', 'vermont': 'VT', 'virginia': 'VA', 'washington': 'WA',
    'west virginia': 'WV', 'wisconsin': 'WI', 'wyoming': 'WY', 'puerto rico': 'PR', 'guam': 'GU',
    'virgin islands': 'VI', 'american samoa': 'AS', 'northern mariana islands': 'MP'
} -%}
    {%- set t = vanbulk.van_text(expr) -%}
    case
        when {{ vanbulk.van_regexp_like(t, '^[A-Za-z]{2}$') }} then upper({{ t }})
        {%- for name, code in _van_states.items() %}
        when lower({{ t }}) = '{{ name }}' then '{{ code }}'
        {%- endfor %}
        else {{ t }}
    end
{%- endmacro %}


{#- ISO 3166 alpha-2, upper case; common spellings of the United States become US. -#}
{% macro van_country(expr) -%}
    {%- set t = vanbulk.van_text(expr) -%}
    case
        when {{ vanbulk.van_regexp_like(t, '^[A-Za-z]{2}$') }} then upper({{ t }})
        when lower({{ t }}) in ('usa', 'u.s.', 'u.s.a.', 'united states', 'united states of america') then 'US'
        else {{ t }}
    end
{%- endmacro %}


{#- Integers and ids: "+42", "42.0" -> "42". -#}
{% macro van_integer(expr) -%}
    {%- set t = vanbulk.van_text(expr) -%}
    case
        when {{ vanbulk.van_regexp_like(t, '^[+]?[0-9]+([.]0+)?$') }}
            then {{ vanbulk.van_regexp_replace_all(vanbulk.van_regexp_replace_all(t, '^[+]', ''), '[.]0+$', '') }}
        else {{ t }}
    end
{%- endmacro %}


{#- Amounts: currency signs, thousands separators and spaces dropped ("$1,250.00" -> "1250.00"). -#}
{% macro van_decimal(expr) -%}
    {%- set t = vanbulk.van_text(expr) -%}
    {%- set bare = vanbulk.van_regexp_replace_all(t, '[$, ]', '') -%}
    case
        when {{ vanbulk.van_regexp_like(bare, '^-?([0-9]+([.][0-9]+)?|[.][0-9]+)$') }} then {{ bare }}
        else {{ t }}
    end
{%- endmacro %}


{#- Booleans as the field's VAN value ids (Y/N, 1/0, ...). -#}
{% macro van_boolean(expr, true_id, false_id) -%}
    {%- set t = vanbulk.van_text(expr) -%}
    case
        when lower({{ t }}) in ('y', 'yes', 'true', 't', '1') then '{{ true_id }}'
        when lower({{ t }}) in ('n', 'no', 'false', 'f', '0') then '{{ false_id }}'
        else {{ t }}
    end
{%- endmacro %}


{#- Predefined values: a value given by its (unique) name becomes its id, as VAN recommends ids. -#}
{% macro van_value_id(expr, names_to_ids) -%}
    {%- if not names_to_ids -%}
        {{ return(expr) }}
    {%- endif -%}
    case
        {%- for name, value_id in names_to_ids.items() %}
        when lower({{ expr }}) = '{{ name | replace("'", "''") }}' then '{{ value_id | replace("'", "''") }}'
        {%- endfor %}
        else {{ expr }}
    end
{%- endmacro %}
