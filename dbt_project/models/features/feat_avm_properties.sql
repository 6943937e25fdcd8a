{#- AVM scoring rows: one row per residential property with its current attributes and the
    same market features as feat_avm_sales, as of its valuation date: the day after the newest
    sale of its source (the data's own "today"; every sale of the source is then known). Column
    names match feat_avm_sales so one model scores both; ages count to the valuation year. -#}
{%- set platform_config = {'dist': 'property_id', 'sort': ['source_system']} if target.type == 'redshift' else {} -%}
{{ config(materialized='table', **platform_config) }}

with

properties as (

    select * from {{ ref('dim_properties') }}
    where is_residential

),

sales as (

    select * from {{ ref('fct_sales') }}
    where
        is_arms_length
        and is_residential
        and sale_price > 0

),

valuation_dates as (

    select
        source_system,
        {{ dbt.dateadd('day', 1, 'max(sale_date)') }} as valuation_date
    from sales
    group by source_system

),

valuation_months as (

    select
        properties.region_id,
        cast({{ dbt.date_trunc('month', 'valuation_dates.valuation_date') }} as date) as valuation_month
    from properties
    inner join valuation_dates
        on properties.source_system = valuation_dates.source_system

),

market_context as (

    {{ lagged_market_context('valuation_months', 'valuation_month') }}

),

comparables as (

    select
        region_id,
        submarket_id,
        sale_date,
        {{ feature_day_weight('sale_date') }} as comparable_weight,
        ln(cast(price_per_sqft as {{ dbt.type_float() }})) as log_ppsf
    from sales
    where
        not is_outlier
        and price_per_sqft > 0

),

region_totals as (

    select
        region_id as group_id,
        sum(comparable_weight) as prior_weight,
        sum(comparable_weight * log_ppsf) as prior_weighted_log_ppsf,
        max(sale_date) as last_comparable_date
    from comparables
    group by region_id

),

neighborhood_totals as (

    select
        submarket_id as group_id,
        sum(comparable_weight) as prior_weight,
        sum(comparable_weight * log_ppsf) as prior_weighted_log_ppsf,
        max(sale_date) as last_comparable_date
    from comparables
    where submarket_id is not null
    group by submarket_id

),

last_sale_days as (

    select
        property_id,
        max(sale_date) as previous_sale_date
    from sales
    group by property_id

),

previous_sales as (

    select
        last_sale_days.property_id,
        last_sale_days.previous_sale_date,
        avg(sales.sale_price) as previous_sale_price
    from last_sale_days
    inner join sales
        on
            last_sale_days.property_id = sales.property_id
            and last_sale_days.previous_sale_date = sales.sale_date
    group by last_sale_days.property_id, last_sale_days.previous_sale_date

),

final as (

    select
        cast(properties.property_id as varchar(64)) as property_id,
        cast(properties.source_system as varchar(32)) as source_system,
        cast(properties.region_id as varchar(8)) as region_id,
        cast(properties.submarket_id as varchar(64)) as neighborhood_id,
        cast(properties.property_type as varchar(32)) as property_type,
        cast(valuation_dates.valuation_date as date) as valuation_date,
        cast(properties.living_sqft as integer) as living_sqft,
        cast(properties.lot_sqft as integer) as lot_sqft,
        cast(properties.above_grade_sqft as integer) as above_grade_sqft,
        cast(properties.basement_sqft as integer) as basement_sqft,
        cast(properties.nearby_living_sqft as integer) as nearby_living_sqft,
        cast(properties.nearby_lot_sqft as integer) as nearby_lot_sqft,
        cast(properties.bedrooms as smallint) as bedrooms,
        cast(properties.bathrooms as numeric(4, 2)) as bathrooms,
        cast(properties.stories as numeric(3, 1)) as stories,
        cast(properties.year_built as smallint) as year_built,
        cast(extract(year from valuation_dates.valuation_date) - properties.year_built as smallint) as age_years,
        cast(extract(year from valuation_dates.valuation_date) - properties.year_renovated as smallint)
            as years_since_renovation,
        cast(properties.quality_grade as smallint) as quality_grade,
        cast(properties.condition_code as smallint) as condition_code,
        cast(properties.view_score as smallint) as view_score,
        cast(case when properties.is_waterfront then 1 when not properties.is_waterfront then 0 end as smallint)
            as has_waterfront,
        cast(properties.latitude as numeric(9, 6)) as latitude,
        cast(properties.longitude as numeric(9, 6)) as longitude,
        {{ ew_sales('region_totals.prior_weight', 'valuation_dates.valuation_date') }} as region_prior_sales_ew,
        {{ ew_mean('region_totals.prior_weighted_log_ppsf', 'region_totals.prior_weight') }} as region_ew_log_ppsf,
        cast(region_totals.last_comparable_date as date) as region_last_comparable_date,
        {{ ew_sales('neighborhood_totals.prior_weight', 'valuation_dates.valuation_date') }}
            as neighborhood_prior_sales_ew,
        {{ ew_mean('neighborhood_totals.prior_weighted_log_ppsf', 'neighborhood_totals.prior_weight') }}
            as neighborhood_ew_log_ppsf,
        cast(neighborhood_totals.last_comparable_date as date) as neighborhood_last_comparable_date,
        cast(market_context.market_month as date) as market_context_month,
        cast(market_context.active_listings_count as integer) as region_active_listings,
        cast(market_context.months_of_supply as numeric(10, 2)) as region_months_of_supply,
        cast(market_context.median_days_on_market as numeric(8, 1)) as region_median_days_on_market,
        cast(market_context.median_sale_price_yoy_pct as numeric(12, 6)) as region_median_price_yoy_pct,
        cast(market_context.index_yoy_pct as numeric(12, 6)) as region_index_yoy_pct,
        cast(previous_sales.previous_sale_price as numeric(14, 2)) as previous_sale_price,
        cast(previous_sales.previous_sale_date as date) as previous_sale_date,
        cast(
            {{ dbt.datediff('previous_sales.previous_sale_date', 'valuation_dates.valuation_date', 'day') }}
            as integer
        ) as days_since_previous_sale
    from properties
    inner join valuation_dates
        on properties.source_system = valuation_dates.source_system
    left join region_totals
        on properties.region_id = region_totals.group_id
    left join neighborhood_totals
        on properties.submarket_id = neighborhood_totals.group_id
    left join market_context
        on
            properties.region_id = market_context.region_id
            and cast({{ dbt.date_trunc('month', 'valuation_dates.valuation_date') }} as date)
            = market_context.event_month
    left join previous_sales
        on properties.property_id = previous_sales.property_id

)

select * from final
