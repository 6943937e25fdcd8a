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
        {{ avm_feature_columns('properties', 'valuation_dates.valuation_date') }}
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
