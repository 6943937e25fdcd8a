{#- Point-in-time market features (feat_avm_sales, feat_avm_properties).

    Exponentially weighted statistics of comparable sales with half-life
    var('feature_half_life_days'): a sale dated d_i weighs exp(-(d - d_i) / tau) at day d,
    tau = half-life / ln 2. Written as exp(d_i / tau) * exp(-d / tau) the per-day sums are
    plain running totals, so no date spine, LATERAL or RANGE frame is needed (Redshift runs it):
    the window frame `rows between unbounded preceding and 1 preceding` over one row per
    (group, day) sums strictly earlier days only, never the sale's own day. Day numbers count
    from var('feature_epoch') so exp() stays far from overflow for any plausible history.
    Only arithmetic and the column list both feature models share live here; the SQL that reads
    tables (running totals, lagged market context) is in the models. -#}

{% macro feature_tau() -%}
    {{ return(var('feature_half_life_days') / 0.6931471805599453) }}
{%- endmacro %}

{#- Days since the feature epoch, as a float. -#}
{% macro feature_day(date_expression) -%}
    cast({{ dbt.datediff("cast('" ~ var('feature_epoch') ~ "' as date)", date_expression, 'day') }} as {{ dbt.type_float() }})
{%- endmacro %}

{#- exp(day / tau): the weight a sale of that day carries, up to the common factor exp(-d / tau). -#}
{% macro feature_day_weight(date_expression) -%}
    exp({{ feature_day(date_expression) }} / {{ feature_tau() }})
{%- endmacro %}

{#- Effective number of comparable sales (EW count) at day `date_expression`, and their EW mean
    log price per sqft, from prior totals. -#}
{% macro ew_sales(prior_weight, date_expression) -%}
    cast(coalesce({{ prior_weight }}, 0) * exp(-1 * {{ feature_day(date_expression) }} / {{ feature_tau() }}) as numeric(14, 4))
{%- endmacro %}

{% macro ew_mean(prior_weighted_sum, prior_weight) -%}
    cast({{ prior_weighted_sum }} / nullif({{ prior_weight }}, 0) as numeric(12, 6))
{%- endmacro %}

{#- The feature columns feat_avm_sales and feat_avm_properties share (same names and types, so one
    model trains on one and scores the other): property attributes from relation `attributes`,
    ages relative to `event_date`, and the point-in-time market columns from the CTEs both models
    name region_totals, neighborhood_totals, market_context and previous_sales. -#}
{% macro avm_feature_columns(attributes, event_date, previous_sales='previous_sales', market_context='market_context') -%}
    cast({{ attributes }}.living_sqft as integer) as living_sqft,
    cast({{ attributes }}.lot_sqft as integer) as lot_sqft,
    cast({{ attributes }}.above_grade_sqft as integer) as above_grade_sqft,
    cast({{ attributes }}.basement_sqft as integer) as basement_sqft,
    cast({{ attributes }}.nearby_living_sqft as integer) as nearby_living_sqft,
    cast({{ attributes }}.nearby_lot_sqft as integer) as nearby_lot_sqft,
    cast({{ attributes }}.bedrooms as smallint) as bedrooms,
    cast({{ attributes }}.bathrooms as numeric(4, 2)) as bathrooms,
    cast({{ attributes }}.stories as numeric(3, 1)) as stories,
    cast({{ attributes }}.year_built as smallint) as year_built,
    cast(extract(year from {{ event_date }}) - {{ attributes }}.year_built as smallint) as age_years,
    cast(extract(year from {{ event_date }}) - {{ attributes }}.year_renovated as smallint)
        as years_since_renovation,
    cast({{ attributes }}.quality_grade as smallint) as quality_grade,
    cast({{ attributes }}.condition_code as smallint) as condition_code,
    cast({{ attributes }}.view_score as smallint) as view_score,
    cast(case when {{ attributes }}.is_waterfront then 1 when not {{ attributes }}.is_waterfront then 0 end as smallint)
        as has_waterfront,
    cast({{ attributes }}.latitude as numeric(9, 6)) as latitude,
    cast({{ attributes }}.longitude as numeric(9, 6)) as longitude,
    {{ ew_sales('region_totals.prior_weight', event_date) }} as region_prior_sales_ew,
    {{ ew_mean('region_totals.prior_weighted_log_ppsf', 'region_totals.prior_weight') }} as region_ew_log_ppsf,
    cast(region_totals.last_comparable_date as date) as region_last_comparable_date,
    {{ ew_sales('neighborhood_totals.prior_weight', event_date) }}
        as neighborhood_prior_sales_ew,
    {{ ew_mean('neighborhood_totals.prior_weighted_log_ppsf', 'neighborhood_totals.prior_weight') }}
        as neighborhood_ew_log_ppsf,
    cast(neighborhood_totals.last_comparable_date as date) as neighborhood_last_comparable_date,
    cast({{ market_context }}.market_month as date) as market_context_month,
    cast({{ market_context }}.active_listings_count as integer) as region_active_listings,
    cast({{ market_context }}.months_of_supply as numeric(10, 2)) as region_months_of_supply,
    cast({{ market_context }}.median_days_on_market as numeric(8, 1)) as region_median_days_on_market,
    cast({{ market_context }}.median_sale_price_yoy_pct as numeric(12, 6)) as region_median_price_yoy_pct,
    cast({{ market_context }}.index_yoy_pct as numeric(12, 6)) as region_index_yoy_pct,
    cast({{ previous_sales }}.previous_sale_price as numeric(14, 2)) as previous_sale_price,
    cast({{ previous_sales }}.previous_sale_date as date) as previous_sale_date,
    cast(
        {{ dbt.datediff(previous_sales ~ '.previous_sale_date', event_date, 'day') }}
        as integer
    ) as days_since_previous_sale
{%- endmacro %}
