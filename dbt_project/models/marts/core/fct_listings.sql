{#- One row per MLS listing lifecycle (synthetic MLS feed), with the property's region and
    submarket and the listing's currency. -#}
with

listings as (

    select * from {{ ref('int_listings_summarized') }}

),

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
        cast(listings.last_event_at as timestamp) as last_event_at
    from listings
    left join parcels
        on listings.parcel_id = parcels.parcel_id
    left join regions
        on parcels.region_id = regions.region_id

)

select * from final
