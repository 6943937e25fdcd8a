{{
    config(
        materialized='incremental',
        unique_key='sale_id',
        incremental_strategy='replace_file',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ delete_rows_gone_from_feed(ref('stg_uk_land_registry__transaction_changes'),
                                           ref('stg_uk_land_registry__transactions'),
                                           'uk_land_registry', 'uk:') }}",
        ],
        meta={'test_scope_column': 'loaded_at'},
        **platform_config(
            indexes=[
                {'columns': ['sale_id'], 'unique': true},
                {'columns': ['loaded_at']},
                {'columns': ['file_key']},
                {'columns': ['sale_date']},
                {'columns': ['property_id']},
                {'columns': ['dbt_updated_at']},
            ],
            dist='sale_id',
            sort=['loaded_at'],
        )
    )
}}
{#- Canonical sales with their property type, currency, price per sqft, the arm's-length
    classification and impossible-attribute checks (rules that need only the sale itself).
    Arm's-length reasons, first match wins: the transfer type's own reason (quitclaim or trustee
    deed, UK category B), a zero price, a related-party transfer (shared surname), a nominal price
    below var('nominal_price_threshold').
    Incremental, the first table on the sales path: it reads the raw rows loaded since its
    watermark (the filter is pushed through int_sales_unioned down to each raw scan; see
    safe_load_watermark for loads that committed late) and, when an assessor delivery changed
    parcels, the sales of those parcels again (their attributes come from the roll valid in the
    sale year); it replaces re-delivered files like fct_sales (strategy replace_file) and drops UK
    transactions the change feed deleted; a run re-deriving past landing days reads their files
    again (macros/incremental/reprocess.sql). The region-year price profiles, the outlier flags and
    fct_sales then read a table, not the union of every raw feed again. -#}
{%- set parcels = ref('int_parcels_versioned') %}
{%- if is_incremental() %}
{%- set watermark = safe_load_watermark() %}
{%- set reprocessed = landed_in_reprocess_range('file_key') %}
    {%- set parcels_changed = compile_time_values(
        'select 1 from ' ~ parcels ~ ' where ' ~ updated_since_previous_run() ~ ' limit 1') %}
{%- endif %}
with

sales as (

    select * from {{ ref('int_sales_unioned') }}
    {%- if is_incremental() %}
    where
        loaded_at > {{ watermark }}
        {%- if reprocessed %}
        or {{ reprocessed }}
        {%- endif %}
    {%- if parcels_changed is none or parcels_changed | length > 0 %}
    union all
    select * from {{ ref('int_sales_unioned') }}
    where
        not loaded_at > {{ watermark }}
        {%- if reprocessed %}
        and not {{ reprocessed }}
        {%- endif %}
        and sale_id in (
            select classified.sale_id
            from {{ this }} as classified
            inner join {{ parcels }} as parcels
                on classified.property_id = parcels.property_id
            where {{ updated_since_previous_run('parcels.dbt_updated_at') }}
        )
    {%- endif %}
    {%- endif %}

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
            {{ property_type_system('sales.source_system') }} = property_types.source_system
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
        {{ month_start('sale_date') }} as sale_month,
        {{ updated_at_now() }} as dbt_updated_at
    from classified

)

select * from final
