{{
    config(
        materialized='incremental',
        unique_key='listing_id',
        on_schema_change='append_new_columns',
        incremental_strategy='delete+insert',
        meta={'test_scope_column': 'loaded_at'},
        **platform_config(indexes=[
            {'columns': ['listing_id'], 'unique': true},
            {'columns': ['loaded_at']},
            {'columns': ['listing_status']},
            {'columns': ['dbt_updated_at']},
            {'columns': ['parcel_id']},
        ]),
    )
}}
{#- One row per MLS listing: its lifecycle from first listing to close or withdrawal.
    days_on_market counts from the first listing to the sale, the (last) withdrawal, or the
    feed's latest event for listings still active or pending; inventory_exit_date (pending, or
    the final sale/withdrawal) ends the listing's time in active inventory.
    Incremental by listing: listings whose events int_listing_events_sequenced recomputed since
    this model's previous run, and every listing still open (active or pending: its days on
    market grow with the feed), are summarized again. -#}
with

{% if is_incremental() -%}
changed_listings as (

    select listing_id from {{ ref('int_listing_events_sequenced') }}
    where {{ updated_since_previous_run() }}
    union
    select listing_id from {{ this }}
    where listing_status in ('active', 'pending')

),

events as (

    select * from {{ ref('int_listing_events_sequenced') }}
    where listing_id in (select changed_listings.listing_id from changed_listings)

),
{%- else -%}
events as (

    select * from {{ ref('int_listing_events_sequenced') }}

),
{%- endif %}

feed as (

    select max(event_at) as feed_as_of
    from {{ ref('int_listing_events_sequenced') }}

),

with_last as (

    select
        *,
        last_value(event_type) over (
            partition by listing_id
            order by event_sequence
            rows between unbounded preceding and unbounded following
        ) as last_event_type,
        last_value(list_price) over (
            partition by listing_id
            order by event_sequence
            rows between unbounded preceding and unbounded following
        ) as last_list_price,
        first_value(agent_id) over (
            partition by listing_id
            order by event_sequence
            rows between unbounded preceding and unbounded following
        ) as listing_agent_id,
        first_value(living_sqft) over (
            partition by listing_id
            order by event_sequence
            rows between unbounded preceding and unbounded following
        ) as listed_living_sqft,
        first_value(bedrooms) over (
            partition by listing_id
            order by event_sequence
            rows between unbounded preceding and unbounded following
        ) as listed_bedrooms,
        first_value(bathrooms) over (
            partition by listing_id
            order by event_sequence
            rows between unbounded preceding and unbounded following
        ) as listed_bathrooms
    from events

),

summarized as (

    select
        listing_id,
        max(parcel_id) as parcel_id,
        max(listing_agent_id) as agent_id,
        max(last_event_type) as last_event_type,
        max(first_list_price) as first_list_price,
        max(last_list_price) as last_list_price,
        min(list_price) as lowest_list_price,
        max(close_price) as close_price,
        max(listed_living_sqft) as living_sqft,
        max(listed_bedrooms) as bedrooms,
        max(listed_bathrooms) as bathrooms,
        sum(case when is_price_cut then 1 else 0 end) as price_cut_count,
        max(price_cut_pct) as largest_price_cut_pct,
        max(cumulative_cut_pct) as total_price_cut_pct,
        sum(case when event_type = 'relisted' then 1 else 0 end) as relisted_count,
        count(*) as event_count,
        min(event_at) as listed_at,
        min(case when is_price_cut then event_at end) as first_price_cut_at,
        min(case when cumulative_cut_pct >= {{ var('alert_price_cut_threshold') }} then event_at end)
            as deep_cut_at,
        min(case when event_type = 'pending' then event_at end) as pending_at,
        max(case when event_type = 'sold' then event_at end) as sold_at,
        max(case when event_type = 'withdrawn' then event_at end) as withdrawn_at,
        max(event_at) as last_event_at,
        max(loaded_at) as loaded_at
    from with_last
    group by listing_id

),

final as (

    select
        summarized.listing_id,
        cast('syn:' || summarized.parcel_id as varchar(64)) as property_id,
        cast(summarized.parcel_id as varchar(20)) as parcel_id,
        cast(summarized.agent_id as varchar(16)) as agent_id,
        cast(
            case summarized.last_event_type
                when 'sold' then 'sold'
                when 'withdrawn' then 'withdrawn'
                when 'pending' then 'pending'
                else 'active'
            end as varchar(16)
        ) as listing_status,
        cast(summarized.first_list_price as numeric(14, 2)) as first_list_price,
        cast(summarized.last_list_price as numeric(14, 2)) as last_list_price,
        cast(summarized.lowest_list_price as numeric(14, 2)) as lowest_list_price,
        cast(summarized.close_price as numeric(14, 2)) as close_price,
        cast({{ safe_divide('summarized.close_price', 'summarized.last_list_price') }} as numeric(9, 6))
            as close_to_list_ratio,
        cast(summarized.living_sqft as integer) as living_sqft,
        cast(summarized.bedrooms as smallint) as bedrooms,
        cast(summarized.bathrooms as numeric(4, 2)) as bathrooms,
        cast(summarized.price_cut_count as integer) as price_cut_count,
        cast(coalesce(summarized.largest_price_cut_pct, 0) as numeric(9, 6)) as largest_price_cut_pct,
        cast(greatest(coalesce(summarized.total_price_cut_pct, 0), 0) as numeric(9, 6)) as total_price_cut_pct,
        cast(summarized.relisted_count as integer) as relisted_count,
        cast(summarized.event_count as integer) as event_count,
        cast(
            {{ dbt.datediff(
                'summarized.listed_at',
                "case summarized.last_event_type when 'sold' then summarized.sold_at"
                ~ " when 'withdrawn' then summarized.withdrawn_at else feed.feed_as_of end",
                'day'
            ) }} as integer
        ) as days_on_market,
        cast({{ dbt.datediff('summarized.listed_at', 'summarized.pending_at', 'day') }} as integer)
            as days_to_pending,
        summarized.listed_at,
        summarized.first_price_cut_at,
        summarized.deep_cut_at,
        summarized.pending_at,
        summarized.sold_at,
        summarized.withdrawn_at,
        summarized.last_event_at,
        cast(summarized.listed_at as date) as listed_date,
        cast(
            case summarized.last_event_type
                when 'sold' then summarized.sold_at
                when 'withdrawn' then summarized.withdrawn_at
            end as date
        ) as off_market_date,
        cast(
            coalesce(
                summarized.pending_at,
                case summarized.last_event_type
                    when 'sold' then summarized.sold_at
                    when 'withdrawn' then summarized.withdrawn_at
                end
            ) as date
        ) as inventory_exit_date,
        cast(summarized.loaded_at as timestamp with time zone) as loaded_at,
        {{ updated_at_now() }} as dbt_updated_at
    from summarized
    cross join feed

)

select * from final
