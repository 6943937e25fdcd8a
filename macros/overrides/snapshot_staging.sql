{#- Snapshot staging that reads only the snapshot rows the source query can change.

    dbt's snapshot staging query compares the source query with every current snapshot row
    (`snapshotted_data`: a million rows for snap_properties), although with hard_deletes = 'ignore'
    only rows whose key the source query returns can be inserted or updated: the insert and update
    sets join the source rows to the current rows on the unique key. So, for a single-column key and
    hard_deletes 'ignore', this passes dbt's own staging macro the current rows restricted to the
    source query's keys (an index lookup per changed property instead of a full scan); every other
    case (invalidate, new_record, composite keys) is dbt's macro unchanged. Dispatched for Postgres
    and, through it, Redshift. -#}
{% macro postgres__snapshot_staging_table(strategy, source_sql, target_relation) -%}
    {%- if strategy.hard_deletes in [none, 'ignore'] and strategy.unique_key is string -%}
        {%- set key = strategy.unique_key -%}
        {%- set current_rows_of_source_keys -%}
            (
                select * from {{ target_relation }}
                where {{ key }} in (select snapshot_keys.{{ key }} from ({{ source_sql }}) as snapshot_keys)
            ) as snapshot_rows
        {%- endset -%}
        {{ return(dbt.default__snapshot_staging_table(strategy, source_sql, current_rows_of_source_keys)) }}
    {%- endif -%}
    {{ return(dbt.default__snapshot_staging_table(strategy, source_sql, target_relation)) }}
{%- endmacro %}
