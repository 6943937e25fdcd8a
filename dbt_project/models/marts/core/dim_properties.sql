{#- One row per property of every source with its current attributes, location (region,
    submarket, metro, country) and currency, and its last recorded transfer.
    A view: the incremental int_properties_unioned holds the rows, this adds names from two small
    lookups, so a daily build rewrites only the properties that changed.
    One select without CTEs, on purpose: Postgres can then push a key lookup into the view (a
    relationships test or a join from a few new rows probes the property_id index), which it does not
    do through a view built from CTEs (it hashes all million rows instead). -#}
{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}

select
    cast(properties.property_id as varchar(64)) as property_id,
    cast(properties.source_property_id as varchar(48)) as source_property_id,
    cast(properties.region_id as varchar(8)) as region_id,
    cast(properties.submarket_id as varchar(64)) as submarket_id,
    cast(properties.source_system as varchar(32)) as source_system,
    cast(properties.source_property_code as varchar(8)) as source_property_code,
    cast(properties.property_type as varchar(32)) as property_type,
    cast(properties.property_subtype as varchar(32)) as property_subtype,
    cast(properties.address as varchar(320)) as address,
    cast(properties.unit_number as varchar(100)) as unit_number,
    cast(properties.city as varchar(100)) as city,
    cast(properties.postcode as varchar(8)) as postcode,
    cast(submarkets.submarket_name as varchar(100)) as submarket_name,
    cast(regions.region_name as varchar(64)) as region_name,
    cast(regions.metro_name as varchar(96)) as metro_name,
    cast(regions.country_code as varchar(2)) as country_code,
    cast(regions.currency_code as varchar(3)) as currency_code,
    cast(properties.tenure_code as varchar(1)) as tenure_code,
    cast(properties.latitude as numeric(9, 6)) as latitude,
    cast(properties.longitude as numeric(9, 6)) as longitude,
    cast(properties.living_sqft as integer) as living_sqft,
    cast(properties.lot_sqft as integer) as lot_sqft,
    cast(properties.above_grade_sqft as integer) as above_grade_sqft,
    cast(properties.basement_sqft as integer) as basement_sqft,
    cast(properties.nearby_living_sqft as integer) as nearby_living_sqft,
    cast(properties.nearby_lot_sqft as integer) as nearby_lot_sqft,
    cast(properties.bedrooms as smallint) as bedrooms,
    cast(properties.bathrooms as numeric(4, 2)) as bathrooms,
    cast(properties.stories as numeric(3, 1)) as stories,
    cast(properties.year_built as smallint) as year_built,
    cast(properties.year_renovated as smallint) as year_renovated,
    cast(properties.condition_code as smallint) as condition_code,
    cast(properties.quality_grade as smallint) as quality_grade,
    cast(properties.view_score as smallint) as view_score,
    cast(properties.residential_units as integer) as residential_units,
    cast(properties.last_transfer_price as numeric(14, 2)) as last_transfer_price,
    cast(properties.is_residential as boolean) as is_residential,
    cast(properties.is_waterfront as boolean) as is_waterfront,
    cast(properties.is_new_build as boolean) as is_new_build,
    cast(properties.attributes_as_of as date) as attributes_as_of,
    cast(properties.last_transfer_date as date) as last_transfer_date,
    cast(properties.loaded_at as timestamp with time zone) as loaded_at,
    cast(properties.dbt_updated_at as timestamp with time zone) as dbt_updated_at
from {{ ref('int_properties_unioned') }} as properties
left join {{ ref('int_submarkets_unioned') }} as submarkets
    on properties.submarket_id = submarkets.submarket_id
left join {{ ref('regions') }} as regions
    on properties.region_id = regions.region_id
