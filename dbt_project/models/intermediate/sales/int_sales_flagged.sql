{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}
{#- Classified sales plus outlier flags: the z-score of the sale's log price per sqft (log price
    when the area is unknown) against arm's-length residential sales of its region and year (all
    years pooled when the year has fewer than 30 of them), and impossible attributes. Stays a view:
    it is the last step before the incremental fct_sales. -#}
{%- set min_n = 30 -%}
with

sales as (

    select * from {{ ref('int_sales_classified') }}

),

profiles as (

    select * from {{ ref('int_sale_prices_profiled') }}

),

referenced as (

    select
        sales.*,
        case
            when not sales.is_residential or sales.sale_price <= 0 then null
            when sales.price_per_sqft is not null
                then ln(cast(sales.price_per_sqft as {{ dbt.type_float() }}))
            else ln(cast(sales.sale_price as {{ dbt.type_float() }}))
        end as log_measure,
        case
            when sales.price_per_sqft is not null and year_profile.n_price_per_sqft >= {{ min_n }}
                then year_profile.mean_log_price_per_sqft
            when sales.price_per_sqft is not null and pooled_profile.n_price_per_sqft >= {{ min_n }}
                then pooled_profile.mean_log_price_per_sqft
            when sales.price_per_sqft is null and year_profile.n_price >= {{ min_n }}
                then year_profile.mean_log_price
            when sales.price_per_sqft is null and pooled_profile.n_price >= {{ min_n }}
                then pooled_profile.mean_log_price
        end as reference_mean,
        case
            when sales.price_per_sqft is not null and year_profile.n_price_per_sqft >= {{ min_n }}
                then year_profile.sd_log_price_per_sqft
            when sales.price_per_sqft is not null and pooled_profile.n_price_per_sqft >= {{ min_n }}
                then pooled_profile.sd_log_price_per_sqft
            when sales.price_per_sqft is null and year_profile.n_price >= {{ min_n }}
                then year_profile.sd_log_price
            when sales.price_per_sqft is null and pooled_profile.n_price >= {{ min_n }}
                then pooled_profile.sd_log_price
        end as reference_sd
    from sales
    left join profiles as year_profile
        on
            sales.region_id = year_profile.region_id
            and sales.sale_year = year_profile.stats_year
    left join profiles as pooled_profile
        on
            sales.region_id = pooled_profile.region_id
            and pooled_profile.stats_year = 0

),

scored as (

    select
        *,
        (log_measure - reference_mean) / nullif(reference_sd, 0) as price_zscore
    from referenced

),

final as (

    select
        *,
        cast(
            case
                when attribute_issue is not null then 'impossible_attributes'
                when abs(price_zscore) > {{ var('outlier_z_threshold') }} then 'price_zscore'
            end as varchar(32)
        ) as outlier_reason,
        attribute_issue is not null
        or coalesce(abs(price_zscore) > {{ var('outlier_z_threshold') }}, false) as is_outlier
    from scored

)

select * from final
