{#- TerraMiner's own monthly house price index per region, composition-adjusted:
    1. arm's-length, non-outlier residential sales only;
    2. each sale's log "measure" is log(price / reference appraisal) where the assessor roll gives
       one (a sale price appraisal ratio, SPAR, index: the appraisal holds the property's quality
       constant), else log(price per sqft), else log(price);
    3. the mean measure of the sale's cell (method x submarket x property type, cells of at least
       5 sales) is subtracted, so a month selling more expensive neighbourhoods or types does not
       look like a price rise;
    4. thin months borrow strength from their neighbours: a month's mean residual is shrunk
       towards the weighted mean of the two months either side (weights 2 and 1, seed
       index_window_weights) with the weight of var('index_smoothing_sales') sales, i.e.
       (sum of the month's residuals + k * neighbour mean) / (month's sales + k). A month with
       thousands of sales keeps its own value, one with thirty gets about a three-month average;
       published when the month and its neighbours hold var('index_min_window_sales') sales;
    5. exp(mean residual) is indexed to 100 at each region's first published month. -#}
{%- set min_cell_sales = 5 -%}
with

sales as (

    select * from {{ ref('int_sales_flagged') }}
    where
        is_arms_length
        and not is_outlier
        and is_residential
        and sale_price > 0
        and region_id is not null

),

window_weights as (

    select * from {{ ref('index_window_weights') }}

),

measured as (

    select
        region_id,
        submarket_id,
        property_type,
        sale_month,
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
        method,
        coalesce(submarket_id, '') as submarket_id,
        property_type,
        avg(log_measure) as cell_mean,
        count(*) as cell_sales
    from measured
    group by region_id, method, coalesce(submarket_id, ''), property_type

),

residuals as (

    select
        measured.region_id,
        measured.sale_month,
        measured.method,
        measured.log_measure - cells.cell_mean as log_residual
    from measured
    inner join cells
        on
            measured.region_id = cells.region_id
            and measured.method = cells.method
            and coalesce(measured.submarket_id, '') = cells.submarket_id
            and measured.property_type = cells.property_type
    where cells.cell_sales >= {{ min_cell_sales }}

),

monthly as (

    select
        region_id,
        sale_month,
        count(*) as sales_count,
        sum(log_residual) as sum_log_residual,
        max(case when method = 'spar' then 1 else 0 end) as uses_spar
    from residuals
    group by region_id, sale_month

),

shifted as (

    select
        monthly.region_id,
        cast({{ dbt.dateadd('month', 'window_weights.month_offset', 'monthly.sale_month') }} as date) as target_month,
        monthly.sales_count,
        monthly.sum_log_residual,
        window_weights.window_weight
    from monthly
    cross join window_weights

),

neighbours as (

    select
        region_id,
        target_month,
        sum(sales_count) as neighbour_sales_count,
        sum(window_weight * sum_log_residual) / sum(window_weight * sales_count) as neighbour_mean_log_residual
    from shifted
    group by region_id, target_month

),

windowed as (

    select
        monthly.region_id,
        monthly.sale_month,
        monthly.sales_count,
        monthly.uses_spar,
        monthly.sales_count + coalesce(neighbours.neighbour_sales_count, 0) as window_sales_count,
        case
            when neighbours.neighbour_mean_log_residual is null
                then monthly.sum_log_residual / monthly.sales_count
            else
                (
                    monthly.sum_log_residual
                    + {{ var('index_smoothing_sales') }} * neighbours.neighbour_mean_log_residual
                )
                / (monthly.sales_count + {{ var('index_smoothing_sales') }})
        end as mean_log_residual
    from monthly
    left join neighbours
        on
            monthly.region_id = neighbours.region_id
            and monthly.sale_month = neighbours.target_month

),

published as (

    select
        *,
        first_value(mean_log_residual) over (
            partition by region_id
            order by sale_month
            rows between unbounded preceding and unbounded following
        ) as base_log_residual,
        max(uses_spar) over (partition by region_id) as region_uses_spar
    from windowed
    where window_sales_count >= {{ var('index_min_window_sales') }}

),

final as (

    select
        cast(region_id as varchar(8)) as region_id,
        cast(
            case when region_uses_spar = 1 then 'sale_price_appraisal_ratio' else 'stratified_mean' end
            as varchar(32)
        ) as index_method,
        cast(100 * exp(mean_log_residual - base_log_residual) as numeric(18, 6)) as index_value,
        cast(mean_log_residual as {{ dbt.type_float() }}) as mean_log_residual,
        cast(sales_count as integer) as sales_count,
        cast(window_sales_count as integer) as window_sales_count,
        cast(sale_month as date) as index_month
    from published

)

select * from final
