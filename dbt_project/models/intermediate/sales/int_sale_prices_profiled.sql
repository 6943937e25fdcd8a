{#- Distribution of log price per sqft and log price of arm's-length residential sales with
    plausible attributes, per region and sale year (stats_year = 0: all years pooled, the
    fallback for thin years). The reference int_sales_flagged scores each sale against.
    Summed from the daily moments of int_sale_price_day_moments (incremental): mean = sum / n and
    the sample standard deviation sqrt((sum of squares - sum^2 / n) / (n - 1)), null below two
    sales as stddev_samp. -#}
with

moments as (

    select * from {{ ref('int_sale_price_day_moments') }}

),

by_year as (

    select
        region_id,
        sale_year as stats_year,
        sum(n_price_per_sqft) as n_price_per_sqft,
        sum(sum_log_price_per_sqft) as sum_log_price_per_sqft,
        sum(sumsq_log_price_per_sqft) as sumsq_log_price_per_sqft,
        sum(n_price) as n_price,
        sum(sum_log_price) as sum_log_price,
        sum(sumsq_log_price) as sumsq_log_price
    from moments
    group by region_id, sale_year

),

all_years as (

    select
        region_id,
        0 as stats_year,
        sum(n_price_per_sqft) as n_price_per_sqft,
        sum(sum_log_price_per_sqft) as sum_log_price_per_sqft,
        sum(sumsq_log_price_per_sqft) as sumsq_log_price_per_sqft,
        sum(n_price) as n_price,
        sum(sum_log_price) as sum_log_price,
        sum(sumsq_log_price) as sumsq_log_price
    from moments
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
        cast(sum_log_price_per_sqft / nullif(n_price_per_sqft, 0) as {{ dbt.type_float() }})
            as mean_log_price_per_sqft,
        cast(
            case
                when n_price_per_sqft > 1
                    then sqrt(greatest(
                        (sumsq_log_price_per_sqft - sum_log_price_per_sqft * sum_log_price_per_sqft / n_price_per_sqft)
                        / (n_price_per_sqft - 1),
                        0
                    ))
            end as {{ dbt.type_float() }}
        ) as sd_log_price_per_sqft,
        cast(n_price as integer) as n_price,
        cast(sum_log_price / nullif(n_price, 0) as {{ dbt.type_float() }}) as mean_log_price,
        cast(
            case
                when n_price > 1
                    then sqrt(greatest((sumsq_log_price - sum_log_price * sum_log_price / n_price) / (n_price - 1), 0))
            end as {{ dbt.type_float() }}
        ) as sd_log_price
    from unioned

)

select * from final
