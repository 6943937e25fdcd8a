{#- One row per alert:
    - market_move: TerraMiner's computed index moved at least var('alert_index_mom_threshold')
      month over month (high at twice the threshold);
    - price_cut: a listing cut at least var('alert_price_cut_threshold') below its first list price
      (high from 20 %);
    - suspicious_sale: a non-arm's-length residential sale below var('alert_suspicious_ppsf_ratio')
      of its region-month median price per sqft (high below a tenth of it);
    - fast_flip: an arm's-length resale of the same property within var('alert_flip_max_days') days
      at least var('alert_flip_min_gain') above the previous arm's-length price (high from +50 %);
      same-day "resales" are multi-unit records of one deal, not flips.
    Incremental: the pre-hook deletes what a daily build can change and
    the model inserts it again: every market move (a handful of index months), the price cuts of
    the listings fct_listings recomputed since this model's previous run, and the suspicious sales
    and fast flips of each region from its sale cutoff on (feature_cutoffs: the month of the cutoff
    for suspicious sales, whose region-month median moves with every sale of the month; the day
    for flips, whose previous sale may come from before the cutoff and is read from all the sales
    of the properties involved). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        pre_hook=["
            {#- What an incremental build recomputes: every market move, the price cuts of the
                listings fct_listings recomputed since, the suspicious sales from each region's
                cutoff month on and the fast flips from its cutoff day on. -#}
            {%- set fct_listings, fct_sales, regions = ref('fct_listings'), ref('fct_sales'), ref('regions') -%}
            {%- if is_incremental() -%}
            {%- set cutoffs = feature_cutoffs(fct_sales, regions) -%}
            delete from {{ this }}
            where
                alert_type = 'market_move'
                or (
                    alert_type = 'price_cut'
                    and subject_id in (select listing_id from {{ fct_listings }} where {{ updated_since_previous_run() }})
                )
                or (
                    alert_type = 'suspicious_sale'
                    and {{ after_feature_cutoff(cutoffs, 'region_id', 'detected_for_date', fct_sales, regions, monthly=true) }}
                )
                or (
                    alert_type = 'fast_flip'
                    and {{ after_feature_cutoff(cutoffs, 'region_id', 'detected_for_date', fct_sales, regions) }}
                )
            {%- endif -%}
        "],
        **platform_config(
            indexes=[
                {'columns': ['alert_id'], 'unique': true},
                {'columns': ['region_id', 'detected_for_date']},
                {'columns': ['subject_id']},
            ],
            dist='even',
            sort=['detected_for_date'],
        )
    )
}}
{%- set fct_sales, regions = ref('fct_sales'), ref('regions') %}
{%- set cutoffs = feature_cutoffs(fct_sales, regions) if is_incremental() else none %}
with

index_values as (

    select * from {{ ref('fct_price_index_monthly') }}
    where index_source = 'terraminer'

),

listings as (

    select * from {{ ref('fct_listings') }}
    {%- if is_incremental() %}
    where {{ updated_since_previous_run() }}
    {%- endif %}

),

recent_sales as (

    select
        sale_id,
        property_id,
        region_id,
        non_arms_length_reason,
        price_per_sqft,
        is_arms_length,
        is_residential,
        sale_date,
        sale_month
    from {{ ref('fct_sales') }}
    {%- if is_incremental() %}
    where {{ after_feature_cutoff(cutoffs, 'region_id', 'sale_date', fct_sales, regions, monthly=true) }}
    {%- endif %}

),

{% if is_incremental() -%}
flip_properties as (

    select distinct property_id
    from {{ ref('fct_sales') }}
    where
        is_arms_length
        and sale_price > 0
        and {{ after_feature_cutoff(cutoffs, 'region_id', 'sale_date', fct_sales, regions) }}

),

{% endif -%}
market_medians as (

    select * from {{ ref('mart_market_monthly') }}

),

market_moves as (

    select
        'market_move' as alert_type,
        case
            when abs(mom_change_pct) >= 2 * {{ var('alert_index_mom_threshold') }} then 'high'
            else 'medium'
        end as severity,
        region_id,
        'region' as subject_type,
        region_id || ':' || cast(index_month as varchar(10)) as subject_id,
        cast(null as varchar(64)) as property_id,
        mom_change_pct as metric_value,
        {{ var('alert_index_mom_threshold') }} as threshold_value,
        'TerraMiner index of ' || region_id || ' '
        || case when mom_change_pct > 0 then 'rose' else 'fell' end
        || ' ' || cast(cast(abs(mom_change_pct) * 100 as numeric(8, 1)) as varchar(16))
        || '% month over month in ' || left(cast(index_month as varchar(10)), 7) as message,
        index_month as detected_for_date
    from index_values
    where abs(mom_change_pct) >= {{ var('alert_index_mom_threshold') }}

),

price_cuts as (

    select
        'price_cut' as alert_type,
        case
            when total_price_cut_pct >= 0.20 then 'high'
            when total_price_cut_pct >= 0.15 then 'medium'
            else 'low'
        end as severity,
        region_id,
        'listing' as subject_type,
        listing_id as subject_id,
        property_id,
        total_price_cut_pct as metric_value,
        {{ var('alert_price_cut_threshold') }} as threshold_value,
        'Listing ' || listing_id || ' cut '
        || cast(cast(total_price_cut_pct * 100 as numeric(8, 1)) as varchar(16))
        || '% below its first list price of '
        || cast(cast(first_list_price as numeric(14, 0)) as varchar(20)) || ' ' || currency_code as message,
        cast(deep_price_cut_at as date) as detected_for_date
    from listings
    where total_price_cut_pct >= {{ var('alert_price_cut_threshold') }}

),

suspicious_sales as (

    select
        'suspicious_sale' as alert_type,
        case
            when sales.price_per_sqft < 0.1 * market_medians.median_price_per_sqft then 'high'
            else 'medium'
        end as severity,
        sales.region_id,
        'sale' as subject_type,
        sales.sale_id as subject_id,
        sales.property_id,
        sales.price_per_sqft / market_medians.median_price_per_sqft as metric_value,
        {{ var('alert_suspicious_ppsf_ratio') }} as threshold_value,
        'Non-arm''s-length sale ' || sales.sale_id || ' (' || sales.non_arms_length_reason || ') at '
        || cast(cast(100 * sales.price_per_sqft / market_medians.median_price_per_sqft as numeric(8, 1)) as varchar(16))
        || '% of the region-month median price per sqft' as message,
        sales.sale_date as detected_for_date
    from recent_sales as sales
    inner join market_medians
        on
            sales.region_id = market_medians.region_id
            and sales.sale_month = market_medians.activity_month
    where
        not sales.is_arms_length
        and sales.is_residential
        and sales.price_per_sqft is not null
        and sales.price_per_sqft
        < {{ var('alert_suspicious_ppsf_ratio') }} * market_medians.median_price_per_sqft

),

arms_length_sales as (

    select
        sale_id,
        property_id,
        region_id,
        currency_code,
        sale_price,
        sale_date,
        lag(sale_price) over (
            partition by property_id
            order by sale_date, sale_id
        ) as previous_sale_price,
        lag(sale_date) over (
            partition by property_id
            order by sale_date, sale_id
        ) as previous_sale_date
    from {{ ref('fct_sales') }}
    where
        is_arms_length
        and sale_price > 0
    {% if is_incremental() %}
        and property_id in (select flip_properties.property_id from flip_properties)
    {% endif %}

),

fast_flips as (

    select
        'fast_flip' as alert_type,
        case when sale_price >= 1.5 * previous_sale_price then 'high' else 'medium' end as severity,
        region_id,
        'sale' as subject_type,
        sale_id as subject_id,
        property_id,
        sale_price / previous_sale_price - 1 as metric_value,
        {{ var('alert_flip_min_gain') }} as threshold_value,
        'Property ' || property_id || ' resold after '
        || cast({{ dbt.datediff('previous_sale_date', 'sale_date', 'day') }} as varchar(8))
        || ' days at ' || cast(cast(100 * (sale_price / previous_sale_price - 1) as numeric(8, 1)) as varchar(16))
        || '% above its previous price' as message,
        sale_date as detected_for_date
    from arms_length_sales
    where
        previous_sale_date is not null
        and {{ dbt.datediff('previous_sale_date', 'sale_date', 'day') }} between 1 and {{ var('alert_flip_max_days') }}
        and sale_price >= (1 + {{ var('alert_flip_min_gain') }}) * previous_sale_price
    {% if is_incremental() %}
        and {{ after_feature_cutoff(cutoffs, 'region_id', 'sale_date', fct_sales, regions) }}
    {% endif %}

),

unioned as (

    select * from market_moves
    union all
    select * from price_cuts
    union all
    select * from suspicious_sales
    union all
    select * from fast_flips

),

final as (

    select
        {{ surrogate_key(['alert_type', 'subject_id']) }} as alert_id,
        cast(alert_type as varchar(32)) as alert_type,
        cast(severity as varchar(8)) as severity,
        cast(region_id as varchar(8)) as region_id,
        cast(subject_type as varchar(16)) as subject_type,
        cast(subject_id as varchar(64)) as subject_id,
        cast(property_id as varchar(64)) as property_id,
        cast(message as varchar(400)) as message,
        cast(metric_value as numeric(18, 6)) as metric_value,
        cast(threshold_value as numeric(18, 6)) as threshold_value,
        cast(detected_for_date as date) as detected_for_date
    from unioned

)

select * from final
