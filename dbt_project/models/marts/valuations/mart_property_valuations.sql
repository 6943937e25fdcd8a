{#- The latest AVM valuation of each property (latest valuation date, then latest scoring, then
    highest model version) with the property's location and attributes from dim_properties. -#}
with

valuations as (

    select * from {{ ref('stg_ml__property_valuations') }}

),

properties as (

    select * from {{ ref('dim_properties') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by property_id
            order by valuation_date desc, scored_at desc, model_version desc
        ) as recency
    from valuations

),

final as (

    select
        cast(ranked.property_id as varchar(64)) as property_id,
        cast(ranked.model_name as varchar(64)) as model_name,
        cast(ranked.model_version as varchar(32)) as model_version,
        cast(properties.region_id as varchar(8)) as region_id,
        cast(properties.submarket_id as varchar(64)) as submarket_id,
        cast(properties.source_system as varchar(32)) as source_system,
        cast(properties.property_type as varchar(32)) as property_type,
        cast(properties.address as varchar(320)) as address,
        cast(properties.postcode as varchar(8)) as postcode,
        cast(properties.currency_code as varchar(3)) as currency_code,
        cast(ranked.estimate as numeric(14, 2)) as estimate,
        cast(ranked.estimate_lower as numeric(14, 2)) as estimate_lower,
        cast(ranked.estimate_upper as numeric(14, 2)) as estimate_upper,
        cast(
            {{ safe_divide('ranked.estimate_upper - ranked.estimate_lower', 'ranked.estimate') }}
            as numeric(10, 6)
        ) as interval_width_pct,
        cast({{ safe_divide('ranked.estimate', 'properties.living_sqft') }} as numeric(14, 2))
            as estimate_per_sqft,
        cast(properties.living_sqft as integer) as living_sqft,
        cast(properties.last_transfer_price as numeric(14, 2)) as last_transfer_price,
        cast(properties.property_id is not null as boolean) as is_known_property,
        cast(ranked.valuation_date as date) as valuation_date,
        cast(properties.last_transfer_date as date) as last_transfer_date,
        cast(ranked.scored_at as timestamp) as scored_at
    from ranked
    left join properties
        on ranked.property_id = properties.property_id
    where ranked.recency = 1

)

select * from final
