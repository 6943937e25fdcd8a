{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ delete_after_feature_cutoffs(ref('fct_sales'), ref('regions'), date_column='sale_month', monthly=true) }}"],
        meta={'test_scope_column': 'loaded_at'},
        **platform_config(
            indexes=[
                {'columns': ['region_id', 'sale_month', 'method', 'submarket_id', 'property_type'], 'unique': true},
            ],
            dist='region_id',
            sort=['region_id', 'sale_month'],
        )
    )
}}
{#- The building block of TerraMiner's computed index (int_price_indices_computed): per region,
    sale month and cell (method x submarket x property type), the count and the sum of the log
    "measure" of the index's sales: arm's-length, non-outlier residential sales of fct_sales with a
    price, a region and a property type. The measure is log(price / reference appraisal) where the
    assessor roll gives one (method spar), else log(price per sqft), else log(price).
    Counts and sums add up, so the index's cell means and monthly residual sums are exact sums of
    these rows, and a daily build only rewrites the months from each region's cutoff on
    (feature_cutoffs in macros/incremental/partitions.sql): the index no longer rescans every sale.
    The outlier flag is fct_sales', as for every market model. -#}
{%- set fct_sales, regions = ref('fct_sales'), ref('regions') %}
{%- set cutoffs = feature_cutoffs(fct_sales, regions) if is_incremental() else none %}
with

sales as (

    select
        region_id,
        sale_month,
        coalesce(submarket_id, '') as submarket_id,
        property_type,
        sale_price,
        reference_assessed_value,
        living_sqft,
        loaded_at
    from {{ ref('fct_sales') }}
    where
        is_arms_length
        and not is_outlier
        and is_residential
        and sale_price > 0
        and region_id is not null
        and property_type is not null
    {% if is_incremental() %}
        and {{ after_feature_cutoff(cutoffs, 'region_id', 'sale_month', fct_sales, regions, monthly=true) }}
    {% endif %}

),

measured as (

    select
        region_id,
        sale_month,
        submarket_id,
        property_type,
        loaded_at,
        case
            when reference_assessed_value > 0 then 'spar'
            when living_sqft > 0 then 'price_per_sqft'
            else 'price'
        end as method,
        ln(
            cast(sale_price as {{ dbt.type_float() }})
            / cast(
                case
                    when reference_assessed_value > 0 then reference_assessed_value
                    when living_sqft > 0 then living_sqft
                    else 1
                end as {{ dbt.type_float() }}
            )
        ) as log_measure
    from sales

),

cells as (

    select
        region_id,
        sale_month,
        method,
        submarket_id,
        property_type,
        count(*) as sales_count,
        sum(log_measure) as sum_log_measure,
        max(loaded_at) as loaded_at
    from measured
    group by region_id, sale_month, method, submarket_id, property_type

),

final as (

    select
        cast(region_id as varchar(8)) as region_id,
        cast(sale_month as date) as sale_month,
        cast(method as varchar(16)) as method,
        cast(submarket_id as varchar(64)) as submarket_id,
        cast(property_type as varchar(32)) as property_type,
        cast(sales_count as integer) as sales_count,
        cast(sum_log_measure as {{ dbt.type_float() }}) as sum_log_measure,
        cast(loaded_at as timestamp with time zone) as loaded_at
    from cells

)

select * from final
