{#- TerraMiner's own monthly house price index per region, composition-adjusted:
    1. arm's-length, non-outlier residential sales only (fct_sales' flags);
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
    5. exp(mean residual) is indexed to 100 at each region's first published month.
    Steps 1-3 read the per-month cell counts and sums of int_price_index_cells (incremental): a
    month's residual sum is the sum over its cells of (sum of measures - sales x cell mean), so
    this model never rescans the sales. -#}
{%- set min_cell_sales = 5 -%}
with

cells as (

    select * from {{ ref('int_price_index_cells') }}

),

window_weights as (

    select * from {{ ref('index_window_weights') }}

),

cell_means as (

    select
        region_id,
        method,
        submarket_id,
        property_type,
        sum(sum_log_measure) / sum(sales_count) as cell_mean,
        sum(sales_count) as cell_sales
    from cells
    group by region_id, method, submarket_id, property_type

),

monthly as (

    select
        cells.region_id,
        cells.sale_month,
        sum(cells.sales_count) as sales_count,
        sum(cells.sum_log_measure - cells.sales_count * cell_means.cell_mean) as sum_log_residual,
        max(case when cells.method = 'spar' then 1 else 0 end) as uses_spar
    from cells
    inner join cell_means
        on
            cells.region_id = cell_means.region_id
            and cells.method = cell_means.method
            and cells.submarket_id = cell_means.submarket_id
            and cells.property_type = cell_means.property_type
    where cell_means.cell_sales >= {{ min_cell_sales }}
    group by cells.region_id, cells.sale_month

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
