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
