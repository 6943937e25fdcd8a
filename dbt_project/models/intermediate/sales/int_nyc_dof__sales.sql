{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}
{#- NYC DOF rolling sales in the canonical sales shape (int_sales_unioned), with the
    attributes published with the sale. A view, like the union. -#}
with

nyc_sales as (

    select * from {{ ref('stg_nyc_dof__rolling_sales') }}

),

final as (

    select
        'nyc:' || sale_id as sale_id,
        sale_id as source_sale_id,
        'nyc_dof' as source_system,
        'nyc:' || property_key as property_id,
        'NYC' as region_id,
        'NYC:' || cast(borough_code as varchar(1)) as submarket_id,
        building_class_category_code as source_property_code,
        cast(null as varchar(8)) as transfer_code,
        postcode,
        sale_price,
        cast(null as numeric(14, 2)) as reference_assessed_value,
        cast(null as numeric(14, 2)) as assessed_value,
        cast(null as smallint) as assessed_roll_year,
        living_sqft,
        lot_sqft,
        cast(null as integer) as above_grade_sqft,
        cast(null as integer) as basement_sqft,
        cast(null as integer) as nearby_living_sqft,
        cast(null as integer) as nearby_lot_sqft,
        cast(null as smallint) as bedrooms,
        cast(null as numeric(4, 2)) as bathrooms,
        cast(null as numeric(3, 1)) as stories,
        year_built,
        cast(null as smallint) as year_renovated,
        cast(null as smallint) as condition_code,
        cast(null as smallint) as quality_grade,
        cast(null as smallint) as view_score,
        cast(null as numeric(9, 6)) as latitude,
        cast(null as numeric(9, 6)) as longitude,
        false as is_related_party,
        cast(null as boolean) as is_waterfront,
        cast(null as boolean) as is_new_build,
        sale_date,
        cast(null as date) as recording_date,
        file_key,
        loaded_at
    from nyc_sales

)

select * from final
