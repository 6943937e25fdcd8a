{#- Point-in-time market features (feat_avm_sales, feat_avm_properties).

    Exponentially weighted statistics of comparable sales with half-life
    var('feature_half_life_days'): a sale dated d_i weighs exp(-(d - d_i) / tau) at day d,
    tau = half-life / ln 2. Written as exp(d_i / tau) * exp(-d / tau) the per-day sums are
    plain running totals, so no date spine, LATERAL or RANGE frame is needed (Redshift runs it):
    the window frame `rows between unbounded preceding and 1 preceding` over one row per
    (group, day) sums strictly earlier days only, never the sale's own day. Day numbers count
    from var('feature_epoch') so exp() stays far from overflow for any plausible history. -#}

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

{#- Running totals per (group, day) over strictly earlier days, from a relation with one row
    per sale and the columns sale_date, comparable_weight (0 for non-comparables) and log_ppsf. -#}
{% macro prior_market_totals(relation, group_column) -%}
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
    from (
        select
            {{ group_column }} as group_id,
            sale_date,
            sum(comparable_weight) as day_weight,
            sum(comparable_weight * coalesce(log_ppsf, 0)) as day_weighted_log_ppsf,
            max(case when comparable_weight > 0 then sale_date end) as day_last_comparable
        from {{ relation }}
        where {{ group_column }} is not null
        group by {{ group_column }}, sale_date
    ) as days
{%- endmacro %}

{#- Effective number of comparable sales (EW count) at day `date_expression`, and their EW mean
    log price per sqft, from prior totals. -#}
{% macro ew_sales(prior_weight, date_expression) -%}
    cast(coalesce({{ prior_weight }}, 0) * exp(-1 * {{ feature_day(date_expression) }} / {{ feature_tau() }}) as numeric(14, 4))
{%- endmacro %}

{% macro ew_mean(prior_weighted_sum, prior_weight) -%}
    cast({{ prior_weighted_sum }} / nullif({{ prior_weight }}, 0) as numeric(12, 6))
{%- endmacro %}
