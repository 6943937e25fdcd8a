{#- One row per parcel and roll year. When a roll year is delivered more than once (a mid-year
    snapshot after the January roll) the latest delivery wins (the first line of it, should a
    file repeat a parcel). The dedupe is an anti-join (a row survives unless a superseding
    delivery of the same parcel and roll year exists), not a window, so a filter on loaded_at
    (incremental models and tests) reaches the raw scan. -#}
with

source as (

    select * from {{ source_or_empty('assessor', 'parcels') }}

),

latest_deliveries as (

    select source.*
    from source
    where not exists (
        select 1
        from {{ source_or_empty('assessor', 'parcels', alias='superseding') }}
        where
            superseding.parcel_id = source.parcel_id
            and superseding.roll_year = source.roll_year
            and {{ supersede_order('superseding') }} > {{ supersede_order('source') }}
    )

),

renamed as (

    select
        cast(parcel_id as varchar(20)) as parcel_id,
        cast(roll_year as smallint) as roll_year,
        cast({{ standardize_address('situs_address') }} as varchar(128)) as address,
        cast(upper(trim(city)) as varchar(64)) as city,
        cast({{ standardize_us_postcode('postcode') }} as varchar(5)) as postcode,
        cast(upper(trim(region_code)) as varchar(8)) as region_code,
        cast(upper(trim(property_class)) as varchar(8)) as property_class,
        cast(latitude as numeric(9, 6)) as latitude,
        cast(longitude as numeric(9, 6)) as longitude,
        cast(living_sqft as integer) as living_sqft,
        cast(land_sqft as integer) as lot_sqft,
        cast(bedrooms as smallint) as bedrooms,
        cast(bathrooms as numeric(4, 2)) as bathrooms,
        cast(year_built as smallint) as year_built,
        cast(stories as numeric(3, 1)) as stories,
        cast(condition_code as smallint) as condition_code,
        cast(quality_grade as smallint) as quality_grade,
        cast(land_value as numeric(14, 2)) as land_value,
        cast(improvement_value as numeric(14, 2)) as improvement_value,
        cast(total_assessed_value as numeric(14, 2)) as assessed_value,
        _file_key as file_key,
        _row_number as file_row_number,
        _loaded_at as loaded_at
    from latest_deliveries

),

final as (

    select
        parcel_id,
        roll_year,
        address,
        city,
        postcode,
        region_code,
        property_class,
        latitude,
        longitude,
        living_sqft,
        lot_sqft,
        bedrooms,
        bathrooms,
        year_built,
        stories,
        condition_code,
        quality_grade,
        land_value,
        improvement_value,
        assessed_value,
        file_key,
        file_row_number,
        loaded_at
    from renamed

)

select * from final
