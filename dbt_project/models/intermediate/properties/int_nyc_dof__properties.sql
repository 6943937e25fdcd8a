{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}
{#- NYC DOF tax lots (and units) as properties in the canonical shape (int_properties_unioned):
    the attributes published with each lot's latest sale, which is also its last transfer. A view:
    the union reads it only when the feed changed (a small feed, recomputed whole). -#}
with

nyc_sales as (

    select * from {{ ref('stg_nyc_dof__rolling_sales') }}

),

nyc_latest as (

    select
        *,
        row_number() over (
            partition by property_key
            order by sale_date desc, sale_id desc
        ) as recency
    from nyc_sales

),

final as (

    select
        'nyc:' || property_key as property_id,
        'nyc_dof' as source_system,
        property_key as source_property_id,
        'NYC' as region_id,
        'NYC:' || cast(borough_code as varchar(1)) as submarket_id,
        building_class_category_code as source_property_code,
        address,
        unit_number,
        neighbourhood as city,
        postcode,
        cast(null as numeric(9, 6)) as latitude,
        cast(null as numeric(9, 6)) as longitude,
        living_sqft,
        lot_sqft,
        cast(null as smallint) as bedrooms,
        cast(null as numeric(4, 2)) as bathrooms,
        cast(null as numeric(3, 1)) as stories,
        year_built,
        cast(null as smallint) as year_renovated,
        cast(null as smallint) as condition_code,
        cast(null as smallint) as quality_grade,
        cast(null as smallint) as view_score,
        cast(null as boolean) as is_waterfront,
        cast(null as integer) as above_grade_sqft,
        cast(null as integer) as basement_sqft,
        cast(null as integer) as nearby_living_sqft,
        cast(null as integer) as nearby_lot_sqft,
        residential_units,
        cast(null as varchar(1)) as tenure_code,
        cast(null as boolean) as is_new_build,
        sale_date as attributes_as_of,
        sale_date as last_transfer_date,
        sale_price as last_transfer_price,
        cast(null as varchar(1024)) as last_transfer_file_key,
        loaded_at
    from nyc_latest
    where
        recency = 1

)

select * from final
