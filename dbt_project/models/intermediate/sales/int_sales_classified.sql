{{ config(materialized='view') }}
{#- Canonical sales with their property type, currency, price per sqft, the arm's-length
    classification and impossible-attribute checks (rules that need only the sale itself, so
    this stays a pushdown-friendly view on the fct_sales path).
    Arm's-length reasons, first match wins: the transfer type's own reason (quitclaim or trustee
    deed, UK category B), a zero price, a related-party transfer (shared surname), a nominal price
    below var('nominal_price_threshold'). -#}
with

sales as (

    select * from {{ ref('int_sales_unioned') }}

),

property_types as (

    select * from {{ ref('property_type_map') }}

),

transfer_types as (

    select * from {{ ref('transfer_types') }}

),

regions as (

    select * from {{ ref('regions') }}

),

classified as (

    select
        sales.*,
        cast(coalesce(property_types.property_type, 'other') as varchar(32)) as property_type,
        cast(coalesce(property_types.property_subtype, 'other') as varchar(32)) as property_subtype,
        coalesce(property_types.is_residential, false) as is_residential,
        cast(regions.currency_code as varchar(3)) as currency_code,
        cast(
            case
                when transfer_types.non_arms_length_reason is not null
                    then transfer_types.non_arms_length_reason
                when sales.sale_price <= 0 then 'zero_price'
                when sales.is_related_party then 'related_party'
                when sales.sale_price < {{ var('nominal_price_threshold') }} then 'nominal_price'
            end as varchar(32)
        ) as non_arms_length_reason,
        cast(
            case
                when sales.bedrooms > 20 then 'more than 20 bedrooms'
                when sales.bedrooms > 0 and sales.living_sqft < 100 * sales.bedrooms
                    then 'under 100 sqft per bedroom'
                when sales.living_sqft < 120 then 'under 120 sqft of living area'
                when sales.year_built > extract(year from sales.sale_date) + 2 then 'built after the sale'
            end as varchar(64)
        ) as attribute_issue,
        cast(
            case
                when sales.living_sqft > 0 and sales.sale_price > 0
                    then sales.sale_price / sales.living_sqft
            end as numeric(18, 6)
        ) as price_per_sqft
    from sales
    left join property_types
        on
            sales.source_system = property_types.source_system
            and sales.source_property_code = property_types.source_code
    left join transfer_types
        on
            sales.source_system = transfer_types.source_system
            and sales.transfer_code = transfer_types.transfer_code
    left join regions
        on sales.region_id = regions.region_id

),

final as (

    select
        *,
        non_arms_length_reason is null as is_arms_length,
        cast(extract(year from sale_date) as smallint) as sale_year,
        {{ month_start('sale_date') }} as sale_month
    from classified

)

select * from final
