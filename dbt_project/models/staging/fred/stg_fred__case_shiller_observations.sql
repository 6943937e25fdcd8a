{#- One row per Case-Shiller series and month with a published value (FRED's "." placeholders
    arrive as nulls and are not observations). The latest delivery of a month wins. -#}
with

source as (

    select * from {{ source_or_empty('fred', 'case_shiller') }}

),

renamed as (

    select
        cast(upper(trim(series_id)) as varchar(32)) as series_id,
        cast(index_value as numeric(18, 6)) as index_value,
        {{ month_start('observation_date') }} as observation_month,
        _file_key as file_key,
        _row_number as file_row_number,
        _loaded_at as loaded_at
    from source
    where index_value is not null

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by series_id, observation_month
            order by loaded_at desc, file_key desc, file_row_number asc
        ) as occurrence
    from renamed

),

final as (

    select
        series_id,
        index_value,
        observation_month,
        file_key,
        file_row_number,
        loaded_at
    from deduplicated
    where occurrence = 1

)

select * from final
