{#- One row per index source, region and month: S&P Case-Shiller (FRED), Zillow ZHVI, the
    synthetic vendor HPI and TerraMiner's own computed index, each mapped to a TerraMiner region
    through the regions seed; rebased to 100 at each series' first month, with month-over-month
    and year-over-year changes. -#}
with

regions as (

    select * from {{ ref('regions') }}

),

case_shiller as (

    select * from {{ ref('stg_fred__case_shiller_observations') }}

),

zhvi as (

    select * from {{ ref('stg_zillow__zhvi_values') }}

),

vendor_hpi as (

    select * from {{ ref('stg_hpi__regional_indices') }}

),

computed as (

    select * from {{ ref('int_price_indices_computed') }}

),

unioned as (

    select
        'case_shiller' as index_source,
        regions.region_id,
        case_shiller.series_id,
        'index_points' as index_unit,
        'S&P CoreLogic Case-Shiller, not seasonally adjusted' as index_method,
        case_shiller.index_value,
        cast(null as integer) as sales_count,
        case_shiller.observation_month as index_month
    from case_shiller
    inner join regions
        on case_shiller.series_id = regions.case_shiller_series_id

    union all

    select
        'zillow_zhvi' as index_source,
        regions.region_id,
        cast(zhvi.zillow_region_id as varchar(32)) as series_id,
        'usd' as index_unit,
        'Zillow home value index, mid tier, smoothed, seasonally adjusted' as index_method,
        zhvi.zhvi as index_value,
        cast(null as integer) as sales_count,
        zhvi.value_month as index_month
    from zhvi
    inner join regions
        on zhvi.zillow_region_id = regions.zillow_region_id

    union all

    select
        'vendor_hpi' as index_source,
        regions.region_id,
        vendor_hpi.series_id,
        'index_points' as index_unit,
        'vendor house price index' as index_method,
        vendor_hpi.index_value,
        cast(null as integer) as sales_count,
        vendor_hpi.index_month
    from vendor_hpi
    inner join regions
        on vendor_hpi.region_code = regions.vendor_hpi_region_code

    union all

    select
        'terraminer' as index_source,
        region_id,
        'TERRAMINER' as series_id,
        'index_points' as index_unit,
        index_method,
        index_value,
        sales_count,
        index_month
    from computed

),

with_history as (

    select
        *,
        first_value(index_value) over (
            partition by index_source, region_id
            order by index_month
            rows between unbounded preceding and unbounded following
        ) as first_index_value,
        lag(index_value) over (
            partition by index_source, region_id
            order by index_month
        ) as previous_index_value,
        lag(index_month) over (
            partition by index_source, region_id
            order by index_month
        ) as previous_index_month
    from unioned

),

with_year_ago as (

    select
        with_history.*,
        year_ago.index_value as year_ago_index_value
    from with_history
    left join unioned as year_ago
        on
            with_history.index_source = year_ago.index_source
            and with_history.region_id = year_ago.region_id
            and year_ago.index_month = {{ dbt.dateadd('month', -12, 'with_history.index_month') }}

),

final as (

    select
        cast(index_source as varchar(16)) as index_source,
        cast(region_id as varchar(8)) as region_id,
        cast(index_month as date) as index_month,
        cast(series_id as varchar(32)) as series_id,
        cast(index_unit as varchar(16)) as index_unit,
        cast(index_method as varchar(96)) as index_method,
        cast(index_value as numeric(18, 6)) as index_value,
        cast(100 * index_value / nullif(first_index_value, 0) as numeric(18, 6)) as index_value_rebased,
        cast(
            case
                when {{ dbt.datediff('previous_index_month', 'index_month', 'month') }} = 1
                    then index_value / nullif(previous_index_value, 0) - 1
            end as numeric(12, 6)
        ) as mom_change_pct,
        cast(index_value / nullif(year_ago_index_value, 0) - 1 as numeric(12, 6)) as yoy_change_pct,
        cast(sales_count as integer) as sales_count
    from with_year_ago

)

select * from final
