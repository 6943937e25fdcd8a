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
{#- One row per property across every source, with its most recent known attributes:
    synthetic parcels from the latest assessor roll, King County parcels, NYC tax lots (and units)
    and UK dwellings from their latest sale. Also the last recorded transfer of each property.
    Incremental by property: synthetic properties whose latest roll row or sales the upstream
    models recomputed since this model's previous run, or whose last transfer came from a
    re-delivered file, are recomputed (delete+insert on property_id); a real feed with any change
    is recomputed whole (the pre-hook deletes it first: corrections and the UK change feed can
    remove properties). loaded_at is the newer of the roll's and the last transfer's load time. -#}
{% if is_incremental() %}
{%- set whole_sources = changed_real_sources([ref('int_sales_classified')]) %}
{% endif %}
with

{% if is_incremental() -%}
changed_sales as (

    select
        property_id,
        file_key
    from {{ ref('int_sales_classified') }}
    where source_system = 'synthetic' and {{ updated_since_previous_run() }}

),

changed_synthetic as (

    select property_id from {{ ref('int_parcels_versioned') }}
    where is_latest_roll and {{ updated_since_previous_run() }}
    union
    select property_id from changed_sales
    union
    select property_id from {{ this }}
    where last_transfer_file_key in (select changed_sales.file_key from changed_sales)

),
{% endif %}

parcels as (

    select * from {{ ref('int_parcels_versioned') }}
    where
        is_latest_roll
    {% if is_incremental() %}
        and property_id in (select changed_synthetic.property_id from changed_synthetic)
    {% endif %}

),

synthetic_sales as (

    select * from {{ ref('int_sales_classified') }}
    where
        source_system = 'synthetic'
    {% if is_incremental() %}
        and property_id in (select parcels.property_id from parcels)
    {% endif %}

),

king_county_sales as (

    select * from {{ ref('stg_king_county__sales') }}

),

nyc_sales as (

    select * from {{ ref('stg_nyc_dof__rolling_sales') }}

),

uk_transactions as (

    select * from {{ ref('stg_uk_land_registry__transactions') }}

),

uk_districts as (

    select * from {{ ref('uk_districts') }}

),

property_types as (

    select * from {{ ref('property_type_map') }}

),

synthetic_transfers as (

    select
        property_id,
        sale_date,
        sale_price,
        file_key,
        loaded_at,
        row_number() over (
            partition by property_id
            order by sale_date desc, sale_id desc
        ) as recency
    from synthetic_sales

),

synthetic_properties as (

    select
        parcels.property_id,
        'synthetic' as source_system,
        parcels.parcel_id as source_property_id,
        parcels.region_id,
        parcels.submarket_id,
        parcels.property_class as source_property_code,
        parcels.address,
        cast(null as varchar(32)) as unit_number,
        parcels.city,
        parcels.postcode,
        parcels.latitude,
        parcels.longitude,
        parcels.living_sqft,
        parcels.lot_sqft,
        parcels.bedrooms,
        parcels.bathrooms,
        parcels.stories,
        parcels.year_built,
        cast(null as smallint) as year_renovated,
        parcels.condition_code,
        parcels.quality_grade,
        cast(null as smallint) as view_score,
        cast(null as boolean) as is_waterfront,
        cast(null as integer) as above_grade_sqft,
        cast(null as integer) as basement_sqft,
        cast(null as integer) as nearby_living_sqft,
        cast(null as integer) as nearby_lot_sqft,
        cast(null as integer) as residential_units,
        cast(null as varchar(1)) as tenure_code,
        cast(null as boolean) as is_new_build,
        cast(cast(parcels.roll_year as varchar(4)) || '-01-01' as date) as attributes_as_of,
        synthetic_transfers.sale_date as last_transfer_date,
        synthetic_transfers.sale_price as last_transfer_price,
        synthetic_transfers.file_key as last_transfer_file_key,
        parcels.loaded_at as parcel_loaded_at,
        synthetic_transfers.loaded_at as transfer_loaded_at
    from parcels
    left join synthetic_transfers
        on
            parcels.property_id = synthetic_transfers.property_id
            and synthetic_transfers.recency = 1

),

king_county_latest as (

    select
        *,
        row_number() over (
            partition by parcel_id
            order by sale_date desc
        ) as recency
    from king_county_sales

),

king_county_properties as (

    select
        'kc:' || parcel_id as property_id,
        'king_county' as source_system,
        parcel_id as source_property_id,
        'SEA' as region_id,
        'SEA:' || postcode as submarket_id,
        'HOUSE' as source_property_code,
        cast(null as varchar(128)) as address,
        cast(null as varchar(32)) as unit_number,
        cast(null as varchar(64)) as city,
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
        cast(null as integer) as residential_units,
        cast(null as varchar(1)) as tenure_code,
        cast(null as boolean) as is_new_build,
        sale_date as attributes_as_of,
        sale_date as last_transfer_date,
        sale_price as last_transfer_price,
        cast(null as varchar(1024)) as last_transfer_file_key,
        cast(null as timestamp with time zone) as parcel_loaded_at,
        loaded_at as transfer_loaded_at
    from king_county_latest
    where
        recency = 1
    {% if is_incremental() %}
        and {{ in_values("'king_county'", whole_sources, "select 'none'") }}
    {% endif %}

),

nyc_latest as (

    select
        *,
        row_number() over (
            partition by property_key
            order by sale_date desc, sale_id desc
        ) as recency
    from nyc_sales

),

nyc_properties as (

    select
        'nyc:' || property_key as property_id,
        'nyc_dof' as source_system,
        property_key as source_property_id,
        'NYC' as region_id,
        'NYC:' || cast(borough_code as varchar(1)) as submarket_id,
        building_class_category_code as source_property_code,
        address,
        unit_number,
        neighbourhood as city,
        postcode,
        cast(null as numeric(9, 6)) as latitude,
        cast(null as numeric(9, 6)) as longitude,
        living_sqft,
        lot_sqft,
        cast(null as smallint) as bedrooms,
        cast(null as numeric(4, 2)) as bathrooms,
        cast(null as numeric(3, 1)) as stories,
        year_built,
        cast(null as smallint) as year_renovated,
        cast(null as smallint) as condition_code,
        cast(null as smallint) as quality_grade,
        cast(null as smallint) as view_score,
        cast(null as boolean) as is_waterfront,
        cast(null as integer) as above_grade_sqft,
        cast(null as integer) as basement_sqft,
        cast(null as integer) as nearby_living_sqft,
        cast(null as integer) as nearby_lot_sqft,
        residential_units,
        cast(null as varchar(1)) as tenure_code,
        cast(null as boolean) as is_new_build,
        sale_date as attributes_as_of,
        sale_date as last_transfer_date,
        sale_price as last_transfer_price,
        cast(null as varchar(1024)) as last_transfer_file_key,
        cast(null as timestamp with time zone) as parcel_loaded_at,
        loaded_at as transfer_loaded_at
    from nyc_latest
    where
        recency = 1
    {% if is_incremental() %}
        and {{ in_values("'nyc_dof'", whole_sources, "select 'none'") }}
    {% endif %}

),

uk_latest as (

    select
        uk_transactions.*,
        uk_districts.region_id,
        row_number() over (
            partition by uk_transactions.property_key
            order by uk_transactions.sale_date desc, uk_transactions.sale_id desc
        ) as recency
    from uk_transactions
    inner join uk_districts
        on uk_transactions.district = uk_districts.district

),

uk_properties as (

    select
        'uk:' || property_key as property_id,
        'uk_land_registry' as source_system,
        property_key as source_property_id,
        region_id,
        region_id || ':' || replace(town, ' ', '_') as submarket_id,
        property_type_code as source_property_code,
        address,
        saon as unit_number,
        town as city,
        postcode,
        cast(null as numeric(9, 6)) as latitude,
        cast(null as numeric(9, 6)) as longitude,
        cast(null as integer) as living_sqft,
        cast(null as integer) as lot_sqft,
        cast(null as smallint) as bedrooms,
        cast(null as numeric(4, 2)) as bathrooms,
        cast(null as numeric(3, 1)) as stories,
        cast(null as smallint) as year_built,
        cast(null as smallint) as year_renovated,
        cast(null as smallint) as condition_code,
        cast(null as smallint) as quality_grade,
        cast(null as smallint) as view_score,
        cast(null as boolean) as is_waterfront,
        cast(null as integer) as above_grade_sqft,
        cast(null as integer) as basement_sqft,
        cast(null as integer) as nearby_living_sqft,
        cast(null as integer) as nearby_lot_sqft,
        cast(null as integer) as residential_units,
        tenure_code,
        is_new_build,
        sale_date as attributes_as_of,
        sale_date as last_transfer_date,
        sale_price as last_transfer_price,
        cast(null as varchar(1024)) as last_transfer_file_key,
        cast(null as timestamp with time zone) as parcel_loaded_at,
        loaded_at as transfer_loaded_at
    from uk_latest
    where
        recency = 1
    {% if is_incremental() %}
        and {{ in_values("'uk_land_registry'", whole_sources, "select 'none'") }}
    {% endif %}

),

unioned as (

    select * from synthetic_properties
    union all
    select * from king_county_properties
    union all
    select * from nyc_properties
    union all
    select * from uk_properties

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
        cast(
            case
                when unioned.parcel_loaded_at is null then unioned.transfer_loaded_at
                when unioned.transfer_loaded_at > unioned.parcel_loaded_at then unioned.transfer_loaded_at
                else unioned.parcel_loaded_at
            end as timestamp with time zone
        ) as loaded_at,
        {{ updated_at_now() }} as dbt_updated_at
    from unioned
    left join property_types
        on
            unioned.source_system = property_types.source_system
            and unioned.source_property_code = property_types.source_code

)

select * from final
