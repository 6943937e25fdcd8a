{{ config(materialized='view', meta={'test_scope_column': 'loaded_at'}) }}
{#- The sales of every market added the short way (README "Add a market": a contract, ONE staging
    model stg_<market>__sales listing only the canonical columns its feed has, a row in
    seeds/regions.csv): typed, columns the feed lacks as typed nulls (read from the staging
    relation at run time, macros/markets/markets.sql), areas converted from the region's unit,
    ids prefixed with the market. int_sales_unioned takes the canonical sale columns from here,
    int_properties_unioned the latest sale of each property, int_submarkets_unioned the
    submarkets. A view (no window, no aggregate) so fct_sales' loaded_at filter is pushed down. -#}
{%- set regions = ref('regions') -%}
{%- set feeds = [] -%}
{%- for market in feed_markets() -%}
{%- do feeds.append([market, ref('stg_' ~ market ~ '__sales')]) -%}
{%- endfor -%}
{%- if feeds | length == 0 %}
{%- set nulls = [] -%}
{%- for name, type in feed_sale_columns() -%}
{%- do nulls.append('cast(null as ' ~ type ~ ') as ' ~ name) -%}
{%- endfor %}
select
    cast(null as varchar(64)) as sale_id,
    cast(null as varchar(40)) as source_sale_id,
    cast(null as varchar(32)) as source_system,
    cast(null as varchar(64)) as property_id,
    cast(null as varchar(48)) as source_property_id,
    cast(null as varchar(8)) as region_id,
    cast(null as varchar(64)) as submarket_id,
    cast(null as varchar(48)) as submarket_code,
    cast(null as numeric(14, 2)) as sale_price,
    cast(null as date) as sale_date,
    cast(null as varchar(1024)) as file_key,
    cast(null as timestamp with time zone) as loaded_at,
    {{ nulls | join(',\n    ') }}
where 1 = 0
{%- else %}
{%- for market, relation in feeds %}
{{ feed_market_sales(market, relation, regions) }}
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
{%- endif %}
