{{
    config(
        materialized='incremental',
        unique_key='property_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
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
{#- Synthetic parcels as properties in the canonical shape (int_properties_unioned): the
    attributes of the latest assessor roll and the parcel's last recorded transfer (the latest
    synthetic deed). loaded_at is the newer of the roll's and the last transfer's load time.
    Incremental by property: properties whose latest roll row or sales the upstream models
    recomputed since this model's previous run, or whose last transfer came from a re-delivered
    file, are recomputed (delete+insert on property_id); int_properties_unioned then takes the rows
    recomputed since its own previous run (dbt_updated_at). -#}
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

final as (

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
        case
            when parcels.loaded_at is null then synthetic_transfers.loaded_at
            when synthetic_transfers.loaded_at > parcels.loaded_at then synthetic_transfers.loaded_at
            else parcels.loaded_at
        end as loaded_at,
        {{ updated_at_now() }} as dbt_updated_at
    from parcels
    left join synthetic_transfers
        on
            parcels.property_id = synthetic_transfers.property_id
            and synthetic_transfers.recency = 1

)

select * from final
