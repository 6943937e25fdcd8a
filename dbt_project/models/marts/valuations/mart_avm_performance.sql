{#- AVM accuracy per model version and region. Every valuation counts in valuations_count; a
    valuation is evaluated against the property's first arm's-length, non-outlier sale after its
    valuation date (a true out-of-sample check): n evaluated, MdAPE (median absolute percentage
    error), PPE10 / PPE20 (share within 10 % / 20 %) and interval coverage (share of sale prices
    inside [lower, upper]). -#}
with

valuations as (

    select * from {{ ref('stg_ml__property_valuations') }}

),

properties as (

    select * from {{ ref('dim_properties') }}

),

sales as (

    select * from {{ ref('fct_sales') }}
    where is_arms_length and not is_outlier and sale_price > 0

),

valued as (

    select
        valuations.model_name,
        valuations.model_version,
        coalesce(properties.region_id, 'UNKNOWN') as region_id,
        valuations.property_id,
        valuations.valuation_date,
        valuations.estimate,
        valuations.estimate_lower,
        valuations.estimate_upper
    from valuations
    left join properties
        on valuations.property_id = properties.property_id

),

later_sales as (

    select
        valued.model_name,
        valued.model_version,
        valued.region_id,
        valued.estimate,
        valued.estimate_lower,
        valued.estimate_upper,
        sales.sale_price,
        row_number() over (
            partition by valued.model_version, valued.property_id, valued.valuation_date
            order by sales.sale_date, sales.sale_id
        ) as sale_order
    from valued
    inner join sales
        on
            valued.property_id = sales.property_id
            and valued.valuation_date < sales.sale_date

),

evaluated as (

    select
        model_name,
        model_version,
        region_id,
        abs(estimate - sale_price) / sale_price as absolute_pct_error,
        case when sale_price between estimate_lower and estimate_upper then 1 else 0 end as is_covered
    from later_sales
    where sale_order = 1

),

volumes as (

    select
        model_name,
        model_version,
        region_id,
        count(*) as valuations_count,
        count(distinct property_id) as properties_count
    from valued
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
