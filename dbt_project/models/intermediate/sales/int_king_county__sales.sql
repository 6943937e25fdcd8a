{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}
{#- King County sales in the canonical sales shape (int_sales_unioned), with the attributes
    published with the sale. A view, like the union. -#}
with

king_county_sales as (

    select * from {{ ref('stg_king_county__sales') }}

),

final as (

    select
        'kc:' || sale_id as sale_id,
        sale_id as source_sale_id,
        'king_county' as source_system,
        'kc:' || parcel_id as property_id,
        'SEA' as region_id,
        'SEA:' || postcode as submarket_id,
        'HOUSE' as source_property_code,
        cast(null as varchar(8)) as transfer_code,
        postcode,
        sale_price,
        cast(null as numeric(14, 2)) as reference_assessed_value,
        cast(null as numeric(14, 2)) as assessed_value,
        cast(null as smallint) as assessed_roll_year,
        living_sqft,
        lot_sqft,
        above_grade_sqft,
        basement_sqft,
        nearby_living_sqft,
        nearby_lot_sqft,
        bedrooms,
        bathrooms,
        stories,
        year_built,
        year_renovated,
        condition_code,
        quality_grade,
        view_score,
        latitude,
        longitude,
        false as is_related_party,
        is_waterfront,
        cast(null as boolean) as is_new_build,
        sale_date,
        cast(null as date) as recording_date,
        file_key,
        loaded_at
    from king_county_sales

)

select * from final
