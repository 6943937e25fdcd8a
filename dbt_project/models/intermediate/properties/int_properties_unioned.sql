{{
    config(
        materialized='incremental',
        unique_key='property_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook=["{{ delete_real_sources([ref('int_sales_classified')]) }}"],
        meta={'test_scope_column': 'loaded_at'},
        **platform_config(
            indexes=[
                {'columns': ['property_id'], 'unique': true},
                {'columns': ['loaded_at']},
                {'columns': ['dbt_updated_at']},
                {'columns': ['last_transfer_file_key']},
            ],
            dist='property_id',
            sort=['property_id'],
        )
    )
}}
{#- One row per property across every source, with its most recent known attributes and its last
    recorded transfer: one model per source (int_<source>__properties: synthetic parcels from the
    latest assessor roll, King County parcels, NYC tax lots (and units) and UK dwellings from their
    latest sale), unioned, typed and classified (property_type_map) here.
    Incremental by property (delete+insert on property_id): the synthetic properties
    int_assessor__properties recomputed since this model's previous run; a real feed with any
    change is recomputed whole (the pre-hook deletes it first: corrections and the UK change feed
    can remove properties). The real markets come from var('markets') (macros/markets/markets.sql);
    those added with one staging model get their properties from int_market_feeds__sales. -#}
{%- set columns = [
    'property_id', 'source_system', 'source_property_id', 'region_id', 'submarket_id',
    'source_property_code', 'address', 'unit_number', 'city', 'postcode', 'latitude', 'longitude',
    'living_sqft', 'lot_sqft', 'bedrooms', 'bathrooms', 'stories', 'year_built', 'year_renovated',
    'condition_code', 'quality_grade', 'view_score', 'is_waterfront', 'above_grade_sqft',
    'basement_sqft', 'nearby_living_sqft', 'nearby_lot_sqft', 'residential_units', 'tenure_code',
    'is_new_build', 'attributes_as_of', 'last_transfer_date', 'last_transfer_price',
    'last_transfer_file_key', 'loaded_at',
] %}
{% if is_incremental() %}
{%- set whole_sources = changed_real_sources([ref('int_sales_classified')]) %}
{% endif %}
{#- each market's int_<market>__properties (var('markets'), macros/markets/markets.sql), ref()'d here -#}
{%- set market_properties = [] -%}
{%- for market in markets() if market not in feed_markets() -%}
{%- do market_properties.append([market, ref('int_' ~ market ~ '__properties')]) -%}
{%- endfor -%}
{#- the markets added with one staging model (feed_markets()): each property's latest sale in
    int_market_feeds__sales (its attributes as of that sale, as the UK model does), recomputed
    whole per market like the other real feeds -#}
{%- set feeds = feed_markets() | length > 0 -%}
with
{% if feeds %}
feed_sales_ranked as (

    select
        feed_sales.*,
        row_number() over (
            partition by feed_sales.property_id
            order by feed_sales.sale_date desc, feed_sales.sale_id desc
        ) as recency
    from {{ ref('int_market_feeds__sales') }} as feed_sales
    {%- if is_incremental() %}
    where {{ in_values('feed_sales.source_system', whole_sources, "select 'none'") }}
    {%- endif %}

),

feed_properties as (

    select
        property_id,
        source_system,
        source_property_id,
        region_id,
        submarket_id,
        source_property_code,
        address,
        unit_number,
        city,
        postcode,
        latitude,
        longitude,
        living_sqft,
        lot_sqft,
        bedrooms,
        bathrooms,
        stories,
        year_built,
        year_renovated,
        condition_code,
        quality_grade,
        view_score,
        is_waterfront,
        above_grade_sqft,
        basement_sqft,
        nearby_living_sqft,
        nearby_lot_sqft,
        residential_units,
        tenure_code,
        is_new_build,
        sale_date as attributes_as_of,
        sale_date as last_transfer_date,
        sale_price as last_transfer_price,
        file_key as last_transfer_file_key,
        loaded_at
    from feed_sales_ranked
    where recency = 1

),
{% endif %}
synthetic as (

    select
        {{ columns | join(',\n        ') }}
    from {{ ref('int_assessor__properties') }}
    {%- if is_incremental() %}
    where {{ updated_since_previous_run() }}
    {%- endif %}

),

property_types as (

    select * from {{ ref('property_type_map') }}

),

unioned as (

    select * from synthetic
    union all
    {{ union_markets(market_properties, columns, is_incremental(), whole_sources if is_incremental() else none) }}
    {%- if feeds %}
    union all
    select * from feed_properties
    {%- endif %}

),

final as (

    select
        cast(unioned.property_id as varchar(64)) as property_id,
        cast(unioned.source_system as varchar(32)) as source_system,
        cast(unioned.source_property_id as varchar(48)) as source_property_id,
        cast(unioned.region_id as varchar(8)) as region_id,
        cast(unioned.submarket_id as varchar(64)) as submarket_id,
        cast(unioned.source_property_code as varchar(8)) as source_property_code,
        cast(coalesce(property_types.property_type, 'other') as varchar(32)) as property_type,
        cast(coalesce(property_types.property_subtype, 'other') as varchar(32)) as property_subtype,
        coalesce(property_types.is_residential, false) as is_residential,
        cast(unioned.address as varchar(320)) as address,
        cast(unioned.unit_number as varchar(100)) as unit_number,
        cast(unioned.city as varchar(100)) as city,
        cast(unioned.postcode as varchar(8)) as postcode,
        cast(unioned.latitude as numeric(9, 6)) as latitude,
        cast(unioned.longitude as numeric(9, 6)) as longitude,
        cast(unioned.living_sqft as integer) as living_sqft,
        cast(unioned.lot_sqft as integer) as lot_sqft,
        cast(unioned.bedrooms as smallint) as bedrooms,
        cast(unioned.bathrooms as numeric(4, 2)) as bathrooms,
        cast(unioned.stories as numeric(3, 1)) as stories,
        cast(unioned.year_built as smallint) as year_built,
        cast(unioned.year_renovated as smallint) as year_renovated,
        cast(unioned.condition_code as smallint) as condition_code,
        cast(unioned.quality_grade as smallint) as quality_grade,
        cast(unioned.view_score as smallint) as view_score,
        cast(unioned.above_grade_sqft as integer) as above_grade_sqft,
        cast(unioned.basement_sqft as integer) as basement_sqft,
        cast(unioned.nearby_living_sqft as integer) as nearby_living_sqft,
        cast(unioned.nearby_lot_sqft as integer) as nearby_lot_sqft,
        cast(unioned.residential_units as integer) as residential_units,
        cast(unioned.tenure_code as varchar(1)) as tenure_code,
        cast(unioned.last_transfer_price as numeric(14, 2)) as last_transfer_price,
        unioned.is_waterfront,
        unioned.is_new_build,
        cast(unioned.attributes_as_of as date) as attributes_as_of,
        cast(unioned.last_transfer_date as date) as last_transfer_date,
        cast(unioned.last_transfer_file_key as varchar(1024)) as last_transfer_file_key,
        cast(unioned.loaded_at as timestamp with time zone) as loaded_at,
        {{ updated_at_now() }} as dbt_updated_at
    from unioned
    left join property_types
        on
            {{ property_type_system('unioned.source_system') }} = property_types.source_system
            and unioned.source_property_code = property_types.source_code

)

select * from final
