{#- Primary key: every key column not null and the (possibly composite) key unique.
    Returns one row per kind of violation, with the number of offending rows.
    On an incremental build (macros/test_scope/test_scope.sql) a table is checked on the rows whose key
    occurs among the rows loaded since the test last passed, against the whole table (a new row
    that repeats an old key is a duplicate too; the key lookups use its index); a view on the new
    rows among themselves (matching them against every old row would compute the whole view; the
    incremental tables it feeds hold the key unique across loads). -#}
{% test primary_key(model, columns) %}
    {%- set key_columns = [columns] if columns is string else columns -%}
    {%- set tested = test_scope_tested_node() -%}
    {%- set scope = test_scope_node_predicate(tested) if tested is not none and not config.get('where') else none -%}
    {%- set base = tested.relation_name if scope else model -%}
    {%- set new_rows_only = scope and tested.get('config', {}).get('materialized') == 'view' -%}
with

{%- if scope %}
new_keys as (
    select distinct {{ key_columns | join(', ') }}
    from {{ base }}
    where {{ scope }}
),

checked as (
    {%- if new_rows_only %}
    select *
    from {{ base }}
    where {{ scope }}
    {%- else %}
    select base.*
    from {{ base }} as base
    inner join new_keys
        on
            {%- for column in key_columns %}
            {{ 'and ' if not loop.first }}base.{{ column }} = new_keys.{{ column }}
            {%- endfor %}
    {%- endif %}
),

scoped_rows as (
    select *
    from {{ base }}
    where {{ scope }}
),
{%- endif %}

null_keys as (
    select count(*) as offending_rows
    from {{ 'scoped_rows' if scope else model }}
    where
        {%- for column in key_columns %}
        {{ 'or ' if not loop.first }}{{ column }} is null
        {%- endfor %}
),

duplicate_keys as (
    select count(*) as offending_rows
    from (
        select {{ key_columns | join(', ') }}
        from {{ 'checked' if scope else model }}
        group by {{ key_columns | join(', ') }}
        having count(*) > 1
    ) as duplicated
),

violations as (
    select 'null key' as violation, offending_rows from null_keys
    union all
    select 'duplicate key' as violation, offending_rows from duplicate_keys
)

select * from violations
where offending_rows > 0
{% endtest %}
