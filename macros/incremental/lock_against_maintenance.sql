{#- A merge that cannot deadlock with autovacuum.

    An incremental model or a snapshot changes an existing table inside one transaction: the merge,
    then dbt's grants (a GRANT / REVOKE rewrites the table's pg_class row), its comments
    (persist_docs: `comment on` takes SHARE UPDATE EXCLUSIVE) and the post-hook's `analyze`. An
    autovacuum ANALYZE that started on the table in the meantime holds SHARE UPDATE EXCLUSIVE and,
    at its end, waits for the transaction that rewrote the pg_class row (PostgreSQL 17.1+ makes
    in-place catalog updates wait for it): the build waits for autovacuum, autovacuum for the build,
    and PostgreSQL kills the build with "deadlock detected". Project-wide pre-hook (inside the
    model's transaction, before the merge): take SHARE UPDATE EXCLUSIVE on the table first. Readers
    and writers are not blocked (it conflicts only with vacuum, analyze, index builds and DDL);
    autovacuum skips a table it cannot lock, and one already running is cancelled by PostgreSQL
    once it blocks the build. Tables and views are rebuilt under a new name: nothing to do.
    Redshift: no autovacuum locks of this kind; nothing. -#}
{% macro lock_against_maintenance() -%}
    {%- if not execute or model.resource_type not in ['model', 'snapshot']
        or config.get('materialized') not in ['incremental', 'snapshot'] -%}
        {{ return('') }}
    {%- endif -%}
    {{ return(adapter.dispatch('lock_against_maintenance')(this)) }}
{%- endmacro %}

{% macro default__lock_against_maintenance(relation) -%}
{%- endmacro %}

{% macro postgres__lock_against_maintenance(relation) -%}
    {%- set name = relation.include(database=false) | string -%}
    do $lock_against_maintenance$
    begin
        if exists (select from pg_class
                   where oid = to_regclass({{ string_literal(name) }}) and relkind in ('r', 'p')) then
            lock table {{ name }} in share update exclusive mode;
        end if;
    end
    $lock_against_maintenance$
{%- endmacro %}
