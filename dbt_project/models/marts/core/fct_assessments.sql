{#- One row per synthetic parcel and assessor roll year: land, improvement and total assessed
    values, the change from the parcel's previous roll, and value per sqft. Incremental by
    region: a region with a parcel row int_parcels_versioned changed since this model's previous
    run is recomputed whole (the pre-hook deletes it). -#}
{{
    config(
        materialized='incremental',
        on_schema_change='append_new_columns',
        incremental_strategy='append',
        pre_hook=["{{ delete_partitions('region_id', 'changed_regions', 'changed_regions_query', ref('int_parcels_versioned')) }}"],
        meta={'test_scope_column': 'loaded_at'},
        **platform_config(indexes=[
            {'columns': ['region_id']},
            {'columns': ['loaded_at']},
        ]),
    )
}}
with

parcels as (

    select * from {{ ref('int_parcels_versioned') }}
    {%- if is_incremental() %}
    where {{ in_values('region_id', changed_regions(ref('int_parcels_versioned')), changed_regions_query(ref('int_parcels_versioned'))) }}
    {%- endif %}

),

with_previous as (

    select
        *,
        lag(assessed_value) over (
            partition by property_id
            order by roll_year
        ) as previous_assessed_value
    from parcels

),

final as (

    select
        cast(property_id as varchar(64)) as property_id,
        cast(roll_year as smallint) as roll_year,
        cast(parcel_id as varchar(20)) as parcel_id,
        cast(region_id as varchar(8)) as region_id,
        cast(submarket_id as varchar(64)) as submarket_id,
        cast(property_type as varchar(32)) as property_type,
        cast('USD' as varchar(3)) as currency_code,
        cast(land_value as numeric(14, 2)) as land_value,
        cast(improvement_value as numeric(14, 2)) as improvement_value,
        cast(assessed_value as numeric(14, 2)) as assessed_value,
        cast(previous_assessed_value as numeric(14, 2)) as previous_assessed_value,
        cast(
            {{ safe_divide('assessed_value - previous_assessed_value', 'previous_assessed_value') }}
            as numeric(10, 6)
        ) as assessed_value_change_pct,
        cast({{ safe_divide('assessed_value', 'living_sqft') }} as numeric(14, 2)) as assessed_value_per_sqft,
        cast(living_sqft as integer) as living_sqft,
        cast(lot_sqft as integer) as lot_sqft,
        cast(is_latest_roll as boolean) as is_latest_roll,
        cast(cast(roll_year as varchar(4)) || '-01-01' as date) as roll_date,
        cast(loaded_at as timestamp with time zone) as loaded_at,
        {{ updated_at_now() }} as dbt_updated_at
    from with_previous

)

select * from final
