{#- Market KPIs per region and month. Sales KPIs use arm's-length, non-outlier residential
    sales; listing KPIs (MLS regions only, null elsewhere) use fct_listings:
    - median sale price and price per sqft, and the median's change on the same month a year
      before;
    - median days on market of the listings sold in the month;
    - active listings at month end (listed, not yet pending / sold / withdrawn) and months of
      supply = active listings / the month's sales.
    Each median is its own aggregation step (Redshift requires the sort-based aggregates of one
    SELECT to share their ORDER BY). -#}
with

sales as (

    select
        region_id,
        sale_month,
        sale_price,
        price_per_sqft,
        is_arms_length,
        is_outlier,
        is_residential
    from {{ ref('fct_sales') }}
    where region_id is not null

),

listings as (

    select
        region_id,
        listed_date,
        inventory_exit_date,
        sold_at,
        is_sold,
        days_on_market
    from {{ ref('fct_listings') }}
    where region_id is not null

),

computed_index as (

    select * from {{ ref('int_price_indices_computed') }}

),

regions as (

    select * from {{ ref('regions') }}

),

market_sales as (

    select
        region_id,
        sale_month,
        sale_price,
        price_per_sqft
    from sales
    where
        is_arms_length
        and not is_outlier
        and is_residential

),

transfer_counts as (

    select
        region_id,
        sale_month as activity_month,
        count(*) as transfers_count,
        sum(case when is_arms_length and not is_outlier and is_residential then 1 else 0 end) as sales_count
    from sales
    group by region_id, sale_month

),

median_prices as (

    select
        region_id,
        sale_month as activity_month,
        {{ median('sale_price') }} as median_sale_price
    from market_sales
    group by region_id, sale_month

),

median_price_per_sqft as (

    select
        region_id,
        sale_month as activity_month,
        {{ median('price_per_sqft') }} as median_price_per_sqft
    from market_sales
    where price_per_sqft is not null
    group by region_id, sale_month

),

listing_regions as (

    select distinct region_id
    from listings

),

new_listings as (

    select
        region_id,
        {{ month_start('listed_date') }} as activity_month,
        count(*) as new_listings_count
    from listings
    group by region_id, {{ month_start('listed_date') }}

),

inventory_exits as (

    select
        region_id,
        {{ month_start('inventory_exit_date') }} as activity_month,
        count(*) as exits_count
    from listings
    where inventory_exit_date is not null
    group by region_id, {{ month_start('inventory_exit_date') }}

),

sold_listings as (

    select
        region_id,
        {{ month_start('sold_at') }} as activity_month,
        count(*) as sold_listings_count
    from listings
    where is_sold
    group by region_id, {{ month_start('sold_at') }}

),

median_days_on_market as (

    select
        region_id,
        {{ month_start('sold_at') }} as activity_month,
        {{ median('days_on_market') }} as median_days_on_market
    from listings
    where is_sold
    group by region_id, {{ month_start('sold_at') }}

),

activity_months as (

    select
        region_id,
        activity_month
    from transfer_counts
    union all
    select
        region_id,
        activity_month
    from new_listings
    union all
    select
        region_id,
        activity_month
    from inventory_exits
    union all
    select
        region_id,
        activity_month
    from sold_listings

),

months as (

    select distinct
        region_id,
        activity_month
    from activity_months

),

inventory as (

    select
        months.region_id,
        months.activity_month,
        coalesce(new_listings.new_listings_count, 0) as new_listings_count,
        sum(coalesce(new_listings.new_listings_count, 0) - coalesce(inventory_exits.exits_count, 0)) over (
            partition by months.region_id
            order by months.activity_month
            rows between unbounded preceding and current row
        ) as active_listings_count
    from months
    inner join listing_regions
        on months.region_id = listing_regions.region_id
    left join new_listings
        on
            months.region_id = new_listings.region_id
            and months.activity_month = new_listings.activity_month
    left join inventory_exits
        on
            months.region_id = inventory_exits.region_id
            and months.activity_month = inventory_exits.activity_month

),

joined as (

    select
        months.region_id,
        months.activity_month,
        regions.currency_code,
        coalesce(transfer_counts.transfers_count, 0) as transfers_count,
        coalesce(transfer_counts.sales_count, 0) as sales_count,
        median_prices.median_sale_price,
        median_price_per_sqft.median_price_per_sqft,
        year_ago.median_sale_price as year_ago_median_sale_price,
        inventory.new_listings_count,
        case
            when listing_regions.region_id is not null then coalesce(sold_listings.sold_listings_count, 0)
        end as sold_listings_count,
        median_days_on_market.median_days_on_market,
        inventory.active_listings_count,
        computed_index.index_value as terraminer_index_value
    from months
    left join regions
        on months.region_id = regions.region_id
    left join transfer_counts
        on
            months.region_id = transfer_counts.region_id
            and months.activity_month = transfer_counts.activity_month
    left join median_prices
        on
            months.region_id = median_prices.region_id
            and months.activity_month = median_prices.activity_month
    left join median_price_per_sqft
        on
            months.region_id = median_price_per_sqft.region_id
            and months.activity_month = median_price_per_sqft.activity_month
    left join median_prices as year_ago
        on
            months.region_id = year_ago.region_id
            and year_ago.activity_month = {{ dbt.dateadd('month', -12, 'months.activity_month') }}
    left join listing_regions
        on months.region_id = listing_regions.region_id
    left join inventory
        on
            months.region_id = inventory.region_id
            and months.activity_month = inventory.activity_month
    left join sold_listings
        on
            months.region_id = sold_listings.region_id
            and months.activity_month = sold_listings.activity_month
    left join median_days_on_market
        on
            months.region_id = median_days_on_market.region_id
            and months.activity_month = median_days_on_market.activity_month
    left join computed_index
        on
            months.region_id = computed_index.region_id
            and months.activity_month = computed_index.index_month

),

final as (

    select
        cast(region_id as varchar(8)) as region_id,
        cast(activity_month as date) as activity_month,
        cast(currency_code as varchar(3)) as currency_code,
        cast(transfers_count as integer) as transfers_count,
        cast(sales_count as integer) as sales_count,
        cast(median_sale_price as numeric(14, 2)) as median_sale_price,
        cast(median_price_per_sqft as numeric(14, 2)) as median_price_per_sqft,
        cast(year_ago_median_sale_price as numeric(14, 2)) as year_ago_median_sale_price,
        cast(median_sale_price / nullif(year_ago_median_sale_price, 0) - 1 as numeric(12, 6))
            as median_sale_price_yoy_pct,
        cast(new_listings_count as integer) as new_listings_count,
        cast(sold_listings_count as integer) as sold_listings_count,
        cast(median_days_on_market as numeric(8, 1)) as median_days_on_market,
        cast(active_listings_count as integer) as active_listings_count,
        cast(
            case
                when active_listings_count is not null
                    then cast(active_listings_count as numeric(14, 4)) / nullif(sales_count, 0)
            end as numeric(10, 2)
        ) as months_of_supply,
        cast(terraminer_index_value as numeric(18, 6)) as terraminer_index_value
    from joined

)

select * from final
