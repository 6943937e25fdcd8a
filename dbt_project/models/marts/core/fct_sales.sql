{#- One row per sale of every source (synthetic recorder, King County, NYC DOF, UK Land
    Registry): property, region, price, price per sqft, attributes at the sale, arm's-length and
    outlier flags.

    Incremental (custom strategy replace_file: delete+insert on sale_id, plus every row of a
    re-loaded file is replaced, see macros/incremental/replace_file.sql). An incremental run reads only
      - rows loaded after the watermark (max loaded_at already here): new, late and re-delivered
        files; the filter is pushed through the int_* views down to every raw scan;
      - plus sales dated within var('incremental_lookback_days') days of the watermark's day, to
        absorb late commits of concurrent loads and re-derive the flags of recent sales.
      - plus the sales int_sales_classified recomputed since fct_sales' previous run (a new
        assessor roll changes the attributes of the sales of its parcels);
      - plus, in a run re-deriving past landing days, every sale of the files landed on those days
        (macros/incremental/reprocess.sql: replace_file replaces those files' rows whole).
    The watermark is read once and inlined as a literal so PostgreSQL plans the few new rows with
    index lookups. The pre-hook deletes UK transactions the change feed deleted. -#}
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
        **platform_config(
            indexes=[
                {'columns': ['loaded_at']},
                {'columns': ['file_key']},
                {'columns': ['property_id', 'sale_date']},
                {'columns': ['sale_id'], 'unique': true},
                {'columns': ['dbt_updated_at']},
            ],
            dist='property_id',
            sort=['sale_date', 'region_id'],
        )
    )
}}
{%- set watermark = load_watermark() if is_incremental() else none %}
{%- set reprocessed = landed_in_reprocess_range('file_key') if is_incremental() else none %}

with

sales as (

    select * from {{ ref('int_sales_flagged') }}
    {% if is_incremental() %}
    where
        loaded_at > {{ watermark }}
        or sale_date >= {{ dbt.dateadd('day', -1 * var('incremental_lookback_days'), 'cast(' ~ watermark ~ ' as date)') }}
        or {{ updated_since_previous_run() }}
        {%- if reprocessed %}
        or {{ reprocessed }}
        {%- endif %}
    {% endif %}

),

final as (

    select
        cast(sale_id as varchar(64)) as sale_id,
        cast(source_sale_id as varchar(40)) as source_sale_id,
        cast(property_id as varchar(64)) as property_id,
        cast(region_id as varchar(8)) as region_id,
        cast(submarket_id as varchar(64)) as submarket_id,
        cast(source_system as varchar(32)) as source_system,
        cast(property_type as varchar(32)) as property_type,
        cast(property_subtype as varchar(32)) as property_subtype,
        cast(transfer_code as varchar(8)) as transfer_code,
        cast(non_arms_length_reason as varchar(32)) as non_arms_length_reason,
        cast(outlier_reason as varchar(32)) as outlier_reason,
        cast(attribute_issue as varchar(64)) as attribute_issue,
        cast(currency_code as varchar(3)) as currency_code,
        cast(postcode as varchar(8)) as postcode,
        cast(sale_price as numeric(14, 2)) as sale_price,
        cast(price_per_sqft as numeric(14, 2)) as price_per_sqft,
        cast(price_zscore as numeric(10, 4)) as price_zscore,
        cast(assessed_value as numeric(14, 2)) as assessed_value,
        cast(assessed_roll_year as smallint) as assessed_roll_year,
        cast(reference_assessed_value as numeric(14, 2)) as reference_assessed_value,
        cast(living_sqft as integer) as living_sqft,
        cast(lot_sqft as integer) as lot_sqft,
        cast(above_grade_sqft as integer) as above_grade_sqft,
        cast(basement_sqft as integer) as basement_sqft,
        cast(nearby_living_sqft as integer) as nearby_living_sqft,
        cast(nearby_lot_sqft as integer) as nearby_lot_sqft,
        cast(bedrooms as smallint) as bedrooms,
        cast(bathrooms as numeric(4, 2)) as bathrooms,
        cast(stories as numeric(3, 1)) as stories,
        cast(year_built as smallint) as year_built,
        cast(year_renovated as smallint) as year_renovated,
        cast(condition_code as smallint) as condition_code,
        cast(quality_grade as smallint) as quality_grade,
        cast(view_score as smallint) as view_score,
        cast(latitude as numeric(9, 6)) as latitude,
        cast(longitude as numeric(9, 6)) as longitude,
        cast(is_arms_length as boolean) as is_arms_length,
        cast(is_outlier as boolean) as is_outlier,
        cast(is_residential as boolean) as is_residential,
        cast(is_related_party as boolean) as is_related_party,
        cast(is_waterfront as boolean) as is_waterfront,
        cast(is_new_build as boolean) as is_new_build,
        cast(sale_date as date) as sale_date,
        cast(sale_month as date) as sale_month,
        cast(recording_date as date) as recording_date,
        cast(file_key as varchar(1024)) as file_key,
        cast(loaded_at as timestamp with time zone) as loaded_at,
        {{ updated_at_now() }} as dbt_updated_at
    from sales

)

select * from final
