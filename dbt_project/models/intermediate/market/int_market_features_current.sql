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

market_context as (

    {{ lagged_market_context('region_valuations', 'valuation_month') }}

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
