{#- Leakage and correctness check of feat_avm_sales' market features, independent of their
    running-total implementation: for a deterministic sample of about 500 sales (200 on an
    incremental build; hash_sample), recompute the region features by brute force (a join to every
    earlier day's comparable sales, weights exp(-(days between) / tau), with no running totals)
    and return the rows that disagree. A feature that used a same-day or later sale, or skipped an
    earlier one, shows up here. The comparables of a day share their weight, so they are counted
    and summed per day first: the join is sample x days, not sample x sales. -#}
{%- set tau = feature_tau() -%}
{#- On an incremental build (macros/test_scope/test_scope.sql) the sample is drawn from the rows written since
    the test last passed, or is empty when no input changed. -#}
{%- set boundary = test_scope_boundary() -%}
{%- set unchanged = boundary is not none and not test_scope_inputs_changed(model_depends_on(), boundary) -%}

with

sampled as (

    select * from {{ ref('feat_avm_sales') }}
    {%- if unchanged %}
    where 1 = 0
    {%- elif boundary is not none %}
    where
        loaded_at > {{ boundary }}
        and {{ hash_sample('sale_id', ref('feat_avm_sales'), where='loaded_at > ' ~ boundary, target_rows=200) }}
    {%- else %}
    where {{ hash_sample('sale_id', ref('feat_avm_sales'), target_rows=500) }}
    {%- endif %}

),

comparables as (

    select
        region_id,
        sale_date,
        ln(cast(price_per_sqft as {{ dbt.type_float() }})) as log_ppsf
    from {{ ref('fct_sales') }}
    where
        is_arms_length
        and is_residential
        and sale_price > 0
        and not is_outlier
        and price_per_sqft > 0

),

comparable_days as (

    select
        region_id,
        sale_date,
        count(*) as comparables_count,
        sum(log_ppsf) as sum_log_ppsf
    from comparables
    group by region_id, sale_date

),

pairs as (

    select
        sampled.sale_id,
        comparable_days.sale_date,
        comparable_days.comparables_count,
        comparable_days.sum_log_ppsf,
        exp(
            -1 * cast({{ dbt.datediff('comparable_days.sale_date', 'sampled.sale_date', 'day') }} as {{ dbt.type_float() }})
            / {{ tau }}
        ) as weight
    from sampled
    inner join comparable_days
        on
            sampled.region_id = comparable_days.region_id
            and sampled.sale_date > comparable_days.sale_date

),

recomputed as (

    select
        sale_id,
        sum(weight * comparables_count) as prior_sales_ew,
        sum(weight * sum_log_ppsf) as weighted_log_ppsf,
        max(sale_date) as last_comparable_date
    from pairs
    group by sale_id

),

compared as (

    select
        sampled.sale_id,
        sampled.sale_date,
        sampled.region_prior_sales_ew,
        coalesce(recomputed.prior_sales_ew, 0) as expected_prior_sales_ew,
        sampled.region_ew_log_ppsf,
        recomputed.weighted_log_ppsf / nullif(recomputed.prior_sales_ew, 0) as expected_ew_log_ppsf,
        sampled.region_last_comparable_date,
        recomputed.last_comparable_date as expected_last_comparable_date
    from sampled
    left join recomputed
        on sampled.sale_id = recomputed.sale_id

)

select *
from compared
where
    abs(region_prior_sales_ew - expected_prior_sales_ew) > 0.001 + 0.0001 * expected_prior_sales_ew
    or abs(region_ew_log_ppsf - expected_ew_log_ppsf) > 0.00001
    or (region_ew_log_ppsf is null) != (expected_ew_log_ppsf is null)
    or coalesce(region_last_comparable_date, cast('1900-01-01' as date))
    != coalesce(expected_last_comparable_date, cast('1900-01-01' as date))
