{#- One row per valuation (model version, property, valuation date) with its region, its price
    band (the band of avm_price_bands holding the estimate) and, when the property sold after the
    valuation date, the first arm's-length, non-outlier such sale: its price, the absolute
    percentage error of the estimate and whether the price fell inside [lower, upper] (a true
    out-of-sample check). The AVM accuracy marts aggregate these rows. -#}
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

price_bands as (

    select * from {{ ref('avm_price_bands') }}

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
        valued.property_id,
        valued.valuation_date,
        sales.sale_date,
        sales.sale_price,
        row_number() over (
            partition by valued.model_name, valued.model_version, valued.property_id, valued.valuation_date
            order by sales.sale_date, sales.sale_id
        ) as sale_order
    from valued
    inner join sales
        on
            valued.property_id = sales.property_id
            and valued.valuation_date < sales.sale_date

),

first_sales as (

    select * from later_sales
    where sale_order = 1

),

final as (

    select
        valued.model_name,
        valued.model_version,
        valued.region_id,
        valued.property_id,
        valued.valuation_date,
        cast(coalesce(price_bands.price_band_order, 0) as integer) as price_band_order,
        cast(coalesce(price_bands.price_band, 'no band') as varchar(16)) as price_band,
        valued.estimate,
        valued.estimate_lower,
        valued.estimate_upper,
        first_sales.sale_date,
        first_sales.sale_price,
        cast(
            abs(valued.estimate - first_sales.sale_price) / first_sales.sale_price as numeric(18, 8)
        ) as absolute_pct_error,
        case
            when first_sales.sale_price is null then cast(null as integer)
            when first_sales.sale_price between valued.estimate_lower and valued.estimate_upper then 1
            else 0
        end as is_covered
    from valued
    left join first_sales
        on
            valued.model_name = first_sales.model_name
            and valued.model_version = first_sales.model_version
            and valued.property_id = first_sales.property_id
            and valued.valuation_date = first_sales.valuation_date
    left join price_bands
        on
            valued.estimate >= price_bands.lower_bound
            and (price_bands.upper_bound is null or valued.estimate < price_bands.upper_bound)

)

select * from final
