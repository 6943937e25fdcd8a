{#- Distribution of log price per sqft and log price of arm's-length residential sales with
    plausible attributes, per region and sale year (stats_year = 0: all years pooled, the
    fallback for thin years). The reference int_sales_flagged scores each sale against. -#}
with

sales as (

    select * from {{ ref('int_sales_classified') }}
    where
        is_arms_length
        and is_residential
        and attribute_issue is null
        and sale_price > 0

),

measured as (

    select
        region_id,
        sale_year,
        ln(cast(price_per_sqft as {{ dbt.type_float() }})) as log_price_per_sqft,
        ln(cast(sale_price as {{ dbt.type_float() }})) as log_price
    from sales

),

by_year as (

    select
        region_id,
        sale_year as stats_year,
        count(log_price_per_sqft) as n_price_per_sqft,
        avg(log_price_per_sqft) as mean_log_price_per_sqft,
        stddev_samp(log_price_per_sqft) as sd_log_price_per_sqft,
        count(log_price) as n_price,
        avg(log_price) as mean_log_price,
        stddev_samp(log_price) as sd_log_price
    from measured
    group by region_id, sale_year

),

all_years as (

    select
        region_id,
        0 as stats_year,
        count(log_price_per_sqft) as n_price_per_sqft,
        avg(log_price_per_sqft) as mean_log_price_per_sqft,
        stddev_samp(log_price_per_sqft) as sd_log_price_per_sqft,
        count(log_price) as n_price,
        avg(log_price) as mean_log_price,
        stddev_samp(log_price) as sd_log_price
    from measured
    group by region_id

),

unioned as (

    select * from by_year
    union all
    select * from all_years

),

final as (

    select
        cast(region_id as varchar(8)) as region_id,
        cast(stats_year as smallint) as stats_year,
        cast(n_price_per_sqft as integer) as n_price_per_sqft,
        cast(mean_log_price_per_sqft as {{ dbt.type_float() }}) as mean_log_price_per_sqft,
        cast(sd_log_price_per_sqft as {{ dbt.type_float() }}) as sd_log_price_per_sqft,
        cast(n_price as integer) as n_price,
        cast(mean_log_price as {{ dbt.type_float() }}) as mean_log_price,
        cast(sd_log_price as {{ dbt.type_float() }}) as sd_log_price
    from unioned

)

select * from final
