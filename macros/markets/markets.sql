{#- The real markets (source systems) besides the synthetic one, from var('markets') in
    dbt_project.yml: each names its models int_<market>__sales and int_<market>__properties (the
    canonical sales / property columns), which int_sales_unioned and int_properties_unioned union
    here, so adding a market edits no union. refs must be known when dbt parses the project (the
    graph is not built yet then), hence a var, not a query of the regions seed; the singular test
    markets_match_the_regions_seed keeps the two in step. -#}
{% macro markets() -%}
    {{ return(var('markets', [])) }}
{%- endmacro %}

{#- `select <columns> from <relation>` for every market's relation, joined by union all. The model
    passes the relations (`market_relations('sales')` is built in the model from ref()s, so the
    lineage shows each edge; no macro calls ref(): macros/README.md). With `only_recomputed` (an
    incremental run), a market's rows are selected only when it is in `recomputed`
    (changed_real_sources: none = ask the database).
        relations  list of [market, relation] pairs -#}
{% macro union_markets(relations, columns=none, only_recomputed=false, recomputed=none) -%}
    {%- set parts = [] -%}
    {%- for market, relation in relations -%}
        {%- set select_list = columns | join(',\n        ') if columns else '*' -%}
        {%- set part -%}
select
        {{ select_list }}
    from {{ relation }}
    {%- if only_recomputed %}
    where {{ in_values("'" ~ market ~ "'", recomputed, "select 'none'") }}
    {%- endif %}
        {%- endset -%}
        {%- do parts.append(part) -%}
    {%- endfor -%}
    {{ return(parts | join('\n    union all\n    ')) }}
{%- endmacro %}

{#- The markets added the short way (README "Add a market"): every market of var('markets')
    except the three that predate it and keep their own int_<market>__sales / __properties
    models (var('markets_with_own_models')). Such a market has ONE staging model,
    stg_<market>__sales, in the canonical sale columns (only those its feed has); the shared view
    int_market_feeds__sales types it (missing columns become typed nulls, areas are converted
    from its region's unit), int_properties_unioned derives its properties (latest sale per
    property) and int_submarkets_unioned its submarkets. -#}
{% macro feed_markets() -%}
    {%- set own = var('markets_with_own_models', []) -%}
    {{ return(markets() | reject('in', own) | list) }}
{%- endmacro %}

{#- The property_type_map system of a sale's source_system: the feed markets share the generic
    codes of 'market_feed' (SFR, CND, TWN, MFR, ...; RES, residential of no known type, when the
    feed has no source_property_code). -#}
{% macro property_type_system(column) -%}
    {%- set feeds = feed_markets() -%}
    {%- if feeds | length == 0 -%}
        {{ return(column) }}
    {%- endif -%}
    {{ return("case when " ~ column ~ " in ('" ~ feeds | join("', '") ~ "') then 'market_feed' else " ~ column ~ " end") }}
{%- endmacro %}

{#- [name, type] of the canonical sale columns a feed market's staging model may list (those of
    int_sales_unioned, plus the property columns int_properties_unioned and the submarket name
    int_submarkets_unioned take from its sales). Areas come as <x>_area in the region's unit
    (regions.area_unit, sqft or sqm) or as <x>_sqft. -#}
{% macro feed_sale_columns() -%}
    {{ return([
        ['source_property_code', 'varchar(8)'], ['transfer_code', 'varchar(8)'], ['postcode', 'varchar(8)'],
        ['reference_assessed_value', 'numeric(14, 2)'], ['assessed_value', 'numeric(14, 2)'],
        ['assessed_roll_year', 'smallint'],
        ['living_sqft', 'integer'], ['lot_sqft', 'integer'], ['above_grade_sqft', 'integer'],
        ['basement_sqft', 'integer'], ['nearby_living_sqft', 'integer'], ['nearby_lot_sqft', 'integer'],
        ['bedrooms', 'smallint'], ['bathrooms', 'numeric(4, 2)'], ['stories', 'numeric(3, 1)'],
        ['year_built', 'smallint'], ['year_renovated', 'smallint'], ['condition_code', 'smallint'],
        ['quality_grade', 'smallint'], ['view_score', 'smallint'],
        ['latitude', 'numeric(9, 6)'], ['longitude', 'numeric(9, 6)'],
        ['is_related_party', 'boolean'], ['is_waterfront', 'boolean'], ['is_new_build', 'boolean'],
        ['recording_date', 'date'],
        ['address', 'varchar(320)'], ['unit_number', 'varchar(100)'], ['city', 'varchar(100)'],
        ['residential_units', 'integer'], ['tenure_code', 'varchar(1)'],
        ['submarket_name', 'varchar(100)'],
    ]) }}
{%- endmacro %}

{#- The lower-cased column names of a feed market's staging relation: read from the database when
    it can be asked (the staging view is built before the models that read it), else (offline
    compile) the columns documented for the model, else the aliases of its select list. -#}
{% macro feed_columns(relation) -%}
    {%- if can_query_now() -%}
        {%- set found = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
        {%- if found | length > 0 -%}
            {{ return(found) }}
        {%- endif -%}
    {%- endif -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ relation.identifier) if execute else none -%}
    {%- if node is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- if node.columns | length > 0 -%}
        {{ return(node.columns.keys() | map('lower') | list) }}
    {%- endif -%}
    {#- undocumented: the aliases its select list ends lines with (`... as living_area,`) -#}
    {{ return(modules.re.findall('(?im)\\bas\\s+(\\w+)\\s*,?\\s*$', node.raw_code) | map('lower') | list) }}
{%- endmacro %}

{#- `select` of one feed market's staging relation in the canonical sale columns (+ the property
    and submarket columns of feed_sale_columns, source_property_id and submarket_code). Required:
    source_sale_id, source_property_id, sale_price, sale_date, file_key, loaded_at. region_id is
    optional when the market has one row in the regions seed. Ids get the '<market>:' prefix.
        market   the source_system (a name of var('markets'))
        relation its stg_<market>__sales; regions: the regions seed -#}
{% macro feed_market_sales(market, relation, regions) -%}
    {%- set present = feed_columns(relation) -%}
    {%- set region = 'feed.region_id' if 'region_id' in present else 'market_region.region_id' -%}
    {%- set code_parts = [] -%}
    {%- for name in ['submarket_code', 'postcode'] if name in present -%}
        {%- do code_parts.append('feed.' ~ name) -%}
    {%- endfor -%}
    {%- set code = ('coalesce(' ~ code_parts | join(', ') ~ ')') if code_parts | length > 1
        else (code_parts[0] if code_parts else 'cast(null as varchar(8))') -%}
    {%- set code = "replace(trim(cast(" ~ code ~ " as varchar(48))), ' ', '_')" -%}
    select
        cast('{{ market }}:' || cast(feed.source_sale_id as varchar(40)) as varchar(64)) as sale_id,
        cast(feed.source_sale_id as varchar(40)) as source_sale_id,
        cast('{{ market }}' as varchar(32)) as source_system,
        cast('{{ market }}:' || cast(feed.source_property_id as varchar(48)) as varchar(64)) as property_id,
        cast(feed.source_property_id as varchar(48)) as source_property_id,
        cast({{ region }} as varchar(8)) as region_id,
        cast({{ region }} || ':' || {{ code }} as varchar(64)) as submarket_id,
        cast({{ code }} as varchar(48)) as submarket_code,
        cast(feed.sale_price as numeric(14, 2)) as sale_price,
        cast(feed.sale_date as date) as sale_date,
        cast(feed.file_key as varchar(1024)) as file_key,
        cast(feed.loaded_at as timestamp with time zone) as loaded_at
    {%- for name, type in feed_sale_columns() %}
        {%- set area = name[:-5] ~ '_area' if name.endswith('_sqft') else none %}
        {%- if area and area in present %},
        cast(round(feed.{{ area }} * case when region.area_unit = 'sqm' then 10.7639104 else 1 end) as {{ type }}) as {{ name }}
        {%- elif name in present %},
        cast(feed.{{ name }} as {{ type }}) as {{ name }}
        {%- elif name == 'source_property_code' %},
        cast('RES' as {{ type }}) as {{ name }}
        {%- elif name == 'is_related_party' %},
        false as {{ name }}
        {%- else %},
        cast(null as {{ type }}) as {{ name }}
        {%- endif %}
    {%- endfor %}
    from {{ relation }} as feed
    {%- if 'region_id' not in present %}
    left join (
        select min(region_id) as region_id from {{ regions }} where source_system = '{{ market }}'
    ) as market_region
        on 1 = 1
    {%- endif %}
    left join {{ regions }} as region
        on {{ region }} = region.region_id
{%- endmacro %}
