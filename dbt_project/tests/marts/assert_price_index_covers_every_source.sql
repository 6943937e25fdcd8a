{#- fct_price_index_monthly holds every index source it promises: Case-Shiller, ZHVI, the vendor
    HPI and TerraMiner's computed index (returns the missing ones). -#}
with

expected_sources as (

    select 'case_shiller' as index_source
    union all
    select 'zillow_zhvi'
    union all
    select 'vendor_hpi'
    union all
    select 'terraminer'

),

present_sources as (

    select distinct index_source
    from {{ ref('fct_price_index_monthly') }}

)

select expected_sources.index_source
from expected_sources
left join present_sources
    on expected_sources.index_source = present_sources.index_source
where present_sources.index_source is null
