{#- AVM accuracy per model version, region and price band (the avm_price_bands band holding the
    estimate, so every valuation has one whether or not the property sold): the figures of
    mart_avm_performance within each band (both from macros/avm/avm_error_aggregates.sql). Bands
    are in the region's own currency. -#}
with

valuations as (

    select * from {{ ref('int_valuations_evaluated') }}

),

price_bands as (

    select * from {{ ref('avm_price_bands') }}

),

{{ avm_error_aggregates(
    'valuations',
    ['model_name', 'model_version', 'region_id', 'price_band'],
    volume_columns=['min(price_band_order) as price_band_order']
) }},

final as (

    select
        cast(performance.model_name as varchar(64)) as model_name,
        cast(performance.model_version as varchar(32)) as model_version,
        cast(performance.region_id as varchar(8)) as region_id,
        cast(performance.price_band as varchar(16)) as price_band,
        cast(performance.price_band_order as integer) as price_band_order,
        cast(price_bands.lower_bound as numeric(14, 2)) as price_band_lower,
        cast(price_bands.upper_bound as numeric(14, 2)) as price_band_upper,
        cast(performance.valuations_count as integer) as valuations_count,
        {{ avm_error_figures('performance') }}
    from performance
    left join price_bands
        on performance.price_band = price_bands.price_band

)

select * from final
