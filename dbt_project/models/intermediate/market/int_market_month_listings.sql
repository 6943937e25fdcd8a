{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook=["{{ 'delete from ' ~ this ~ ' where activity_month >= ' ~ changed_month_start(ref('fct_listings'), 'listed_date')
                     if is_incremental() else '' }}"],
        **platform_config(
            indexes=[
                {'columns': ['region_id', 'activity_month'], 'unique': true},
            ],
            dist='region_id',
            sort=['region_id', 'activity_month'],
        )
    )
}}
{#- The listing side of mart_market_monthly, per region and month (MLS regions): listings added
    (by listed month), listings leaving active inventory (pending, sold or withdrawn), listings
    sold and their median days on market (by sale month). Months without any of these have no row.
    Incremental: the months from changed_month_start() on (the listed month of the earliest
    listing recomputed since this model's previous run; open listings are recomputed daily, so
    this is a few months back) are deleted and recomputed from fct_listings. -#}
{%- set since = changed_month_start(ref('fct_listings'), 'listed_date') if is_incremental() else none %}
with

listings as (

    select
        region_id,
        listed_date,
        inventory_exit_date,
        sold_at,
        is_sold,
        days_on_market
    from {{ ref('fct_listings') }}
    where
        region_id is not null
    {% if since is not none %}
        and (
            listed_date >= {{ since }}
            or inventory_exit_date >= {{ since }}
            or sold_at >= {{ since }}
        )
    {% endif %}

),

new_listings as (

    select
        region_id,
        {{ month_start('listed_date') }} as activity_month,
        count(*) as new_listings_count
    from listings
    {% if since is not none -%}
    where {{ month_start('listed_date') }} >= {{ since }}
    {%- endif %}
    group by region_id, {{ month_start('listed_date') }}

),

inventory_exits as (

    select
        region_id,
        {{ month_start('inventory_exit_date') }} as activity_month,
        count(*) as exits_count
    from listings
    where
        inventory_exit_date is not null
    {% if since is not none %}
        and {{ month_start('inventory_exit_date') }} >= {{ since }}
    {% endif %}
    group by region_id, {{ month_start('inventory_exit_date') }}

),

sold_listings as (

    select
        region_id,
        {{ month_start('sold_at') }} as activity_month,
        count(*) as sold_listings_count,
        {{ median('days_on_market') }} as median_days_on_market
    from listings
    where
        is_sold
    {% if since is not none %}
        and {{ month_start('sold_at') }} >= {{ since }}
    {% endif %}
    group by region_id, {{ month_start('sold_at') }}

),

activity_months as (

    select
        region_id,
        activity_month
    from new_listings
    union
    select
        region_id,
        activity_month
    from inventory_exits
    union
    select
        region_id,
        activity_month
    from sold_listings

),

final as (

    select
        cast(activity_months.region_id as varchar(8)) as region_id,
        cast(activity_months.activity_month as date) as activity_month,
        cast(coalesce(new_listings.new_listings_count, 0) as integer) as new_listings_count,
        cast(coalesce(inventory_exits.exits_count, 0) as integer) as exits_count,
        cast(coalesce(sold_listings.sold_listings_count, 0) as integer) as sold_listings_count,
        cast(sold_listings.median_days_on_market as {{ dbt.type_float() }}) as median_days_on_market
    from activity_months
    left join new_listings
        on
            activity_months.region_id = new_listings.region_id
            and activity_months.activity_month = new_listings.activity_month
    left join inventory_exits
        on
            activity_months.region_id = inventory_exits.region_id
            and activity_months.activity_month = inventory_exits.activity_month
    left join sold_listings
        on
            activity_months.region_id = sold_listings.region_id
            and activity_months.activity_month = sold_listings.activity_month

)

select * from final
