{#- One row per Zillow region and month with a value. Month-end dates also get the first day of
    their month so they line up with the other monthly indices. -#}
with

source as (

    select * from {{ source_or_empty('zillow', 'zhvi') }}

),

renamed as (

    select
        cast(region_id as integer) as zillow_region_id,
        cast(trim(region_name) as varchar(128)) as region_name,
        cast(lower(trim(region_type)) as varchar(16)) as region_type,
        cast(nullif(trim(state_name), '') as varchar(64)) as state_name,
        cast(size_rank as integer) as size_rank,
        cast(zhvi as numeric(14, 2)) as zhvi,
        cast(month_end as date) as month_end,
        {{ month_start('month_end') }} as value_month,
        _file_key as file_key,
        _row_number as file_row_number,
        _loaded_at as loaded_at
    from source
    where zhvi is not null

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by zillow_region_id, value_month
            order by loaded_at desc, file_key desc, file_row_number asc
        ) as occurrence
    from renamed

),

final as (

    select
        zillow_region_id,
        region_name,
        region_type,
        state_name,
        size_rank,
        zhvi,
        month_end,
        value_month,
        file_key,
        file_row_number,
        loaded_at
    from deduplicated
    where occurrence = 1

)

select * from final
