{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}
{#- Synthetic recorder deeds in the canonical sales shape (int_sales_unioned), with the
    attributes of the assessor roll valid in the sale year. A view, like the union: fct_sales'
    incremental loaded_at filter reaches the raw scan. -#}
with

recorder_sales as (

    select * from {{ ref('stg_recorder__sales') }}

),

parcels as (

    select * from {{ ref('int_parcels_versioned') }}

),

final as (

    select
        'syn:' || recorder_sales.sale_id as sale_id,
        recorder_sales.sale_id as source_sale_id,
        'synthetic' as source_system,
        'syn:' || recorder_sales.parcel_id as property_id,
        parcels.region_id,
        parcels.submarket_id,
        parcels.property_class as source_property_code,
        recorder_sales.deed_type as transfer_code,
        parcels.postcode,
        recorder_sales.sale_price,
        parcels.reference_assessed_value,
        parcels.assessed_value,
        parcels.roll_year as assessed_roll_year,
        parcels.living_sqft,
        parcels.lot_sqft,
        cast(null as integer) as above_grade_sqft,
        cast(null as integer) as basement_sqft,
        cast(null as integer) as nearby_living_sqft,
        cast(null as integer) as nearby_lot_sqft,
        parcels.bedrooms,
        parcels.bathrooms,
        parcels.stories,
        parcels.year_built,
        cast(null as smallint) as year_renovated,
        parcels.condition_code,
        parcels.quality_grade,
        cast(null as smallint) as view_score,
        parcels.latitude,
        parcels.longitude,
        recorder_sales.is_related_party,
        cast(null as boolean) as is_waterfront,
        cast(null as boolean) as is_new_build,
        recorder_sales.sale_date,
        recorder_sales.recording_date,
        recorder_sales.file_key,
        recorder_sales.loaded_at
    from recorder_sales
    left join parcels
        on
            recorder_sales.parcel_id = parcels.parcel_id
            and extract(year from recorder_sales.sale_date) between parcels.valid_from_year and parcels.valid_to_year

)

select * from final
