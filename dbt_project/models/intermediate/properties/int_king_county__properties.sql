{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}
{#- King County parcels as properties in the canonical shape (int_properties_unioned): the
    attributes published with each parcel's latest sale, which is also its last transfer. A view:
    the union reads it only when the feed changed (a small feed, recomputed whole). -#}
with

king_county_sales as (

    select * from {{ ref('stg_king_county__sales') }}

),

king_county_latest as (

    select
        *,
        row_number() over (
            partition by parcel_id
            order by sale_date desc
        ) as recency
    from king_county_sales

),

final as (

    select
        'kc:' || parcel_id as property_id,
        'king_county' as source_system,
        parcel_id as source_property_id,
        'SEA' as region_id,
        'SEA:' || postcode as submarket_id,
        'HOUSE' as source_property_code,
        cast(null as varchar(128)) as address,
        cast(null as varchar(32)) as unit_number,
        cast(null as varchar(64)) as city,
        postcode,
        latitude,
        longitude,
        living_sqft,
        lot_sqft,
        bedrooms,
        bathrooms,
        stories,
        year_built,
        year_renovated,
        condition_code,
        quality_grade,
        view_score,
        is_waterfront,
        above_grade_sqft,
        basement_sqft,
        nearby_living_sqft,
        nearby_lot_sqft,
        cast(null as integer) as residential_units,
        cast(null as varchar(1)) as tenure_code,
        cast(null as boolean) as is_new_build,
        sale_date as attributes_as_of,
        sale_date as last_transfer_date,
        sale_price as last_transfer_price,
        cast(null as varchar(1024)) as last_transfer_file_key,
        loaded_at
    from king_county_latest
    where
        recency = 1

)

select * from final
