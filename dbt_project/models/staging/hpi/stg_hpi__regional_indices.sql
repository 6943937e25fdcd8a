{#- One row per vendor series, region and month. A restated month (published again in a later
    file) keeps its latest publication. -#}
with

source as (

    select * from {{ source_or_empty('hpi', 'regional_index') }}

),

renamed as (

    select
        cast(upper(trim(series_id)) as varchar(16)) as series_id,
        cast(upper(trim(region_code)) as varchar(8)) as region_code,
        cast(index_value as numeric(12, 4)) as index_value,
        {{ month_start('period_month') }} as index_month,
        _file_key as file_key,
        _row_number as file_row_number,
        _loaded_at as loaded_at
    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by series_id, region_code, index_month
            order by loaded_at desc, file_key desc, file_row_number asc
        ) as occurrence
    from renamed

),

final as (

    select
        series_id,
        region_code,
        index_value,
        index_month,
        file_key,
        file_row_number,
        loaded_at
    from deduplicated
    where occurrence = 1

)

select * from final
