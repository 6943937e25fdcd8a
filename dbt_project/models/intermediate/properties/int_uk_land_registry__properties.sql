{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}
{#- UK dwellings as properties in the canonical shape (int_properties_unioned), placed in their
    region by district: the attributes of each dwelling's latest price-paid transaction, which is
    also its last transfer. A view: the union reads it only when the feed (or its change feed)
    changed; it is recomputed whole. -#}
with

uk_transactions as (

    select * from {{ ref('stg_uk_land_registry__transactions') }}

),

uk_districts as (

    select * from {{ ref('uk_districts') }}

),

uk_latest as (

    select
        uk_transactions.*,
        uk_districts.region_id,
        row_number() over (
            partition by uk_transactions.property_key
            order by uk_transactions.sale_date desc, uk_transactions.sale_id desc
        ) as recency
    from uk_transactions
    inner join uk_districts
        on uk_transactions.district = uk_districts.district

),

final as (

    select
        'uk:' || property_key as property_id,
        'uk_land_registry' as source_system,
        property_key as source_property_id,
        region_id,
        region_id || ':' || replace(town, ' ', '_') as submarket_id,
        property_type_code as source_property_code,
        address,
        saon as unit_number,
        town as city,
        postcode,
        cast(null as numeric(9, 6)) as latitude,
        cast(null as numeric(9, 6)) as longitude,
        cast(null as integer) as living_sqft,
        cast(null as integer) as lot_sqft,
        cast(null as smallint) as bedrooms,
        cast(null as numeric(4, 2)) as bathrooms,
        cast(null as numeric(3, 1)) as stories,
        cast(null as smallint) as year_built,
        cast(null as smallint) as year_renovated,
        cast(null as smallint) as condition_code,
        cast(null as smallint) as quality_grade,
        cast(null as smallint) as view_score,
        cast(null as boolean) as is_waterfront,
        cast(null as integer) as above_grade_sqft,
        cast(null as integer) as basement_sqft,
        cast(null as integer) as nearby_living_sqft,
        cast(null as integer) as nearby_lot_sqft,
        cast(null as integer) as residential_units,
        tenure_code,
        is_new_build,
        sale_date as attributes_as_of,
        sale_date as last_transfer_date,
        sale_price as last_transfer_price,
        cast(null as varchar(1024)) as last_transfer_file_key,
        loaded_at
    from uk_latest
    where
        recency = 1

)

select * from final
