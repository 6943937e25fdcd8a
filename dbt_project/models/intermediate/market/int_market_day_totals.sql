{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_after_feature_cutoffs(ref('fct_sales'), ref('regions')) }}"],
        meta={'test_scope_column': 'loaded_at'},
        **platform_config(
            indexes=[
                {'columns': ['group_kind', 'group_id', 'sale_date'], 'unique': true},
                {'columns': ['region_id', 'sale_date']},
            ],
            dist='group_id',
            sort=['group_id', 'sale_date'],
        )
    )
}}
{#- The comparable-sales totals of each day, per region and per neighbourhood (submarket): the
    building block of the point-in-time market features (macros/features.sql). A sale is a
    comparable when it is arm's-length, residential, priced, not an outlier and has an area; it
    weighs exp(day / tau). Days without comparables still get a row (weight 0) so a group's
    days are complete.
    Incremental by region: the days from each region's cutoff on are recomputed (see
    feature_cutoffs_query in macros/incremental/partitions.sql), so a daily build rewrites about
    incremental_lookback_days days, not the history. -#}
{%- set fct_sales, regions = ref('fct_sales'), ref('regions') %}
{%- set cutoffs = feature_cutoffs(fct_sales, regions) if is_incremental() else none %}
with

sales as (

    select
        region_id,
        submarket_id,
        sale_date,
        loaded_at,
        case
            when not is_outlier and price_per_sqft > 0 then {{ feature_day_weight('sale_date') }}
            else 0
        end as comparable_weight,
        case
            when not is_outlier and price_per_sqft > 0 then ln(cast(price_per_sqft as {{ dbt.type_float() }}))
        end as log_ppsf
    from {{ ref('fct_sales') }}
    where
        is_arms_length
        and is_residential
        and sale_price > 0
        and region_id is not null
    {% if is_incremental() %}
        and {{ after_feature_cutoff(cutoffs, 'region_id', 'sale_date', fct_sales, regions) }}
    {% endif %}

),

by_region as (

    select
        cast('region' as varchar(16)) as group_kind,
        region_id as group_id,
        region_id,
        sale_date,
        sum(comparable_weight) as day_weight,
        sum(comparable_weight * coalesce(log_ppsf, 0)) as day_weighted_log_ppsf,
        max(case when comparable_weight > 0 then sale_date end) as day_last_comparable,
        max(loaded_at) as loaded_at
    from sales
    group by region_id, sale_date

),

by_neighborhood as (

    select
        cast('neighborhood' as varchar(16)) as group_kind,
        submarket_id as group_id,
        region_id,
        sale_date,
        sum(comparable_weight) as day_weight,
        sum(comparable_weight * coalesce(log_ppsf, 0)) as day_weighted_log_ppsf,
        max(case when comparable_weight > 0 then sale_date end) as day_last_comparable,
        max(loaded_at) as loaded_at
    from sales
    where submarket_id is not null
    group by submarket_id, region_id, sale_date

),

unioned as (

    select * from by_region
    union all
    select * from by_neighborhood

),

final as (

    select
        cast(group_kind as varchar(16)) as group_kind,
        cast(group_id as varchar(64)) as group_id,
        cast(region_id as varchar(8)) as region_id,
        cast(sale_date as date) as sale_date,
        cast(day_weight as {{ dbt.type_float() }}) as day_weight,
        cast(day_weighted_log_ppsf as {{ dbt.type_float() }}) as day_weighted_log_ppsf,
        cast(day_last_comparable as date) as day_last_comparable,
        cast(loaded_at as timestamp with time zone) as loaded_at
    from unioned

)

select * from final
