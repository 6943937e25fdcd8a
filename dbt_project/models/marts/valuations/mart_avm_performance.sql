{#- AVM accuracy per model version and region. Every valuation counts in valuations_count; a
    valuation is evaluated against the property's first arm's-length, non-outlier sale after its
    valuation date (int_valuations_evaluated: a true out-of-sample check): n evaluated, MdAPE
    (median absolute percentage error), PPE10 / PPE20 (share within 10 % / 20 %) and interval
    coverage (share of sale prices inside [lower, upper]). The same figures per price band:
    mart_avm_performance_by_price_band. -#}
with

valuations as (

    select * from {{ ref('int_valuations_evaluated') }}

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
        count(*) as valuations_count,
        count(distinct property_id) as properties_count
    from valuations
    group by model_name, model_version, region_id

),

accuracy as (

    select
        model_name,
        model_version,
        region_id,
        count(*) as evaluated_count,
        avg(case when absolute_pct_error <= 0.10 then 1.0 else 0.0 end) as ppe10,
        avg(case when absolute_pct_error <= 0.20 then 1.0 else 0.0 end) as ppe20,
        avg(cast(is_covered as numeric(10, 6))) as interval_coverage
    from evaluated
    group by model_name, model_version, region_id

),

median_errors as (

    select
        model_name,
        model_version,
        region_id,
        {{ median('absolute_pct_error') }} as mdape
    from evaluated
    group by model_name, model_version, region_id

),

final as (

    select
        cast(volumes.model_name as varchar(64)) as model_name,
        cast(volumes.model_version as varchar(32)) as model_version,
        cast(volumes.region_id as varchar(8)) as region_id,
        cast(volumes.valuations_count as integer) as valuations_count,
        cast(volumes.properties_count as integer) as properties_count,
        cast(coalesce(accuracy.evaluated_count, 0) as integer) as evaluated_count,
        cast(median_errors.mdape as numeric(10, 6)) as mdape,
        cast(accuracy.ppe10 as numeric(10, 6)) as ppe10,
        cast(accuracy.ppe20 as numeric(10, 6)) as ppe20,
        cast(accuracy.interval_coverage as numeric(10, 6)) as interval_coverage
    from volumes
    left join accuracy
        on
            volumes.model_name = accuracy.model_name
            and volumes.model_version = accuracy.model_version
            and volumes.region_id = accuracy.region_id
    left join median_errors
        on
            volumes.model_name = median_errors.model_name
            and volumes.model_version = median_errors.model_version
            and volumes.region_id = median_errors.region_id

)

select * from final
