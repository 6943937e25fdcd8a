{#- One row per King County sale, keyed by parcel and sale date: a parcel sold twice is two
    sales (real resales), never a duplicate. Zero renovation years mean "never" and become null;
    zero bedrooms or bathrooms are kept as delivered (outlier flags come later). -#}
with

source as (

    select * from {{ source_or_empty('king_county', 'sales') }}

),

final as (

    select
        cast(trim(parcel_id) || '-' || cast(sale_date as varchar(10)) as varchar(32)) as sale_id,
        cast(trim(parcel_id) as varchar(20)) as parcel_id,
        cast({{ standardize_us_postcode('zipcode') }} as varchar(5)) as postcode,
        cast(price as numeric(14, 2)) as sale_price,
        cast(sqft_living as integer) as living_sqft,
        cast(sqft_lot as integer) as lot_sqft,
        cast(sqft_above as integer) as above_grade_sqft,
        cast(sqft_basement as integer) as basement_sqft,
        cast(sqft_living15 as integer) as nearby_living_sqft,
        cast(sqft_lot15 as integer) as nearby_lot_sqft,
        cast(bedrooms as smallint) as bedrooms,
        cast(bathrooms as numeric(4, 2)) as bathrooms,
        cast(floors as numeric(3, 1)) as stories,
        cast(view as smallint) as view_score,
        cast(condition as smallint) as condition_code,
        cast(grade as smallint) as quality_grade,
        cast(yr_built as smallint) as year_built,
        cast(nullif(yr_renovated, 0) as smallint) as year_renovated,
        cast(lat as numeric(9, 6)) as latitude,
        cast(long as numeric(9, 6)) as longitude,
        coalesce(waterfront = 1, false) as is_waterfront,
        cast(sale_date as date) as sale_date,
        _file_key as file_key,
        _row_number as file_row_number,
        _loaded_at as loaded_at
    from source

)

select * from final
