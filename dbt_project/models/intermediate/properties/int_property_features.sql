{{
    config(
        materialized='incremental',
        unique_key='property_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook=["{{ delete_real_sources([ref('int_properties_unioned'), ref('fct_sales')], not_residential_from=ref('int_properties_unioned')) }}"],
        meta={'test_scope_column': 'loaded_at'},
        **platform_config(
            indexes=[
                {'columns': ['property_id'], 'unique': true},
                {'columns': ['loaded_at']},
                {'columns': ['previous_sale_file_key']},
            ],
            dist='property_id',
            sort=['property_id'],
        )
    )
}}
{#- The property side of the AVM scoring rows (feat_avm_properties): every residential property
    with its current attributes (dim_properties) and its last arm's-length, priced residential sale
    (mean price if it sold twice that day), from which the scoring view takes the "previous sale"
    features. loaded_at is the newer of the two inputs' load times.
    Incremental by property: synthetic properties whose row or sales the upstream models
    recomputed since this model's previous run are recomputed (delete+insert on property_id), and
    so are those whose last sale came from a re-delivered file (it may be gone); a real feed
    (King County, NYC, UK) with any change is recomputed whole (small feeds whose corrections and
    the UK change feed can remove properties). The pre-hook deletes what may have left: those
    feeds, and changed properties that are no longer residential. -#}
{%- set properties_unioned = ref('int_properties_unioned') %}
{% if is_incremental() %}
{%- set whole_sources = changed_real_sources([properties_unioned, ref('fct_sales')]) %}
{% endif %}
with

{% if is_incremental() -%}
changed_sales as (

    select
        property_id,
        file_key
    from {{ ref('fct_sales') }}
    where {{ updated_since_previous_run() }}

),

changed_properties as (

    select property_id from {{ properties_unioned }}
    where {{ updated_since_previous_run() }}
    union
    select property_id from changed_sales
    union
    select property_id from {{ this }}
    where previous_sale_file_key in (select changed_sales.file_key from changed_sales)
    {%- if whole_sources is none or whole_sources | length > 0 %}
    union
    select property_id from {{ properties_unioned }}
    where {{ in_values('source_system', whole_sources, "select 'none'") }}
    {% endif %}

),
{% endif %}

properties as (

    select * from {{ ref('dim_properties') }}
    where
        is_residential
    {% if is_incremental() %}
        and property_id in (select changed_properties.property_id from changed_properties)
    {% endif %}

),

sales as (

    select
        property_id,
        sale_date,
        sale_price,
        file_key,
        loaded_at
    from {{ ref('fct_sales') }}
    where
        is_arms_length
        and is_residential
        and sale_price > 0
    {% if is_incremental() %}
        and property_id in (select properties.property_id from properties)
    {% endif %}

),

last_sale_days as (

    select
        property_id,
        max(sale_date) as previous_sale_date
    from sales
    group by property_id

),

previous_sales as (

    select
        last_sale_days.property_id,
        last_sale_days.previous_sale_date,
        avg(sales.sale_price) as previous_sale_price,
        max(sales.file_key) as previous_sale_file_key,
        max(sales.loaded_at) as sales_loaded_at
    from last_sale_days
    inner join sales
        on
            last_sale_days.property_id = sales.property_id
            and last_sale_days.previous_sale_date = sales.sale_date
    group by last_sale_days.property_id, last_sale_days.previous_sale_date

),

final as (

    select
        cast(properties.property_id as varchar(64)) as property_id,
        cast(properties.source_system as varchar(32)) as source_system,
        cast(properties.region_id as varchar(8)) as region_id,
        cast(properties.submarket_id as varchar(64)) as submarket_id,
        cast(properties.property_type as varchar(32)) as property_type,
        properties.living_sqft,
        properties.lot_sqft,
        properties.above_grade_sqft,
        properties.basement_sqft,
        properties.nearby_living_sqft,
        properties.nearby_lot_sqft,
        properties.bedrooms,
        properties.bathrooms,
        properties.stories,
        properties.year_built,
        properties.year_renovated,
        properties.quality_grade,
        properties.condition_code,
        properties.view_score,
        properties.is_waterfront,
        properties.latitude,
        properties.longitude,
        cast(previous_sales.previous_sale_date as date) as previous_sale_date,
        cast(previous_sales.previous_sale_price as numeric(14, 2)) as previous_sale_price,
        cast(previous_sales.previous_sale_file_key as varchar(1024)) as previous_sale_file_key,
        cast(
            case
                when previous_sales.sales_loaded_at > properties.loaded_at then previous_sales.sales_loaded_at
                else properties.loaded_at
            end as timestamp with time zone
        ) as loaded_at
    from properties
    left join previous_sales
        on properties.property_id = previous_sales.property_id

)

select * from final
