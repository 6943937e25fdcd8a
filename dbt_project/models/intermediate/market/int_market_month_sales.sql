{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_after_feature_cutoffs(ref('fct_sales'), ref('regions'), date_column='sale_month', monthly=true) }}"],
        meta={'test_scope_column': 'loaded_at'},
        **platform_config(
            indexes=[
                {'columns': ['region_id', 'sale_month'], 'unique': true},
            ],
            dist='region_id',
            sort=['region_id', 'sale_month'],
        )
    )
}}
{#- The sales side of mart_market_monthly, per region and sale month: transfers, market sales
    (arm's-length, non-outlier, residential) and their median price and price per sqft.
    Incremental: the months from each region's cutoff on (feature_cutoffs in
    macros/incremental/partitions.sql) are recomputed from fct_sales, so a daily build sorts one
    or two months of sales for the medians instead of every sale. Medians stay unrounded (the mart
    rounds them, and its year-over-year change divides the unrounded values). -#}
{%- set fct_sales, regions = ref('fct_sales'), ref('regions') %}
{%- set cutoffs = feature_cutoffs(fct_sales, regions) if is_incremental() else none %}
with

sales as (

    select
        region_id,
        sale_month,
        sale_price,
        price_per_sqft,
        is_arms_length and not is_outlier and is_residential as is_market_sale,
        loaded_at
    from {{ ref('fct_sales') }}
    where
        region_id is not null
    {% if is_incremental() %}
        and {{ after_feature_cutoff(cutoffs, 'region_id', 'sale_month', fct_sales, regions, monthly=true) }}
    {% endif %}

),

market_sales as (

    select
        region_id,
        sale_month,
        sale_price,
        price_per_sqft
    from sales
    where is_market_sale

),

transfer_counts as (

    select
        region_id,
        sale_month,
        count(*) as transfers_count,
        sum(case when is_market_sale then 1 else 0 end) as sales_count,
        max(loaded_at) as loaded_at
    from sales
    group by region_id, sale_month

),

median_prices as (

    select
        region_id,
        sale_month,
        {{ median('sale_price') }} as median_sale_price
    from market_sales
    group by region_id, sale_month

),

median_price_per_sqft as (

    select
        region_id,
        sale_month,
        {{ median('price_per_sqft') }} as median_price_per_sqft
    from market_sales
    where price_per_sqft is not null
    group by region_id, sale_month

),

final as (

    select
        cast(transfer_counts.region_id as varchar(8)) as region_id,
        cast(transfer_counts.sale_month as date) as sale_month,
        cast(transfer_counts.transfers_count as integer) as transfers_count,
        cast(transfer_counts.sales_count as integer) as sales_count,
        cast(median_prices.median_sale_price as {{ dbt.type_float() }}) as median_sale_price,
        cast(median_price_per_sqft.median_price_per_sqft as {{ dbt.type_float() }}) as median_price_per_sqft,
        cast(transfer_counts.loaded_at as timestamp with time zone) as loaded_at
    from transfer_counts
    left join median_prices
        on
            transfer_counts.region_id = median_prices.region_id
            and transfer_counts.sale_month = median_prices.sale_month
    left join median_price_per_sqft
        on
            transfer_counts.region_id = median_price_per_sqft.region_id
            and transfer_counts.sale_month = median_price_per_sqft.sale_month

)

select * from final
