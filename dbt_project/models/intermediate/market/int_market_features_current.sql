{#- The market side of the AVM scoring rows (feat_avm_properties), one row per region and per
    neighbourhood (submarket): the comparable-sales totals of every day of int_market_day_totals
    (all of them precede the valuation date), the region's valuation date (the day after the
    newest sale of its source: the data's own "today") and its lagged monthly market context as
    of that date. A few hundred rows rebuilt from the day totals on every build, so the scoring
    rows of a million properties need not be rewritten each day. -#}
with

regions as (

    select * from {{ ref('regions') }}

),

days as (

    select * from {{ ref('int_market_day_totals') }}

),

valuation_dates as (

    select
        regions.source_system,
        cast({{ dbt.dateadd('day', 1, 'max(days.sale_date)') }} as date) as valuation_date
    from days
    inner join regions
        on days.region_id = regions.region_id
    where days.group_kind = 'region'
    group by regions.source_system

),

region_valuations as (

    select
        regions.region_id,
        valuation_dates.valuation_date,
        cast({{ dbt.date_trunc('month', 'valuation_dates.valuation_date') }} as date) as valuation_month
    from regions
    inner join valuation_dates
        on regions.source_system = valuation_dates.source_system

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
        valuation_month
    from region_valuations

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
        events.valuation_month as event_month,
        cast({{ dbt.dateadd('month', -1 * var('market_context_lag_months'), 'events.valuation_month') }} as date) as market_month,
        market.active_listings_count,
        market.months_of_supply,
        market.median_days_on_market,
        market.median_sale_price_yoy_pct,
        coalesce(indices.case_shiller_yoy, indices.zillow_yoy, indices.vendor_yoy) as index_yoy_pct
    from market_events as events
    left join {{ ref('mart_market_monthly') }} as market
        on
            events.region_id = market.region_id
            and cast({{ dbt.dateadd('month', -1 * var('market_context_lag_months'), 'events.valuation_month') }} as date) = market.activity_month
    left join external_indices as indices
        on
            events.region_id = indices.region_id
            and cast({{ dbt.dateadd('month', -1 * var('market_context_lag_months'), 'events.valuation_month') }} as date) = indices.index_month

),

totals as (

    select
        group_kind,
        group_id,
        region_id,
        sum(day_weight) as prior_weight,
        sum(day_weighted_log_ppsf) as prior_weighted_log_ppsf,
        max(day_last_comparable) as last_comparable_date
    from days
    group by group_kind, group_id, region_id

),

region_rows as (

    select
        'region' as group_kind,
        region_valuations.region_id as group_id,
        region_valuations.region_id,
        totals.prior_weight,
        totals.prior_weighted_log_ppsf,
        totals.last_comparable_date
    from region_valuations
    left join totals
        on
            totals.group_kind = 'region'
            and region_valuations.region_id = totals.group_id

),

neighborhood_rows as (

    select
        group_kind,
        group_id,
        region_id,
        prior_weight,
        prior_weighted_log_ppsf,
        last_comparable_date
    from totals
    where group_kind = 'neighborhood'

),

unioned as (

    select * from region_rows
    union all
    select * from neighborhood_rows

),

final as (

    select
        cast(unioned.group_kind as varchar(16)) as group_kind,
        cast(unioned.group_id as varchar(64)) as group_id,
        cast(unioned.region_id as varchar(8)) as region_id,
        cast(region_valuations.valuation_date as date) as valuation_date,
        cast(unioned.prior_weight as {{ dbt.type_float() }}) as prior_weight,
        cast(unioned.prior_weighted_log_ppsf as {{ dbt.type_float() }}) as prior_weighted_log_ppsf,
        cast(unioned.last_comparable_date as date) as last_comparable_date,
        cast(market_context.market_month as date) as market_month,
        cast(market_context.active_listings_count as integer) as active_listings_count,
        cast(market_context.months_of_supply as numeric(10, 2)) as months_of_supply,
        cast(market_context.median_days_on_market as numeric(8, 1)) as median_days_on_market,
        cast(market_context.median_sale_price_yoy_pct as numeric(12, 6)) as median_sale_price_yoy_pct,
        cast(market_context.index_yoy_pct as numeric(12, 6)) as index_yoy_pct
    from unioned
    left join region_valuations
        on unioned.region_id = region_valuations.region_id
    left join market_context
        on
            unioned.group_kind = 'region'
            and unioned.region_id = market_context.region_id
            and region_valuations.valuation_month = market_context.event_month

)

select * from final
