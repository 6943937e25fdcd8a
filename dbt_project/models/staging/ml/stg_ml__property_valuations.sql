{#- One row per property, valuation date and model version, as written by batch scoring. -#}
with

source as (

    select * from {{ source_or_empty('ml', 'property_valuations') }}

),

final as (

    select
        cast(property_id as varchar(64)) as property_id,
        cast(model_name as varchar(64)) as model_name,
        cast(model_version as varchar(32)) as model_version,
        cast(estimate as numeric(14, 2)) as estimate,
        cast(lower as numeric(14, 2)) as estimate_lower,
        cast(upper as numeric(14, 2)) as estimate_upper,
        cast(valuation_date as date) as valuation_date,
        {{ to_utc_timestamp('scored_at') }} as scored_at
    from source

)

select * from final
