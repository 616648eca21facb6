-- Our CRM's volunteer sign-ups, shaped for vanbulk's Apply Activist Code view: a source_row_key, an optional
-- updated_at, and VAN's fields as snake_case columns (vanbulk normalises dates, ids and names).

with

volunteers as (

    select * from {{ ref('crm_volunteers') }}

),

activist_codes as (

    select
        crm_id as source_row_key,
        last_modified as updated_at,
        van_id,
        case signed_up_for
            when 'yard_sign' then 'Yard Sign Requested'
            when 'phonebank' then 'Phonebank Volunteer'
            when 'volunteer' then 'Volunteer Prospect'
        end as activist_code_id,
        recruiter_user_id as canvassed_by,
        signed_up_on as date_canvassed

    from volunteers
    where signed_up_for in ('yard_sign', 'phonebank', 'volunteer')

)

select * from activist_codes
