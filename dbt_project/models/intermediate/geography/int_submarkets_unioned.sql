{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_all_if_rebuilt() }}"],
    )
}}
{#- Every submarket (neighbourhood) of every region, with the region's metro, country and
    currency: synthetic ZIP codes (from the assessor roll), King County ZIP codes, NYC boroughs,
    UK post towns and the submarket codes (or postcodes) of the markets added with one staging
    model (int_market_feeds__sales). A hundred-odd rows distilled from every assessor roll: rebuilt whole, but
    only by a build after an assessor or UK delivery (rebuild_needed). -#}
{%- set rebuild = rebuild_needed() %}
{%- set feeds = feed_markets() | length > 0 %}
with

regions as (

    select * from {{ ref('regions') }}

),

parcels as (

    select * from {{ ref('stg_assessor__parcels') }}

),

kc_zipcodes as (

    select * from {{ ref('kc_zipcode_neighbourhoods') }}

),

nyc_boroughs as (

    select * from {{ ref('nyc_boroughs') }}

),

uk_transactions as (

    select * from {{ ref('stg_uk_land_registry__transactions') }}

),

uk_districts as (

    select * from {{ ref('uk_districts') }}

),

synthetic_submarkets as (

    select
        region_code as region_id,
        postcode as submarket_code,
        max(city) || ' ' || postcode as submarket_name,
        'synthetic' as source_system
    from parcels
    where postcode is not null
    group by region_code, postcode

),

king_county_submarkets as (

    select
        'SEA' as region_id,
        zipcode as submarket_code,
        neighbourhood_name as submarket_name,
        'king_county' as source_system
    from kc_zipcodes

),

nyc_submarkets as (

    select
        'NYC' as region_id,
        cast(borough_code as varchar(8)) as submarket_code,
        borough_name as submarket_name,
        'nyc_dof' as source_system
    from nyc_boroughs

),

uk_submarkets as (

    select distinct
        uk_districts.region_id,
        replace(uk_transactions.town, ' ', '_') as submarket_code,
        uk_transactions.town as submarket_name,
        'uk_land_registry' as source_system
    from uk_transactions
    inner join uk_districts
        on uk_transactions.district = uk_districts.district

),

{%- if feeds %}

feed_sales as (

    select * from {{ ref('int_market_feeds__sales') }}

),

{#- markets added with one staging model: each submarket code of their sales (the feed's
    submarket_code, else the postcode), named by the feed's submarket_name when it has one -#}
feed_submarkets as (

    select
        region_id,
        submarket_code,
        coalesce(max(submarket_name), submarket_code) as submarket_name,
        source_system
    from feed_sales
    where
        region_id is not null
        and submarket_code is not null
    group by region_id, submarket_code, source_system

),
{%- endif %}

unioned as (

    select * from synthetic_submarkets
    union all
    select * from king_county_submarkets
    union all
    select * from nyc_submarkets
    union all
    select * from uk_submarkets
    {%- if feeds %}
    union all
    select * from feed_submarkets
    {%- endif %}

),

final as (

    select
        cast(unioned.region_id || ':' || unioned.submarket_code as varchar(64)) as submarket_id,
        cast(unioned.region_id as varchar(8)) as region_id,
        cast(unioned.submarket_code as varchar(48)) as submarket_code,
        cast(unioned.submarket_name as varchar(100)) as submarket_name,
        cast(unioned.source_system as varchar(32)) as source_system,
        regions.region_name,
        regions.metro_name,
        regions.country_code,
        regions.currency_code
    from unioned
    inner join regions
        on unioned.region_id = regions.region_id

)

select * from final
{%- if not rebuild %}
where 1 = 0
{%- endif %}
