{#- AVM accuracy per model version, region and price band (the avm_price_bands band holding the
    estimate, so every valuation has one whether or not the property sold): the figures of
    mart_avm_performance within each band. Bands are in the region's own currency. -#}
with

valuations as (

    select * from {{ ref('int_valuations_evaluated') }}

),

price_bands as (

    select * from {{ ref('avm_price_bands') }}

),

evaluated as (

    select * from valuations
    where absolute_pct_error is not null

),

volumes as (

    select
        model_name,
        model_version,
        region_id,
        price_band,
        min(price_band_order) as price_band_order,
        count(*) as valuations_count
    from valuations
    group by model_name, model_version, region_id, price_band

),

accuracy as (

    select
        model_name,
        model_version,
        region_id,
        price_band,
        count(*) as evaluated_count,
        avg(case when absolute_pct_error <= 0.10 then 1.0 else 0.0 end) as ppe10,
        avg(case when absolute_pct_error <= 0.20 then 1.0 else 0.0 end) as ppe20,
        avg(cast(is_covered as numeric(10, 6))) as interval_coverage
    from evaluated
    group by model_name, model_version, region_id, price_band

),

median_errors as (

    select
        model_name,
        model_version,
        region_id,
        price_band,
        {{ median('absolute_pct_error') }} as mdape
    from evaluated
    group by model_name, model_version, region_id, price_band

),

final as (

    select
        cast(volumes.model_name as varchar(64)) as model_name,
        cast(volumes.model_version as varchar(32)) as model_version,
        cast(volumes.region_id as varchar(8)) as region_id,
        cast(volumes.price_band as varchar(16)) as price_band,
        cast(volumes.price_band_order as integer) as price_band_order,
        cast(price_bands.lower_bound as numeric(14, 2)) as price_band_lower,
        cast(price_bands.upper_bound as numeric(14, 2)) as price_band_upper,
        cast(volumes.valuations_count as integer) as valuations_count,
        cast(coalesce(accuracy.evaluated_count, 0) as integer) as evaluated_count,
        cast(median_errors.mdape as numeric(10, 6)) as mdape,
        cast(accuracy.ppe10 as numeric(10, 6)) as ppe10,
        cast(accuracy.ppe20 as numeric(10, 6)) as ppe20,
        cast(accuracy.interval_coverage as numeric(10, 6)) as interval_coverage
    from volumes
    left join price_bands
        on volumes.price_band = price_bands.price_band
    left join accuracy
        on
            volumes.model_name = accuracy.model_name
            and volumes.model_version = accuracy.model_version
            and volumes.region_id = accuracy.region_id
            and volumes.price_band = accuracy.price_band
    left join median_errors
        on
            volumes.model_name = median_errors.model_name
            and volumes.model_version = median_errors.model_version
            and volumes.region_id = median_errors.region_id
            and volumes.price_band = median_errors.price_band

)

select * from final
