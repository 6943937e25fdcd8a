{#- AVM training rows: one row per arm's-length residential sale with a price, every feature
    computed only from information dated before the sale.

    - Property attributes are those recorded with the sale (fct_sales: the assessor roll valid in
      the sale year for synthetic deeds, the attributes published with the sale for King County
      and NYC); ages are relative to the sale year.
    - Market context: exponentially weighted (half-life var('feature_half_life_days')) count and
      mean log price per sqft of comparable sales (arm's-length, residential, not outliers, with
      an area) in the region and in the neighbourhood (submarket) on days strictly before the
      sale day (macros/features.sql), and the property's own previous arm's-length sale on an
      earlier day; the region's listings, supply and external price index trend from the month
      var('market_context_lag_months') months before the sale's month. Same-day sales are never used: on the day of a sale its neighbours' prices are
      not yet public.
    - The *_date columns name the newest information each feature used; the generic test
      dated_before proves each is earlier than sale_date, and a singular test recomputes the
      market features by brute force for a sample.
    Outliers stay in (flagged) so a test window can contain every sale; training decides.
    Incremental by region: the sales from each region's cutoff on (new and re-delivered sales,
    the window whose outlier flags fct_sales re-derives; see feature_cutoffs_query) are
    recomputed from the day totals of int_market_day_totals, so a daily build rewrites about a
    month of sales instead of every one. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=["{{ delete_after_feature_cutoffs(ref('fct_sales'), ref('regions')) }}"],
        meta={'test_scope_column': 'loaded_at'},
        **platform_config(
            indexes=[
                {'columns': ['sale_id'], 'unique': true},
                {'columns': ['region_id', 'sale_date']},
                {'columns': ['loaded_at']},
            ],
            dist='property_id',
            sort=['sale_date'],
        )
    )
}}
{%- set fct_sales, regions = ref('fct_sales'), ref('regions') %}
{%- set cutoffs = feature_cutoffs(fct_sales, regions) if is_incremental() else none %}

with

sales as (

    select * from {{ ref('fct_sales') }}
    where
        is_arms_length
        and is_residential
        and sale_price > 0
    {% if is_incremental() %}
        and {{ after_feature_cutoff(cutoffs, 'region_id', 'sale_date', fct_sales, regions) }}
    {% endif %}

),

{# Running totals per group (region, neighbourhood) and day over strictly earlier days, from
    int_market_day_totals (one row per group and day): see macros/features.sql. -#}
region_totals as (

    select
        group_id,
        sale_date,
        sum(day_weight) over (
            partition by group_id order by sale_date rows between unbounded preceding and 1 preceding
        ) as prior_weight,
        sum(day_weighted_log_ppsf) over (
            partition by group_id order by sale_date rows between unbounded preceding and 1 preceding
        ) as prior_weighted_log_ppsf,
        max(day_last_comparable) over (
            partition by group_id order by sale_date rows between unbounded preceding and 1 preceding
        ) as last_comparable_date
    from {{ ref('int_market_day_totals') }}
    where group_kind = 'region'

),

neighborhood_totals as (

    select
        group_id,
        sale_date,
        sum(day_weight) over (
            partition by group_id order by sale_date rows between unbounded preceding and 1 preceding
        ) as prior_weight,
        sum(day_weighted_log_ppsf) over (
            partition by group_id order by sale_date rows between unbounded preceding and 1 preceding
        ) as prior_weighted_log_ppsf,
        max(day_last_comparable) over (
            partition by group_id order by sale_date rows between unbounded preceding and 1 preceding
        ) as last_comparable_date
    from {{ ref('int_market_day_totals') }}
    where group_kind = 'neighborhood'

),

property_days as (

    select
        property_id,
        sale_date,
        avg(sale_price) as day_price
    from {{ ref('fct_sales') }}
    where
        is_arms_length
        and is_residential
        and sale_price > 0
    {% if is_incremental() %}
        and property_id in (select sales.property_id from sales)
    {% endif %}
    group by property_id, sale_date

),

{# Monthly market context as of the event's month: the region's KPIs of mart_market_monthly
    and the YoY change of its external price index (Case-Shiller, else ZHVI, else the vendor HPI)
    for the month var('market_context_lag_months') months earlier. That month's figures use events
    up to two months after it at most (the computed index is smoothed over neighbouring months;
    Case-Shiller publishes with a two-month lag), so with a lag of 3 everything is dated before
    the event's month. One row per (region, event month); int_market_features_current and
    feat_avm_sales compute it the same way. -#}
market_events as (

    select distinct
        region_id,
        sale_month
    from sales

),

external_indices as (

    select
        region_id,
        index_month,
        max(case when index_source = 'case_shiller' then yoy_change_pct end) as case_shiller_yoy,
        max(case when index_source = 'zillow_zhvi' then yoy_change_pct end) as zillow_yoy,
        max(case when index_source = 'vendor_hpi' then yoy_change_pct end) as vendor_yoy
    from {{ ref('fct_price_index_monthly') }}
    where index_source != 'terraminer'
    group by region_id, index_month

),

market_context as (

    select
        events.region_id,
        events.sale_month as event_month,
        cast({{ dbt.dateadd('month', -1 * var('market_context_lag_months'), 'events.sale_month') }} as date) as market_month,
        market.active_listings_count,
        market.months_of_supply,
        market.median_days_on_market,
        market.median_sale_price_yoy_pct,
        coalesce(indices.case_shiller_yoy, indices.zillow_yoy, indices.vendor_yoy) as index_yoy_pct
    from market_events as events
    left join {{ ref('mart_market_monthly') }} as market
        on
            events.region_id = market.region_id
            and cast({{ dbt.dateadd('month', -1 * var('market_context_lag_months'), 'events.sale_month') }} as date) = market.activity_month
    left join external_indices as indices
        on
            events.region_id = indices.region_id
            and cast({{ dbt.dateadd('month', -1 * var('market_context_lag_months'), 'events.sale_month') }} as date) = indices.index_month

),

previous_sales as (

    select
        property_id,
        sale_date,
        lag(day_price) over (partition by property_id order by sale_date) as previous_sale_price,
        lag(sale_date) over (partition by property_id order by sale_date) as previous_sale_date
    from property_days

),

final as (

    select
        cast(sales.sale_id as varchar(64)) as sale_id,
        cast(sales.property_id as varchar(64)) as property_id,
        cast(sales.source_system as varchar(32)) as source_system,
        cast(sales.region_id as varchar(8)) as region_id,
        cast(sales.submarket_id as varchar(64)) as neighborhood_id,
        cast(sales.property_type as varchar(32)) as property_type,
        cast(sales.sale_date as date) as sale_date,
        cast(sales.sale_price as numeric(14, 2)) as sale_price,
        cast(sales.is_outlier as boolean) as is_outlier,
        {{ avm_feature_columns('sales', 'sales.sale_date') }},
        cast(sales.file_key as varchar(1024)) as file_key,
        cast(sales.loaded_at as timestamp with time zone) as loaded_at
    from sales
    left join region_totals
        on
            sales.region_id = region_totals.group_id
            and sales.sale_date = region_totals.sale_date
    left join neighborhood_totals
        on
            sales.submarket_id = neighborhood_totals.group_id
            and sales.sale_date = neighborhood_totals.sale_date
    left join market_context
        on
            sales.region_id = market_context.region_id
            and sales.sale_month = market_context.event_month
    left join previous_sales
        on
            sales.property_id = previous_sales.property_id
            and sales.sale_date = previous_sales.sale_date

)

select * from final
