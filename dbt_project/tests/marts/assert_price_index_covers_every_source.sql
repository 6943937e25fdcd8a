{#- fct_price_index_monthly holds every index source whose input was delivered: Case-Shiller,
    ZHVI and the vendor HPI when their staging models have rows, TerraMiner's computed index when
    there are arm's-length sales (returns the missing ones). A feed that has not delivered yet is
    not required (its staging not_empty test warns instead). -#}
with

delivered_sources as (

    select 'case_shiller' as index_source
    from {{ ref('stg_fred__case_shiller_observations') }}
    having count(*) > 0
    union all
    select 'zillow_zhvi' as index_source
    from {{ ref('stg_zillow__zhvi_values') }}
    having count(*) > 0
    union all
    select 'vendor_hpi' as index_source
    from {{ ref('stg_hpi__regional_indices') }}
    having count(*) > 0
    union all
    select 'terraminer' as index_source
    from {{ ref('fct_sales') }}
    where is_arms_length
    having count(*) > 0

),

present_sources as (

    select distinct index_source
    from {{ ref('fct_price_index_monthly') }}

)

select delivered_sources.index_source
from delivered_sources
left join present_sources
    on delivered_sources.index_source = present_sources.index_source
where present_sources.index_source is null
