{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}
{#- Every sale of every source in one canonical shape, with the property's attributes as of the
    sale: synthetic deeds joined to the assessor roll valid in the sale year, King County and NYC
    attributes as published with the sale, UK without areas. A view on purpose: fct_sales'
    incremental filter on loaded_at is pushed through this union down to each raw scan (every
    CTE is referenced once so PostgreSQL inlines it, and no window or aggregate sits on the path). -#}
with

recorder_sales as (

    select * from {{ ref('stg_recorder__sales') }}

),

parcels as (

    select * from {{ ref('int_parcels_versioned') }}

),

king_county_sales as (

    select * from {{ ref('stg_king_county__sales') }}

),

nyc_sales as (

    select * from {{ ref('stg_nyc_dof__rolling_sales') }}

),

uk_transactions as (

    select * from {{ ref('stg_uk_land_registry__transactions') }}

),

uk_districts as (

    select * from {{ ref('uk_districts') }}

),

synthetic as (

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

),

king_county as (

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

),

nyc as (

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

),

uk as (

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

),

unioned as (

    select * from synthetic
    union all
    select * from king_county
    union all
    select * from nyc
    union all
    select * from uk

),

final as (

    select
        cast(sale_id as varchar(64)) as sale_id,
        cast(source_sale_id as varchar(40)) as source_sale_id,
        cast(source_system as varchar(32)) as source_system,
        cast(property_id as varchar(64)) as property_id,
        cast(region_id as varchar(8)) as region_id,
        cast(submarket_id as varchar(64)) as submarket_id,
        cast(source_property_code as varchar(8)) as source_property_code,
        cast(transfer_code as varchar(8)) as transfer_code,
        cast(postcode as varchar(8)) as postcode,
        cast(sale_price as numeric(14, 2)) as sale_price,
        cast(reference_assessed_value as numeric(14, 2)) as reference_assessed_value,
        cast(assessed_value as numeric(14, 2)) as assessed_value,
        cast(assessed_roll_year as smallint) as assessed_roll_year,
        cast(living_sqft as integer) as living_sqft,
        cast(lot_sqft as integer) as lot_sqft,
        cast(above_grade_sqft as integer) as above_grade_sqft,
        cast(basement_sqft as integer) as basement_sqft,
        cast(nearby_living_sqft as integer) as nearby_living_sqft,
        cast(nearby_lot_sqft as integer) as nearby_lot_sqft,
        cast(bedrooms as smallint) as bedrooms,
        cast(bathrooms as numeric(4, 2)) as bathrooms,
        cast(stories as numeric(3, 1)) as stories,
        cast(year_built as smallint) as year_built,
        cast(year_renovated as smallint) as year_renovated,
        cast(condition_code as smallint) as condition_code,
        cast(quality_grade as smallint) as quality_grade,
        cast(view_score as smallint) as view_score,
        cast(latitude as numeric(9, 6)) as latitude,
        cast(longitude as numeric(9, 6)) as longitude,
        cast(is_related_party as boolean) as is_related_party,
        cast(is_waterfront as boolean) as is_waterfront,
        cast(is_new_build as boolean) as is_new_build,
        cast(sale_date as date) as sale_date,
        cast(recording_date as date) as recording_date,
        cast(file_key as varchar(1024)) as file_key,
        cast(loaded_at as timestamp with time zone) as loaded_at
    from unioned

)

select * from final
