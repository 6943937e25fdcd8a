{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}
{#- Every sale of every source in one canonical shape, with the property's attributes as of the
    sale: one model per source (int_<source>__sales: synthetic deeds joined to the assessor roll
    valid in the sale year, King County and NYC attributes as published with the sale, UK without
    areas), unioned and typed here. The real markets come from var('markets')
    (macros/markets/markets.sql): a market added with one staging model (README "Add a market")
    arrives through int_market_feeds__sales without an edit here.
    Views on purpose: fct_sales' incremental filter on loaded_at is pushed through this union and
    the per-source views down to each raw scan (every CTE is referenced once so PostgreSQL inlines it, and no window or aggregate sits on the path). -#}
{#- each market's int_<market>__sales (var('markets'), macros/markets/markets.sql), ref()'d here -#}
{%- set market_sales = [] -%}
{%- for market in markets() if market not in feed_markets() -%}
{%- do market_sales.append([market, ref('int_' ~ market ~ '__sales')]) -%}
{%- endfor -%}
{#- the markets added with one staging model (feed_markets()): their sales, typed, from the one
    generic view, in this union's column order -#}
{%- set sale_columns = [
    'sale_id', 'source_sale_id', 'source_system', 'property_id', 'region_id', 'submarket_id',
    'source_property_code', 'transfer_code', 'postcode', 'sale_price', 'reference_assessed_value',
    'assessed_value', 'assessed_roll_year', 'living_sqft', 'lot_sqft', 'above_grade_sqft',
    'basement_sqft', 'nearby_living_sqft', 'nearby_lot_sqft', 'bedrooms', 'bathrooms', 'stories',
    'year_built', 'year_renovated', 'condition_code', 'quality_grade', 'view_score', 'latitude',
    'longitude', 'is_related_party', 'is_waterfront', 'is_new_build', 'sale_date', 'recording_date',
    'file_key', 'loaded_at',
] -%}
{%- if feed_markets() | length > 0 -%}
{%- do market_sales.append(['market_feeds', ref('int_market_feeds__sales')]) -%}
{%- endif -%}
with

synthetic as (

    select * from {{ ref('int_recorder__sales') }}

),

unioned as (

    select * from synthetic
    union all
    {{ union_markets(market_sales, sale_columns) }}

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
