{% snapshot snap_properties %}
{#- SCD2 history of property attributes: a new version whenever an attribute that describes the
    dwelling or its location changes (check strategy on those columns).
    Incremental like its source: once the snapshot exists, it compares only the properties whose
    dim_properties row was recomputed since the snapshot's previous run (dbt_updated_at) with their
    current versions (macros/overrides/snapshot_staging.sql), not a million unchanged rows. Properties
    that left dim_properties (the real feeds: a corrected file or the UK change feed can remove
    one; synthetic parcels stay) are closed by the post-hook, which is what hard_deletes would do
    on a full comparison. -#}
{{
    config(
        unique_key='property_id',
        strategy='check',
        check_cols=[
            'address', 'postcode', 'property_type', 'living_sqft', 'lot_sqft', 'bedrooms',
            'bathrooms', 'stories', 'year_built', 'year_renovated', 'condition_code',
            'quality_grade',
        ],
        hard_deletes='ignore',
        post_hook=[
            "
                {#- close the current version of real-feed properties no longer in dim_properties -#}
                update {{ this }}
                set dbt_valid_to = {{ snapshot_get_time() }}
                where
                    dbt_valid_to is null
                    and source_system != 'synthetic'
                    and not exists (
                        select 1
                        from {{ ref('dim_properties') }} as current_properties
                        where current_properties.property_id = {{ this.identifier }}.property_id
                    )
            ",
            "{{ 'create index if not exists snap_properties_current_idx on ' ~ this ~ ' (property_id, dbt_valid_to)' if target.type == 'postgres' else '' }}",
            "{{ 'create index if not exists snap_properties_loaded_idx on ' ~ this ~ ' (loaded_at)' if target.type == 'postgres' else '' }}",
            "{{ 'create index if not exists snap_properties_scd_idx on ' ~ this ~ ' (dbt_scd_id)' if target.type == 'postgres' else '' }}",
            "
                {#- the current versions of real-feed properties: the rows the first hook checks -#}
                {%- if target.type == 'postgres' -%}
                create index if not exists snap_properties_real_current_idx on {{ this }} (property_id)
                where dbt_valid_to is null and source_system != 'synthetic'
                {%- endif -%}
            ",
        ],
        meta={'test_scope_column': 'loaded_at'},
    )
}}
{%- set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier)
    if execute and not var('offline_compile', false) else none %}

select
    property_id,
    region_id,
    submarket_id,
    source_system,
    property_type,
    address,
    postcode,
    living_sqft,
    lot_sqft,
    bedrooms,
    bathrooms,
    stories,
    year_built,
    year_renovated,
    condition_code,
    quality_grade,
    attributes_as_of,
    loaded_at
from {{ ref('dim_properties') }}
{%- if existing is not none %}
where {{ updated_since_previous_run() }}
{%- endif %}

{% endsnapshot %}
