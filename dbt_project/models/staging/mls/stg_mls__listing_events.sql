{#- One row per MLS event. An event delivered twice keeps its first delivery. The dedupe is an
    anti-join (a row survives unless an earlier delivery of the same event exists), not a window,
    so a filter on loaded_at (incremental models and tests) reaches the raw scan. -#}
with

source as (

    select * from {{ source_or_empty('mls', 'listing_events') }}

),

first_deliveries as (

    select source.*
    from source
    where not exists (
        select 1
        from {{ source_or_empty('mls', 'listing_events', alias='earlier') }}
        where
            earlier.event_id = source.event_id
            and {{ delivery_order('earlier') }} < {{ delivery_order('source') }}
    )

),

renamed as (

    select
        cast(event_id as varchar(24)) as event_id,
        cast(listing_id as varchar(24)) as listing_id,
        cast(parcel_id as varchar(20)) as parcel_id,
        cast(upper(trim(agent_id)) as varchar(16)) as agent_id,
        cast(lower(trim(event_type)) as varchar(16)) as event_type,
        cast(list_price as numeric(14, 2)) as list_price,
        cast(close_price as numeric(14, 2)) as close_price,
        cast(bedrooms as smallint) as bedrooms,
        cast(bathrooms as numeric(4, 2)) as bathrooms,
        cast(living_sqft as integer) as living_sqft,
        {{ to_utc_timestamp('event_at') }} as event_at,
        _file_key as file_key,
        _row_number as file_row_number,
        _loaded_at as loaded_at
    from first_deliveries

),

final as (

    select
        event_id,
        listing_id,
        parcel_id,
        agent_id,
        event_type,
        list_price,
        close_price,
        bedrooms,
        bathrooms,
        living_sqft,
        event_at,
        file_key,
        file_row_number,
        loaded_at
    from renamed

)

select * from final
