{% snapshot snap_properties %}
{#- SCD2 history of property attributes: a new version whenever an attribute that describes the
    dwelling or its location changes (check strategy; dim_properties has no reliable updated-at).
    Properties that disappear from dim_properties are closed (hard deletes invalidated). -#}
{{
    config(
        unique_key='property_id',
        strategy='check',
        check_cols=[
            'address', 'postcode', 'property_type', 'living_sqft', 'lot_sqft', 'bedrooms',
            'bathrooms', 'stories', 'year_built', 'year_renovated', 'condition_code',
            'quality_grade',
        ],
        hard_deletes='invalidate',
    )
}}

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
    attributes_as_of
from {{ ref('dim_properties') }}

{% endsnapshot %}
