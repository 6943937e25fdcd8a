{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_after_feature_cutoffs(ref('int_sales_classified'), ref('regions')) }}"],
        meta={'test_scope_column': 'loaded_at'},
        **platform_config(
            indexes=[
                {'columns': ['region_id', 'sale_date'], 'unique': true},
            ],
            dist='region_id',
            sort=['region_id', 'sale_date'],
        )
    )
}}
{#- Per region and sale day, the count, sum and sum of squares of log price per sqft and of log
    price of arm's-length residential sales with plausible attributes: the additive moments the
    region-year price profiles (int_sale_prices_profiled) are summed from. Incremental like the
    feature tables: the days from each region's cutoff on (the first sale date int_sales_classified
    changed since this model's previous run; real feeds and UK change-feed deliveries whole) are
    rewritten, so a daily build does not rescan every sale to re-profile a region-year. -#}
{%- set classified_sales, regions = ref('int_sales_classified'), ref('regions') %}
{%- set cutoffs = feature_cutoffs(classified_sales, regions) if is_incremental() else none %}
with

sales as (

    select
        region_id,
        sale_date,
        sale_year,
        loaded_at,
        ln(cast(price_per_sqft as {{ dbt.type_float() }})) as log_price_per_sqft,
        ln(cast(sale_price as {{ dbt.type_float() }})) as log_price
    from {{ ref('int_sales_classified') }}
    where
        is_arms_length
        and is_residential
        and attribute_issue is null
        and sale_price > 0
        and region_id is not null
    {% if is_incremental() %}
        and {{ after_feature_cutoff(cutoffs, 'region_id', 'sale_date', classified_sales, regions) }}
    {% endif %}

),

days as (

    select
        region_id,
        sale_date,
        sale_year,
        count(log_price_per_sqft) as n_price_per_sqft,
        sum(log_price_per_sqft) as sum_log_price_per_sqft,
        sum(log_price_per_sqft * log_price_per_sqft) as sumsq_log_price_per_sqft,
        count(log_price) as n_price,
        sum(log_price) as sum_log_price,
        sum(log_price * log_price) as sumsq_log_price,
        max(loaded_at) as loaded_at
    from sales
    group by region_id, sale_date, sale_year

),

final as (

    select
        cast(region_id as varchar(8)) as region_id,
        cast(sale_date as date) as sale_date,
        cast(sale_year as smallint) as sale_year,
        cast(n_price_per_sqft as integer) as n_price_per_sqft,
        cast(sum_log_price_per_sqft as {{ dbt.type_float() }}) as sum_log_price_per_sqft,
        cast(sumsq_log_price_per_sqft as {{ dbt.type_float() }}) as sumsq_log_price_per_sqft,
        cast(n_price as integer) as n_price,
        cast(sum_log_price as {{ dbt.type_float() }}) as sum_log_price,
        cast(sumsq_log_price as {{ dbt.type_float() }}) as sumsq_log_price,
        cast(loaded_at as timestamp with time zone) as loaded_at
    from days

)

select * from final
