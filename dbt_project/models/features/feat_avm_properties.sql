{#- AVM scoring rows: one row per residential property with its current attributes and the
    same market features as feat_avm_sales, as of its valuation date: the day after the newest
    sale of its source (the data's own "today"; every sale of the source is then known). Column
    names match feat_avm_sales so one model scores both; ages count to the valuation year.
    A view: every row's market features move with the valuation date each day, so the rows are
    assembled when read (batch scoring reads them once a day) from the property side
    (int_property_features, incremental) and the market side (int_market_features_current, a
    few hundred rows). -#}
{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}

with

properties as (

    select * from {{ ref('int_property_features') }}

),

markets as (

    select * from {{ ref('int_market_features_current') }}

),

final as (

    select
        cast(properties.property_id as varchar(64)) as property_id,
        cast(properties.source_system as varchar(32)) as source_system,
        cast(properties.region_id as varchar(8)) as region_id,
        cast(properties.submarket_id as varchar(64)) as neighborhood_id,
        cast(properties.property_type as varchar(32)) as property_type,
        cast(region_totals.valuation_date as date) as valuation_date,
        {{ avm_feature_columns('properties', 'region_totals.valuation_date', previous_sales='properties',
                               market_context='region_totals') }},
        properties.loaded_at
    from properties
    inner join markets as region_totals
        on
            region_totals.group_kind = 'region'
            and properties.region_id = region_totals.group_id
    left join markets as neighborhood_totals
        on
            neighborhood_totals.group_kind = 'neighborhood'
            and properties.submarket_id = neighborhood_totals.group_id

)

select * from final
