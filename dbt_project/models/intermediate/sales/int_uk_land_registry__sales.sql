{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}
{#- UK Land Registry price-paid transactions in the canonical sales shape
    (int_sales_unioned), placed in their region by district; no areas. A view, like the union. -#}
with

uk_transactions as (

    select * from {{ ref('stg_uk_land_registry__transactions') }}

),

uk_districts as (

    select * from {{ ref('uk_districts') }}

),

final as (

    select
        'uk:' || uk_transactions.sale_id as sale_id,
        uk_transactions.sale_id as source_sale_id,
        'uk_land_registry' as source_system,
        'uk:' || uk_transactions.property_key as property_id,
        uk_districts.region_id,
        uk_districts.region_id || ':' || replace(uk_transactions.town, ' ', '_') as submarket_id,
        uk_transactions.property_type_code as source_property_code,
        uk_transactions.ppd_category as transfer_code,
        uk_transactions.postcode,
        uk_transactions.sale_price,
        cast(null as numeric(14, 2)) as reference_assessed_value,
        cast(null as numeric(14, 2)) as assessed_value,
        cast(null as smallint) as assessed_roll_year,
        cast(null as integer) as living_sqft,
        cast(null as integer) as lot_sqft,
        cast(null as integer) as above_grade_sqft,
        cast(null as integer) as basement_sqft,
        cast(null as integer) as nearby_living_sqft,
        cast(null as integer) as nearby_lot_sqft,
        cast(null as smallint) as bedrooms,
        cast(null as numeric(4, 2)) as bathrooms,
        cast(null as numeric(3, 1)) as stories,
        cast(null as smallint) as year_built,
        cast(null as smallint) as year_renovated,
        cast(null as smallint) as condition_code,
        cast(null as smallint) as quality_grade,
        cast(null as smallint) as view_score,
        cast(null as numeric(9, 6)) as latitude,
        cast(null as numeric(9, 6)) as longitude,
        false as is_related_party,
        cast(null as boolean) as is_waterfront,
        uk_transactions.is_new_build,
        uk_transactions.sale_date,
        cast(null as date) as recording_date,
        uk_transactions.file_key,
        uk_transactions.loaded_at
    from uk_transactions
    left join uk_districts
        on uk_transactions.district = uk_districts.district

)

select * from final
