{#- Planner statistics refreshed where a model just changed a large share of its table.

    A build plans each model on the statistics of the tables it reads. A table rebuilt moments
    before in the same run (never analyzed: reltuples = -1) or an incremental model that just grew
    by a large share looks to the planner like the old table until autovacuum gets to it, and a
    join planned for a few rows can run for many minutes on the new size (issue 19: NYC + UK added
    to the demo warehouse, feat_avm_sales planned on the old fct_sales). Project-wide post-hook of
    tables, incremental models and snapshots: `analyze` the model's table when it is bigger than
    `statistics_min_pages` pages and was never analyzed or grew by more than `share` of its pages
    since its statistics were taken (autovacuum's own analyze threshold is 10% of the rows, applied
    only later). A catalog lookup when nothing changed much; the sample analyze otherwise.
    Redshift: `analyze`, which skips tables changed by less than analyze_threshold_percent. -#}
{% macro refresh_statistics(share=0.1) -%}
    {%- if not execute or model.resource_type not in ['model', 'snapshot']
        or config.get('materialized') not in ['table', 'incremental', 'snapshot'] -%}
        {{ return('') }}
    {%- endif -%}
    {{ return(adapter.dispatch('refresh_statistics')(this, share)) }}
{%- endmacro %}

{% macro default__refresh_statistics(relation, share) -%}
{%- endmacro %}

{% macro postgres__refresh_statistics(relation, share) -%}
    {%- set name = relation.include(database=false) -%}
    do $refresh_statistics$
    begin
        if exists (
            select 1
            from pg_class
            where oid = '{{ name }}'::regclass
                and pg_relation_size(oid) / current_setting('block_size')::bigint >= {{ var('statistics_min_pages', 128) }}
                and (
                    reltuples < 0
                    or pg_relation_size(oid) / current_setting('block_size')::bigint > relpages * {{ 1 + share }}
                )
        ) then
            analyze {{ name }};
        end if;
    end
    $refresh_statistics$
{%- endmacro %}

{% macro redshift__refresh_statistics(relation, share) -%}
    analyze {{ relation }}
{%- endmacro %}
