{{
    config(
        materialized='incremental',
        on_schema_change='append_new_columns',
        unique_key='listing_id',
        incremental_strategy='delete+insert',
        meta={'test_scope_column': 'loaded_at'},
        **platform_config(indexes=[
            {'columns': ['loaded_at']},
            {'columns': ['listing_status']},
            {'columns': ['dbt_updated_at']},
        ]),
    )
}}
{#- One row per MLS listing lifecycle (synthetic MLS feed), with the property's region and
    submarket and the listing's currency.
    Incremental by listing: listings int_listings_summarized recomputed since this model's previous
    run, those still open, and those of parcels whose latest roll changed since. -#}
with

{% if is_incremental() -%}
changed_listings as (

    select listing_id from {{ ref('int_listings_summarized') }}
    where {{ updated_since_previous_run() }}
    union
    select listing_id from {{ this }}
    where listing_status in ('active', 'pending')
    union
    select summarized.listing_id
    from {{ ref('int_listings_summarized') }} as summarized
    inner join {{ ref('int_parcels_versioned') }} as changed_parcels
        on summarized.parcel_id = changed_parcels.parcel_id
    where changed_parcels.is_latest_roll and {{ updated_since_previous_run('changed_parcels.dbt_updated_at') }}

),

listings as (

    select * from {{ ref('int_listings_summarized') }}
    where listing_id in (select changed_listings.listing_id from changed_listings)

),
{%- else -%}
listings as (

    select * from {{ ref('int_listings_summarized') }}

),
{%- endif %}

parcels as (

    select * from {{ ref('int_parcels_versioned') }}
    where is_latest_roll

),

regions as (

    select * from {{ ref('regions') }}

),

final as (

    select
        cast(listings.listing_id as varchar(24)) as listing_id,
        cast(listings.property_id as varchar(64)) as property_id,
        cast(parcels.region_id as varchar(8)) as region_id,
        cast(parcels.submarket_id as varchar(64)) as submarket_id,
        cast(listings.agent_id as varchar(16)) as agent_id,
        cast(listings.listing_status as varchar(16)) as listing_status,
        cast(coalesce(regions.currency_code, 'USD') as varchar(3)) as currency_code,
        cast(listings.first_list_price as numeric(14, 2)) as first_list_price,
        cast(listings.last_list_price as numeric(14, 2)) as last_list_price,
        cast(listings.lowest_list_price as numeric(14, 2)) as lowest_list_price,
        cast(listings.close_price as numeric(14, 2)) as close_price,
        cast(listings.close_to_list_ratio as numeric(9, 6)) as close_to_list_ratio,
        cast(listings.total_price_cut_pct as numeric(9, 6)) as total_price_cut_pct,
        cast(listings.largest_price_cut_pct as numeric(9, 6)) as largest_price_cut_pct,
        cast(listings.living_sqft as integer) as living_sqft,
        cast(listings.bedrooms as smallint) as bedrooms,
        cast(listings.bathrooms as numeric(4, 2)) as bathrooms,
        cast(listings.price_cut_count as integer) as price_cut_count,
        cast(listings.relisted_count as integer) as relisted_count,
        cast(listings.event_count as integer) as event_count,
        cast(listings.days_on_market as integer) as days_on_market,
        cast(listings.days_to_pending as integer) as days_to_pending,
        cast(listings.listing_status = 'sold' as boolean) as is_sold,
        cast(listings.deep_cut_at is not null as boolean) as has_deep_price_cut,
        cast(listings.listed_date as date) as listed_date,
        cast(listings.off_market_date as date) as off_market_date,
        cast(listings.inventory_exit_date as date) as inventory_exit_date,
        cast(listings.listed_at as timestamp) as listed_at,
        cast(listings.first_price_cut_at as timestamp) as first_price_cut_at,
        cast(listings.deep_cut_at as timestamp) as deep_price_cut_at,
        cast(listings.pending_at as timestamp) as pending_at,
        cast(listings.sold_at as timestamp) as sold_at,
        cast(listings.withdrawn_at as timestamp) as withdrawn_at,
        cast(listings.last_event_at as timestamp) as last_event_at,
        cast(listings.loaded_at as timestamp with time zone) as loaded_at,
        {{ updated_at_now() }} as dbt_updated_at
    from listings
    left join parcels
        on listings.parcel_id = parcels.parcel_id
    left join regions
        on parcels.region_id = regions.region_id

)

select * from final
