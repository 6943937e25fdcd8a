{#- Market KPIs per region and month. Sales KPIs use arm's-length, non-outlier residential
    sales; listing KPIs (MLS regions only, null elsewhere) use fct_listings:
    - median sale price and price per sqft, and the median's change on the same month a year
      before;
    - median days on market of the listings sold in the month;
    - active listings at month end (listed, not yet pending / sold / withdrawn) and months of
      supply = active listings / the month's sales.
    The sales side comes per region-month from int_market_month_sales, the listing side from
    int_market_month_listings (both incremental by month, each median in its own aggregation step
    for Redshift); this model joins a few hundred rows. -#}
with

month_sales as (

    select
        region_id,
        sale_month as activity_month,
        transfers_count,
        sales_count,
        median_sale_price,
        median_price_per_sqft
    from {{ ref('int_market_month_sales') }}

),

month_listings as (

    select
        region_id,
        activity_month,
        new_listings_count,
        exits_count,
        sold_listings_count,
        median_days_on_market
    from {{ ref('int_market_month_listings') }}

),

computed_index as (

    select * from {{ ref('int_price_indices_computed') }}

),

regions as (

    select * from {{ ref('regions') }}

),

listing_regions as (

    select distinct region_id
    from month_listings

),

activity_months as (

    select
        region_id,
        activity_month
    from month_sales
    union all
    select
        region_id,
        activity_month
    from month_listings

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
        coalesce(month_listings.new_listings_count, 0) as new_listings_count,
        sum(coalesce(month_listings.new_listings_count, 0) - coalesce(month_listings.exits_count, 0)) over (
            partition by months.region_id
            order by months.activity_month
            rows between unbounded preceding and current row
        ) as active_listings_count
    from months
    inner join listing_regions
        on months.region_id = listing_regions.region_id
    left join month_listings
        on
            months.region_id = month_listings.region_id
            and months.activity_month = month_listings.activity_month

),

joined as (

    select
        months.region_id,
        months.activity_month,
        regions.currency_code,
        coalesce(month_sales.transfers_count, 0) as transfers_count,
        coalesce(month_sales.sales_count, 0) as sales_count,
        month_sales.median_sale_price,
        month_sales.median_price_per_sqft,
        year_ago.median_sale_price as year_ago_median_sale_price,
        inventory.new_listings_count,
        case
            when listing_regions.region_id is not null then coalesce(month_listings.sold_listings_count, 0)
        end as sold_listings_count,
        month_listings.median_days_on_market,
        inventory.active_listings_count,
        computed_index.index_value as terraminer_index_value
    from months
    left join regions
        on months.region_id = regions.region_id
    left join month_sales
        on
            months.region_id = month_sales.region_id
            and months.activity_month = month_sales.activity_month
    left join month_sales as year_ago
        on
            months.region_id = year_ago.region_id
            and year_ago.activity_month = {{ dbt.dateadd('month', -12, 'months.activity_month') }}
    left join listing_regions
        on months.region_id = listing_regions.region_id
    left join inventory
        on
            months.region_id = inventory.region_id
            and months.activity_month = inventory.activity_month
    left join month_listings
        on
            months.region_id = month_listings.region_id
            and months.activity_month = month_listings.activity_month
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
