{#- The markets the unions read (var('markets'), macros/markets/markets.sql) and the real
    source_systems of the regions seed are the same set: a seed row whose market has no models in
    the union (or a listed market without a region) fails here, before any sale goes missing. -#}
with

seeded as (

    select distinct cast(source_system as varchar(32)) as source_system
    from {{ ref('regions') }}
    where source_system != 'synthetic'

),

listed as (

    {%- for market in markets() %}
    select cast('{{ market }}' as varchar(32)) as source_system
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select cast(null as varchar(32)) as source_system
    where 1 = 0
    {%- endfor %}

)

select
    coalesce(seeded.source_system, listed.source_system) as source_system,
    case
        when listed.source_system is null then 'in seeds/regions.csv, missing from var markets'
        else 'in var markets, missing from seeds/regions.csv'
    end as problem
from seeded
full outer join listed
    on seeded.source_system = listed.source_system
where
    seeded.source_system is null
    or listed.source_system is null
